"""SpecInvalid and UnmanagedServer, the chain that runs every check, the exit-code rule, and the drift start read
from the event log."""

from __future__ import annotations

from datetime import timedelta

import pytest

from reconciler.core.drift import (
    DEFAULT_CHAIN,
    EXIT_BY_SEVERITY,
    DriftInput,
    Finding,
    Reason,
    Severity,
    drift_began,
    evaluate,
    exit_code,
)
from reconciler.core.drift.specs import spec_invalid, unmanaged_server
from reconciler.core.events import Event, EventKind
from reconciler.core.procedure import Phase
from tests.drift.builders import NOW, OLD, check_findings, given, ports, record, seen

E, W, INFO = Severity.ERROR, Severity.WARNING, Severity.INFO
PROBLEM = "specs/east.yaml:14:7: spec.rollout.clients.minAckRatio: must be between 0 and 1, got 1.5"

SPEC_CASES = [
    pytest.param(spec_invalid, given(), [], (), id="invalid:none"),
    pytest.param(
        spec_invalid,
        given(spec_problems=(PROBLEM, "specs/east.yaml:20:5: spec.certificate.file: cannot read east.pem")),
        [(Reason.SPEC_INVALID, E), (Reason.SPEC_INVALID, E)],
        (PROBLEM, "cannot read east.pem — fix it; sepm-reconciler validate lists every problem"),
        id="invalid:each-located-problem",
    ),
    pytest.param(
        spec_invalid,
        given(spec=None, seen=None, specs_invalid=True),
        [(Reason.SPEC_INVALID, E)],
        ("sepm-east is in the state but not among the valid specs, and the specs have errors",),
        id="invalid:missing-while-specs-broken",
    ),
    pytest.param(unmanaged_server, given(), [], (), id="unmanaged:managed"),
    pytest.param(
        unmanaged_server,
        given(spec=None, seen=None, specs_invalid=True),
        [],
        (),
        id="unmanaged:maybe-invalid",
    ),
    pytest.param(
        unmanaged_server,
        given(spec=None),
        [(Reason.UNMANAGED_SERVER, INFO)],
        (
            "sepm-east is in the state but no longer in the specs: the reconciler leaves it as it is (last handled "
            "2026-12-01 07:55 UTC, phase in_sync)",
        ),
        id="unmanaged:left-in-sync",
    ),
    pytest.param(
        unmanaged_server,
        given(spec=None, record=record(Phase.NEW)),
        [(Reason.UNMANAGED_SERVER, INFO)],
        ("phase new",),
        id="unmanaged:never-handled",
    ),
    pytest.param(
        unmanaged_server,
        given(spec=None, record=record(Phase.DRIFTED)),
        [(Reason.UNMANAGED_SERVER, W)],
        ("it was not in sync when last handled",),
        id="unmanaged:left-drifted",
    ),
    pytest.param(
        unmanaged_server,
        given(spec=None, record=record(Phase.WAITING_UNVERIFIED)),
        [(Reason.UNMANAGED_SERVER, E)],
        (
            "left in the middle of a rollout (step 3 of 7): certificate verification or replication may still be changed",
        ),
        id="unmanaged:left-mid-rollout",
    ),
]


@pytest.mark.parametrize(("check", "situation", "expected", "fragments"), SPEC_CASES)
def test_spec_side_checks(
    check: object, situation: DriftInput, expected: list[tuple[Reason, Severity]], fragments: tuple[str, ...]
) -> None:
    assert callable(check)
    check_findings(check(situation), expected, fragments)


# --- the chain and the exit code -----------------------------------------------------------------------------------


def test_the_chain_lists_findings_worst_first_in_chain_order() -> None:
    situation = given(
        seen=seen(ports(OLD), partners={}, verification_on=1, verification_off=1),
        record=record(Phase.DRIFTED),
        spec_problems=(PROBLEM,),
    )
    reasons = [f.reason for f in evaluate(situation)]
    assert reasons == [
        Reason.SPEC_INVALID,  # error
        Reason.CERTIFICATE_MISMATCH,  # warnings, in chain order
        Reason.VERIFICATION_DISABLED,
        Reason.REPLICATION_BROKEN,
        Reason.AT_RISK_CLIENTS,
        Reason.ROLLOUT_MUST_START_BY,  # info
    ]


def test_an_in_sync_server_yields_only_in_sync() -> None:
    findings = evaluate(given())
    assert [(f.reason, f.severity) for f in findings] == [(Reason.IN_SYNC, INFO)]
    assert exit_code(findings) == 0


def test_every_check_is_in_the_default_chain_once() -> None:
    assert len(set(DEFAULT_CHAIN.names)) == len(DEFAULT_CHAIN.names) == 16


def test_the_chain_refuses_a_naive_now() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        evaluate(given(now=NOW.replace(tzinfo=None)))


@pytest.mark.parametrize(
    ("severities", "code"),
    [
        pytest.param((), 0, id="nothing"),
        pytest.param((INFO,), 0, id="info-only"),
        pytest.param((INFO, W), 2, id="a-warning"),
        pytest.param((W, E, INFO), 1, id="an-error-beats-a-warning"),
    ],
)
def test_the_worst_severity_decides_the_exit_code(severities: tuple[Severity, ...], code: int) -> None:
    findings = [Finding(Reason.IN_SYNC, severity, "x") for severity in severities]
    assert exit_code(findings) == code


def test_the_exit_code_mapping_is_the_documented_contract() -> None:
    assert dict(EXIT_BY_SEVERITY) == {Severity.ERROR: 1, Severity.WARNING: 2, Severity.INFO: 0}


# --- drift start ---------------------------------------------------------------------------------------------------


def _move(hours_ago: float, source: Phase, dest: Phase) -> Event:
    return Event(
        NOW - timedelta(hours=hours_ago),
        "sepm-east",
        EventKind.TRANSITION,
        "…",
        from_phase=source,
        to_phase=dest,
    )


def _note(hours_ago: float) -> Event:
    return Event(NOW - timedelta(hours=hours_ago), "sepm-east", EventKind.APPROVAL, "approved", actor="carol")


@pytest.mark.parametrize(
    ("events", "began"),
    [
        pytest.param([], None, id="no-events"),
        pytest.param([_move(90, Phase.NEW, Phase.IN_SYNC)], None, id="in-sync"),
        pytest.param(
            [
                _move(90, Phase.NEW, Phase.IN_SYNC),
                _move(50, Phase.IN_SYNC, Phase.DRIFTED),
                _note(40),
                _move(30, Phase.DRIFTED, Phase.BREAKING_REPLICATION),
            ],
            NOW - timedelta(hours=50),
            id="left-in-sync-then-rotating",
        ),
        pytest.param(
            [
                _move(90, Phase.NEW, Phase.DRIFTED),
                _move(80, Phase.DRIFTED, Phase.IN_SYNC),
                _move(20, Phase.IN_SYNC, Phase.BREAKING_REPLICATION),
            ],
            NOW - timedelta(hours=20),
            id="the-latest-drift-counts",
        ),
        pytest.param([_move(90, Phase.NEW, Phase.DRIFTED)], NOW - timedelta(hours=90), id="never-in-sync"),
    ],
)
def test_drift_began_is_the_first_move_away_from_in_sync(events: list[Event], began: object) -> None:
    assert drift_began(events) == began
