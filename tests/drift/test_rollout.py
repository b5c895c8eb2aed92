"""The rollout checks: RolloutStalled, RolloutInProgress, VerificationDisabled, ReplicationBroken, AtRiskClients
and LegacyAgents — tables of situations and the findings they must (or must not) yield."""

from __future__ import annotations

from datetime import timedelta

import pytest

from reconciler.core.drift import DriftInput, Reason, Severity
from reconciler.core.drift.rollout import (
    at_risk_clients,
    legacy_agents,
    listing,
    replication_broken,
    rollout_in_progress,
    rollout_stalled,
    verification_disabled,
)
from reconciler.core.procedure import Phase
from tests.drift.builders import (
    NEW,
    NOW,
    OLD,
    SKEW,
    check_findings,
    clients,
    facts,
    given,
    make_spec,
    ports,
    record,
    seen,
    stalled,
)

E, W, INFO = Severity.ERROR, Severity.WARNING, Severity.INFO
OFF_AT = NOW + SKEW - timedelta(hours=30)  # manager clock: step 2 turned verification off 30 h ago


def _drift(**overrides: object) -> DriftInput:
    """Every port on the old certificate, no rollout yet."""
    values: dict[str, object] = {"seen": seen(ports(OLD)), "record": record(Phase.DRIFTED)}
    values.update(overrides)
    return given(**values)


def _step(phase: Phase, **record_values: object) -> DriftInput:
    served = (
        OLD
        if phase in (Phase.BREAKING_REPLICATION, Phase.DISABLING_VERIFICATION, Phase.WAITING_UNVERIFIED)
        else NEW
    )
    return given(seen=seen(ports(served)), record=record(phase, **record_values))


# --- RolloutStalled / RolloutInProgress ----------------------------------------------------------------------------

PROGRESS_CASES = [
    pytest.param(rollout_stalled, given(), [], (), id="stalled:not-stalled"),
    pytest.param(
        rollout_stalled,
        given(record=stalled(Phase.WAITING_UNVERIFIED)),
        [(Reason.ROLLOUT_STALLED, E)],
        (
            "stalled in step 3 of 7 since 2026-12-01 07:00 UTC: step 3: clients did not acknowledge within maxSoak",
            "remedy: raise maxSoak",
        ),
        id="stalled:in-step-3",
    ),
    pytest.param(rollout_in_progress, given(), [], (), id="progress:in-sync"),
    pytest.param(rollout_in_progress, _drift(), [], (), id="progress:drift-held-is-no-rollout"),
    pytest.param(
        rollout_in_progress, given(record=stalled(Phase.WAITING_UNVERIFIED)), [], (), id="progress:stalled"
    ),
    pytest.param(
        rollout_in_progress,
        _step(Phase.BREAKING_REPLICATION),
        [(Reason.ROLLOUT_IN_PROGRESS, W)],
        (
            "step 1 of 7 (breaking_replication) since 2026-12-01 06:00 UTC: breaking_replication: waiting "
            "(rollout r-20261130T0600Z-1a2b3c4d); next check 2026-12-01 08:05 UTC",
        ),
        id="progress:step-1",
    ),
    pytest.param(
        rollout_in_progress,
        _step(Phase.ROLLING_BACK),
        [(Reason.ROLLOUT_IN_PROGRESS, W)],
        ("rolling back steps 1-3 since",),
        id="progress:rolling-back",
    ),
]


@pytest.mark.parametrize(("check", "situation", "expected", "fragments"), PROGRESS_CASES)
def test_rollout_progress_and_stalls_are_reported_with_reason_and_remedy(
    check: object, situation: DriftInput, expected: list[tuple[Reason, Severity]], fragments: tuple[str, ...]
) -> None:
    assert callable(check)
    check_findings(check(situation), expected, fragments)


