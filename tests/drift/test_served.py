"""The checks of what the ports present: Unreachable, HandshakeFailed, InSync / CertificateMismatch /
PartialRollout, Expired / ExpiringSoon — each a table of situations and the findings they must yield."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from reconciler.core.drift import DriftInput, Reason, Severity
from reconciler.core.drift.served import certificate_expiry, handshake_failed, served_vs_desired, unreachable
from reconciler.core.observation import PortOutcome
from reconciler.core.procedure import Phase
from reconciler.core.record import Aborted, Approval, Request
from tests.drift.builders import (
    NEW,
    NOW,
    OLD,
    PORTS,
    ROGUE,
    check_findings,
    given,
    make_spec,
    port,
    ports,
    record,
    seen,
    stalled,
    with_seen,
)

E, W, INFO = Severity.ERROR, Severity.WARNING, Severity.INFO


# --- Unreachable ---------------------------------------------------------------------------------------------------

UNREACHABLE_CASES = [
    pytest.param(given(), [], (), id="everything-answers"),
    pytest.param(
        given(seen=None, seen_error="cannot resolve the CA bundle"),
        [(Reason.UNREACHABLE, E)],
        ("could not be observed: cannot resolve the CA bundle",),
        id="nothing-observed",
    ),
    pytest.param(
        given(spec=None, seen=None, seen_error="never observed"), [], (), id="unmanaged-not-observed"
    ),
    pytest.param(
        given(
            seen=seen(
                ports(NEW, console=port("console", outcome=PortOutcome.REFUSED, error="connection refused"))
            )
        ),
        [(Reason.UNREACHABLE, E)],
        ("console port 8443 refused (connection refused)", "check spec.server.apiUrl and spec.server.ports"),
        id="one-port-refused",
    ),
    pytest.param(
        given(seen=seen(ports(NEW, clients=port("clients", outcome=PortOutcome.TIMEOUT)))),
        [(Reason.UNREACHABLE, E)],
        ("clients port 443 timeout",),
        id="one-port-times-out",
    ),
    pytest.param(
        given(
            seen=seen(
                ports(NEW),
                api_reachable=False,
                errors=("api: authentication failed: connection refused",),
            )
        ),
        [(Reason.UNREACHABLE, E)],
        (
            "the REST API at https://sepm-east.corp.example:8446/sepm/api/v1 does not answer "
            "(api: authentication failed: connection refused)",
        ),
        id="api-silent-ports-fine",
    ),
    pytest.param(
        given(
            seen=seen(
                ports(NEW),
                api_error="…/identity/authenticate: the manager refused the credentials of user 'admin' (HTTP 401)",
            )
        ),
        [(Reason.UNREACHABLE, E)],
        (
            "the REST API at https://sepm-east.corp.example:8446/sepm/api/v1 answers but cannot be used: "
            "…/identity/authenticate: the manager refused the credentials of user 'admin' (HTTP 401)",
            "replication and clients are unknown",
        ),
        id="login-refused",
    ),
    pytest.param(
        given(
            seen=seen(
                tuple(port(n, outcome=PortOutcome.REFUSED) for n in ("clients", "console", "api")),
                api_reachable=False,
            )
        ),
        [(Reason.UNREACHABLE, E)],
        ("clients port 443 refused", "console port 8443 refused", "api port 8446 refused", "does not answer"),
        id="whole-manager-down",
    ),
]


@pytest.mark.parametrize(("situation", "expected", "fragments"), UNREACHABLE_CASES)
def test_unreachable_reports_every_port_and_the_api_that_did_not_answer(
    situation: DriftInput, expected: list[tuple[Reason, Severity]], fragments: tuple[str, ...]
) -> None:
    check_findings(unreachable(situation), expected, fragments)


# --- HandshakeFailed ----------------------------------------------------------------------------------------------

HANDSHAKE_CASES = [
    pytest.param(given(), [], (), id="all-handshakes-complete"),
    pytest.param(
        given(
            seen=seen(
                ports(
                    NEW,
                    console=port(
                        "console", outcome=PortOutcome.HANDSHAKE_FAILED, error="wrong version number"
                    ),
                )
            )
        ),
        [(Reason.HANDSHAKE_FAILED, E)],
        ("console port 8443 handshake failed (wrong version number)", "completes no TLS handshake"),
        id="plain-http-on-the-console-port",
    ),
    pytest.param(
        given(seen=seen(ports(NEW, clients=port("clients", outcome=PortOutcome.REFUSED)))),
        [],
        (),
        id="refused-is-not-a-handshake-failure",
    ),
    pytest.param(given(seen=None, seen_error="x"), [], (), id="nothing-seen"),
]


@pytest.mark.parametrize(("situation", "expected", "fragments"), HANDSHAKE_CASES)
def test_handshake_failed_names_the_ports_that_speak_no_tls(
    situation: DriftInput, expected: list[tuple[Reason, Severity]], fragments: tuple[str, ...]
) -> None:
    check_findings(handshake_failed(situation), expected, fragments)


# --- InSync / CertificateMismatch / PartialRollout ------------------------------------------------------------------

_DRIFTED = record(
    Phase.DRIFTED, rollout_id="r-1", target_fingerprint=NEW, reason="drift: …; step 1 needs an approval"
)
SERVED_CASES = [
    pytest.param(
        given(),
        [(Reason.IN_SYNC, INFO)],
        ("every port presents the desired certificate sha256:b2b2b2b2b2b2… (CN=sepm-east.corp.example",),
        id="in-sync",
    ),
    pytest.param(given(record=None), [(Reason.IN_SYNC, INFO)], (), id="in-sync-never-reconciled"),
    pytest.param(given(record=record(Phase.WAITING_VERIFIED)), [], (), id="desired-served-rollout-finishing"),
    pytest.param(
        given(seen=seen(ports(NEW, api=port("api", outcome=PortOutcome.REFUSED)))),
        [],
        (),
        id="desired-where-seen-but-a-port-unreached",
    ),
    pytest.param(
        given(seen=seen(ports(OLD))),
        [(Reason.CERTIFICATE_MISMATCH, W)],
        (
            "every port presents sha256:a1a1a1a1a1a1… (CN=sepm-east.corp.example, expires 2027-12-01 08:00 UTC), "
            "the spec wants sha256:b2b2b2b2b2b2…",
            "the next reconcile starts the rollout",
        ),
        id="mismatch-rollout-starts-next",
    ),
    pytest.param(
        given(seen=seen(ports(OLD)), spec=make_spec(mode="report")),
        [(Reason.CERTIFICATE_MISMATCH, W)],
        ("held: report mode (spec.rollout.mode: report)",),
        id="mismatch-report-mode",
    ),
    pytest.param(
        given(
            seen=seen(ports(OLD)),
            record=replace(_DRIFTED, suspension=Request("alice", NOW - timedelta(hours=1), "change freeze")),
        ),
        [(Reason.CERTIFICATE_MISMATCH, W)],
        (
            "held: suspended by alice at 2026-12-01 07:00 UTC (change freeze): sepm-reconciler resume sepm-east",
        ),
        id="mismatch-suspended",
    ),
    pytest.param(
        given(
            seen=seen(ports(OLD)),
            record=replace(
                _DRIFTED, aborted=Aborted("bob", NOW - timedelta(days=1), "wrong cert", NEW, "rev1")
            ),
        ),
        [(Reason.CERTIFICATE_MISMATCH, W)],
        ("held: the rollout was aborted by bob at 2026-11-30 08:00 UTC (wrong cert)",),
        id="mismatch-aborted",
    ),
    pytest.param(
        given(seen=seen(ports(OLD)), spec=make_spec(approvals=(1, 4)), record=_DRIFTED),
        [(Reason.CERTIFICATE_MISMATCH, W)],
        ("step 1 needs an approval: sepm-reconciler approve sepm-east --step 1",),
        id="mismatch-awaiting-approval",
    ),
    pytest.param(
        given(
            seen=seen(ports(OLD)),
            spec=make_spec(approvals=(1,)),
            record=replace(
                _DRIFTED,
                approvals=(Approval(1, "carol", "ok", NOW, "r-1", NEW),),
                reason="drift: held for a reason the record tells",
            ),
        ),
        [(Reason.CERTIFICATE_MISMATCH, W)],
        ("held: drift: held for a reason the record tells",),
        id="mismatch-approved-held-otherwise",
    ),
    pytest.param(
        given(seen=seen(ports(OLD)), record=record(Phase.WAITING_UNVERIFIED)),
        [(Reason.CERTIFICATE_MISMATCH, W)],
        ("the spec wants sha256:b2b2b2b2b2b2…",),
        id="mismatch-during-step-3-says-no-hold",
    ),
    pytest.param(
        given(seen=seen(ports(OLD)), record=stalled(Phase.WAITING_UNVERIFIED)),
        [(Reason.CERTIFICATE_MISMATCH, W)],
        ("the spec wants sha256:b2b2b2b2b2b2… (the rollout is stalled at step 3)",),
        id="mismatch-rollout-stalled-in-step-3",
    ),
    pytest.param(
        given(seen=seen(ports(OLD)), record=stalled(Phase.DRIFTED, "UndeclaredPartner")),
        [(Reason.CERTIFICATE_MISMATCH, W)],
        ("held: the rollout is stalled (see RolloutStalled)",),
        id="mismatch-stalled-before-step-1",
    ),
    pytest.param(
        given(seen=seen(ports(OLD, api=port("api", outcome=PortOutcome.REFUSED)))),
        [(Reason.CERTIFICATE_MISMATCH, W)],
        ("the clients and console ports present sha256:a1a1a1a1a1a1…",),
        id="mismatch-on-the-ports-seen",
    ),
    pytest.param(
        given(seen=seen(ports(OLD, clients=port("clients", NEW))), record=record(Phase.DRIFTED)),
        [(Reason.PARTIAL_ROLLOUT, W)],
        (
            "the ports disagree: clients presents sha256:b2b2b2b2b2b2… (the desired certificate); console and api "
            "present sha256:a1a1a1a1a1a1…",
            "a service restart was missed: restart semsrv and semapisrv",
        ),
        id="half-done-restart",
    ),
    pytest.param(
        given(seen=seen(ports(OLD, clients=port("clients", NEW))), record=record(Phase.UPDATING_CERTIFICATE)),
        [(Reason.PARTIAL_ROLLOUT, W)],
        ("restart semsrv and semapisrv", "(step 4a is under way: expected while the services restart)"),
        id="half-done-restart-during-step-4",
    ),
    pytest.param(
        given(seen=seen(ports(OLD, console=port("console", ROGUE)))),
        [(Reason.PARTIAL_ROLLOUT, W)],
        ("none presents the desired certificate: install it and restart semsrv, semwebsrv and semapisrv",),
        id="ports-disagree-none-desired",
    ),
    pytest.param(given(desired=None), [], (), id="desired-unknown"),
    pytest.param(given(seen=None, seen_error="x"), [], (), id="nothing-seen"),
]


@pytest.mark.parametrize(("situation", "expected", "fragments"), SERVED_CASES)
def test_served_against_desired_tells_in_sync_mismatch_and_partial_rollouts_apart(
    situation: DriftInput, expected: list[tuple[Reason, Severity]], fragments: tuple[str, ...]
) -> None:
    check_findings(served_vs_desired(situation), expected, fragments)


def test_a_mismatch_carries_when_the_drift_began() -> None:
    began = NOW - timedelta(days=3)
    (finding,) = served_vs_desired(given(seen=seen(ports(OLD)), drift_began=began))
    assert finding.since == began


def test_a_mismatch_during_a_rollout_dates_from_the_rollout_start() -> None:
    (finding,) = served_vs_desired(given(seen=seen(ports(OLD)), record=record(Phase.BREAKING_REPLICATION)))
    assert finding.since == NOW - timedelta(days=1)


# --- Expired / ExpiringSoon ----------------------------------------------------------------------------------------

EXPIRY_CASES = [
    pytest.param(given(), [], (), id="valid-for-a-year"),
    pytest.param(
        given(
            seen=seen(
                ports(
                    NEW,
                    **{n: port(n, NEW, expires_in=timedelta(days=10)) for n in ("clients", "console", "api")},
                )
            )
        ),
        [(Reason.EXPIRING_SOON, W)],
        (
            "the certificate on all ports (sha256:b2b2b2b2b2b2…, CN=sepm-east.corp.example) expires on "
            "2026-12-11 08:00 UTC, in 10 days (expiryWarning 30 days)",
            "commit a new certificate to spec.certificate",
        ),
        id="desired-expiring-soon",
    ),
    pytest.param(
        given(
            seen=seen(
                ports(
                    NEW,
                    **{n: port(n, NEW, expires_in=timedelta(days=10)) for n in ("clients", "console", "api")},
                )
            ),
            spec=make_spec(expiry_warning="7d"),
        ),
        [],
        (),
        id="outside-a-shorter-expiry-warning",
    ),
    pytest.param(
        given(
            seen=seen(
                ports(
                    OLD,
                    **{n: port(n, OLD, expires_in=-timedelta(days=2)) for n in ("clients", "console", "api")},
                )
            )
        ),
        [(Reason.EXPIRED, E)],
        ("expired on 2026-11-29 08:00 UTC, 2 days ago: the rollout to the desired certificate replaces it",),
        id="old-certificate-expired",
    ),
    pytest.param(
        given(seen=seen(ports(NEW, **{n: port(n, NEW, expires_in=timedelta(0)) for n in PORTS}))),
        [(Reason.EXPIRED, E)],
        ("expired on 2026-12-01 08:00 UTC",),
        id="expires-this-very-second",
    ),
    pytest.param(
        given(seen=seen(ports(NEW, **{n: port(n, NEW, expires_in=timedelta(days=30)) for n in PORTS}))),
        [(Reason.EXPIRING_SOON, W)],
        ("in 30 days (expiryWarning 30 days)",),
        id="exactly-expiry-warning-away",
    ),
    pytest.param(
        given(seen=seen(ports(NEW, clients=port("clients", OLD, expires_in=timedelta(days=5))))),
        [(Reason.EXPIRING_SOON, W)],
        ("the certificate on the clients port (sha256:a1a1a1a1a1a1…",),
        id="one-port-still-on-an-expiring-certificate",
    ),
    pytest.param(
        given(
            seen=seen(
                ports(NEW, **{n: port(n, NEW, facts=False) for n in ("clients", "console", "api")}),
                live=False,
            )
        ),
        [],
        (),
        id="offline-no-certificate-facts",
    ),
]


@pytest.mark.parametrize(("situation", "expected", "fragments"), EXPIRY_CASES)
def test_certificate_expiry_warns_within_expiry_warning_and_errs_once_expired(
    situation: DriftInput, expected: list[tuple[Reason, Severity]], fragments: tuple[str, ...]
) -> None:
    check_findings(certificate_expiry(situation), expected, fragments)


def test_expiring_soon_is_measured_against_now_and_carries_the_expiry() -> None:
    soon = with_seen(
        given(),
        ports=ports(
            NEW, **{n: port(n, NEW, expires_in=timedelta(days=40)) for n in ("clients", "console", "api")}
        ),
    )
    assert certificate_expiry(soon) == []
    (finding,) = certificate_expiry(replace(soon, now=NOW + timedelta(days=15)))
    assert finding.reason is Reason.EXPIRING_SOON
    assert finding.until == NOW + timedelta(days=40)