def test_a_soaking_rollout_says_until_when_on_the_reconcilers_clock() -> None:
    situation = _step(Phase.WAITING_UNVERIFIED, facts=facts(verification_off_at=OFF_AT))
    (finding,) = rollout_in_progress(situation)
    # 24 h minSoak from the change 30 h ago would be over: the next check is what is awaited.
    assert finding.until == NOW + timedelta(minutes=5)
    recent = _step(Phase.WAITING_UNVERIFIED, facts=facts(verification_off_at=NOW + SKEW - timedelta(hours=2)))
    (finding,) = rollout_in_progress(recent)
    assert finding.until == NOW + timedelta(hours=22)  # the soak end, converted from the manager's clock
    assert finding.since == NOW - timedelta(days=1)  # when the rollout started


# --- VerificationDisabled ------------------------------------------------------------------------------------------

VERIFICATION_CASES = [
    pytest.param(given(), [], (), id="on-everywhere"),
    pytest.param(
        given(
            seen=seen(
                ports(OLD),
                verification_on=0,
                verification_off=2,
                groups_off=("My Company", "My Company\\Laptops"),
            ),
            record=record(Phase.WAITING_UNVERIFIED, facts=facts(verification_off_at=OFF_AT)),
        ),
        [(Reason.VERIFICATION_DISABLED, INFO)],
        (
            "certificate verification is off on 2 of 2 managed groups (My Company, My Company\\Laptops), since "
            "2026-11-30 02:03 UTC (manager time), for 1 day 6 h",
            "the rollout turned it off (step 2) and turns it back on in step 5",
        ),
        id="off-by-the-rollout-step-3",
    ),
    pytest.param(
        given(
            seen=seen(
                ports(NEW),
                verification_on=1,
                verification_off=1,
                groups_off=("My Company\\Kiosks",),
                off_unchanged_since=NOW + SKEW - timedelta(days=12),
            )
        ),
        [(Reason.VERIFICATION_DISABLED, W)],
        (
            "off on 1 of 2 managed groups (My Company\\Kiosks), unchanged since 2026-11-19 08:03 UTC (manager time), "
            "for at least 12 days",
            "no rollout needs it off: turn 'Enable secure communications",
        ),
        id="left-off-outside-a-rollout",
    ),
    pytest.param(
        given(seen=seen(ports(NEW), verification_on=1, verification_off=1, live=False)),
        [(Reason.VERIFICATION_DISABLED, W)],
        ("off on 1 of 2 managed groups, since when is not known",),
        id="offline-duration-unknown",
    ),
    pytest.param(
        given(
            seen=seen(ports(NEW), verification_on=0, verification_off=2),
            record=record(Phase.WAITING_VERIFIED),
        ),
        [(Reason.VERIFICATION_DISABLED, W)],
        ("no rollout needs it off",),
        id="off-in-step-6-is-not-expected",
    ),
]


@pytest.mark.parametrize(("situation", "expected", "fragments"), VERIFICATION_CASES)
def test_verification_disabled_says_for_how_long_and_whether_a_rollout_wants_it(
    situation: DriftInput, expected: list[tuple[Reason, Severity]], fragments: tuple[str, ...]
) -> None:
    check_findings(verification_disabled(situation), expected, fragments)


def test_verification_disabled_dates_from_the_change_on_the_reconcilers_clock() -> None:
    situation = given(
        seen=seen(ports(OLD), verification_on=0, verification_off=2),
        record=record(Phase.WAITING_UNVERIFIED, facts=facts(verification_off_at=OFF_AT)),
    )
    (finding,) = verification_disabled(situation)
    assert finding.since == OFF_AT - SKEW


# --- ReplicationBroken ---------------------------------------------------------------------------------------------

REPLICATION_CASES = [
    pytest.param(given(), [], (), id="partner-replicates"),
    pytest.param(given(seen=seen(ports(NEW), partners=None)), [], (), id="replication-unknown"),
    pytest.param(
        given(seen=seen(ports(NEW), partners={})),
        [(Reason.REPLICATION_BROKEN, W)],
        (
            "Site East does not replicate with Site West, declared in spec.replication.partners: add the "
            "partnership again",
        ),
        id="declared-partner-gone",
    ),
    pytest.param(
        given(seen=seen(ports(OLD), partners={}), record=record(Phase.WAITING_UNVERIFIED)),
        [(Reason.REPLICATION_BROKEN, INFO)],
        ("broken by the rollout (step 1) and restored in step 7",),
        id="broken-by-the-rollout",
    ),
    pytest.param(
        given(seen=seen(ports(NEW), partners={"Site West": "FAILED_CONNECT"})),
        [(Reason.REPLICATION_BROKEN, W)],
        ("replication of Site East with Site West (FAILED_CONNECT) fails",),
        id="partnership-fails",
    ),
    pytest.param(
        given(seen=seen(ports(NEW), partners={"Site West": "CANCELED"})),
        [(Reason.REPLICATION_BROKEN, W)],
        ("replication of Site East with Site West (CANCELED) fails",),
        id="partnership-canceled",
    ),
    pytest.param(
        given(seen=seen(ports(NEW), partners={"Site West": "PROCESSING"})),
        [],
        (),
        id="partnership-busy-is-not-broken",
    ),
    pytest.param(
        given(
            seen=seen(ports(NEW), partners={"Site West": "FAILED_CONNECT"}),
            record=record(Phase.RESTORING_REPLICATION),
        ),
        [(Reason.REPLICATION_BROKEN, INFO)],
        ("step 7 waits for it to succeed",),
        id="step-7-waits-for-success",
    ),
    pytest.param(given(spec=make_spec(partners=())), [], (), id="no-partner-declared"),
]


@pytest.mark.parametrize(("situation", "expected", "fragments"), REPLICATION_CASES)
def test_replication_broken_tells_the_rollouts_doing_from_an_accident(
    situation: DriftInput, expected: list[tuple[Reason, Severity]], fragments: tuple[str, ...]
) -> None:
    check_findings(replication_broken(situation), expected, fragments)


# --- AtRiskClients ----------------------------------------------------------------------------------------------

AT_RISK_CASES = [
    pytest.param(given(), [], (), id="in-sync-nothing-ahead"),
    pytest.param(
        _drift(),
        [(Reason.AT_RISK_CLIENTS, W)],
        (
            "1,950 clients would be orphaned if the certificate changed now: certificate verification has not been "
            "turned off for them by a rollout yet — 1,834 online, 66 offline (longest unseen 3 days), 50 unseen "
            "beyond excludeOfflineFor, not waited for: EAST-PC000001, EAST-PC000002, EAST-PC000003 and 1,947 more",
        ),
        id="drift-everyone-verifies",
    ),
    pytest.param(
        given(
            seen=seen(
                ports(OLD),
                clients=clients(acknowledged=1890, at_risk_count=60, pending_online=4, pending_offline=6),
            ),
            record=record(Phase.WAITING_UNVERIFIED, facts=facts(verification_off_at=OFF_AT)),
        ),
        [(Reason.AT_RISK_CLIENTS, W)],
        (
            "60 clients would be orphaned if the certificate changed now: they have not applied the policy of "
            "2026-11-30 02:03 UTC (manager time) that turns verification off",
        ),
        id="step-3-the-stragglers",
    ),
    pytest.param(
        given(
            seen=seen(ports(OLD), clients=clients(acknowledged=1900, at_risk_count=0)),
            record=record(Phase.WAITING_UNVERIFIED),
        ),
        [],
        (),
        id="step-3-everyone-acknowledged",
    ),
    pytest.param(
        given(
            seen=seen(ports(NEW), clients=clients(stopped_checking_in=12, stopped_names=("EAST-PC000007",))),
            record=record(
                Phase.WAITING_VERIFIED, facts=facts(verification_on_at=NOW + SKEW - timedelta(hours=3))
            ),
        ),
        [(Reason.AT_RISK_CLIENTS, W)],
        (
            "12 clients have not checked in since 2026-12-01 05:03 UTC (manager time)",
            "Communication Update Package): EAST-PC000007 and 11 more",
        ),
        id="step-6-silent-since-the-swap",
    ),
    pytest.param(
        given(
            seen=seen(ports(NEW), clients=clients(stopped_checking_in=1, stopped_names=("EAST-PC000007",))),
            record=record(Phase.RESTORING_REPLICATION, facts=facts(verification_on_at=None)),
        ),
        [(Reason.AT_RISK_CLIENTS, W)],
        ("1 client has not checked in since the swap", "EAST-PC000007"),
        id="step-7-still-silent",
    ),
    pytest.param(_drift(record=record(Phase.ROLLING_BACK)), [], (), id="rolling-back-no-swap-ahead"),
    pytest.param(_drift(seen=seen(ports(OLD), clients=None)), [], (), id="clients-unknown"),
]


@pytest.mark.parametrize(("situation", "expected", "fragments"), AT_RISK_CASES)
def test_at_risk_clients_lists_who_a_certificate_change_would_orphan(
    situation: DriftInput, expected: list[tuple[Reason, Severity]], fragments: tuple[str, ...]
) -> None:
    check_findings(at_risk_clients(situation), expected, fragments)


@pytest.mark.parametrize(
    ("names", "total", "text"),
    [
        pytest.param(("A", "B"), 2, "A, B", id="all-listed"),
        pytest.param(("A", "B"), 1834, "A, B and 1,832 more", id="truncated-list"),
        pytest.param((), 40, "40 clients", id="no-names-kept"),
    ],
)
def test_listing_counts_the_names_it_does_not_show(names: tuple[str, ...], total: int, text: str) -> None:
    assert listing(names, total) == text


# --- LegacyAgents --------------------------------------------------------------------------------------------------

LEGACY_CASES = [
    pytest.param(given(), [], (), id="no-legacy-agents"),
    pytest.param(
        _drift(seen=seen(ports(OLD), clients=clients(legacy_agents=12))),
        [(Reason.LEGACY_AGENTS, INFO)],  # KB 187099's single-server procedure, followed here, handles them
        (
            "12 clients run 14.2 / 14.2.1 agents on site Site East, which spans several servers (Site West)",
            "cannot use the multi-server failover method",
            "handles them like the others",
        ),
        id="legacy-before-a-change-is-info",
    ),
    pytest.param(
        given(seen=seen(ports(NEW), clients=clients(legacy_agents=1))),
        [(Reason.LEGACY_AGENTS, INFO)],
        ("1 client run",),
        id="legacy-in-sync-is-info",
    ),
    pytest.param(
        given(
            spec=make_spec(partners=()), seen=seen(ports(NEW), partners={}, clients=clients(legacy_agents=3))
        ),
        [],
        (),
        id="single-server-site",
    ),
    pytest.param(
        given(
            spec=make_spec(partners=()),
            seen=seen(ports(NEW), partners={}, clients=clients(legacy_agents=3)),
            site_peers=("sepm-east-2",),
        ),
        [(Reason.LEGACY_AGENTS, INFO)],
        ("(sepm-east-2)",),
        id="two-managers-one-site",
    ),
    pytest.param(
        given(seen=seen(ports(NEW), clients=clients(legacy_agents=None), live=False)),
        [],
        (),
        id="offline-unknown",
    ),
]


@pytest.mark.parametrize(("situation", "expected", "fragments"), LEGACY_CASES)
def test_legacy_agents_are_flagged_on_multi_server_sites(
    situation: DriftInput, expected: list[tuple[Reason, Severity]], fragments: tuple[str, ...]
) -> None:
    check_findings(legacy_agents(situation), expected, fragments)
