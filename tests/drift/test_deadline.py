"""RolloutMustStartBy: the rollout's remaining soaks, window and approvals against the expiry of the certificate it
replaces — and the window arithmetic it rests on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from reconciler.core.drift import DriftInput, Reason, Severity
from reconciler.core.drift.deadline import rollout_must_start_by
from reconciler.core.procedure import Phase
from reconciler.core.record import Approval
from reconciler.core.spec import Window
from reconciler.core.window import first_open, last_open
from tests.drift.builders import NEW, NOW, OLD, SKEW, facts, given, make_spec, port, ports, record, seen

WEEKEND_NIGHTS = {"days": ["sat", "sun"], "start": "22:00", "end": "04:00", "timezone": "UTC"}


def _served(fingerprint: str, expires_in: timedelta, *, live: bool = True) -> dict[str, object]:
    served = ports(
        fingerprint,
        **{n: port(n, fingerprint, expires_in=expires_in, facts=live) for n in ("clients", "console", "api")},
    )
    return {"seen": seen(served, live=live)}


def _step3(hours_ago: float) -> dict[str, object]:
    off_at = NOW + SKEW - timedelta(hours=hours_ago)  # manager clock
    return {"record": record(Phase.WAITING_UNVERIFIED, facts=facts(verification_off_at=off_at))}


CASES = [
    pytest.param(
        given(**_served(OLD, timedelta(days=60))),
        Severity.INFO,
        NOW + timedelta(days=57),  # three soaks of a day: before the swap (3), after it (4b), after 5 (6)
        (
            "the rollout must start by 2027-01-27 08:00 UTC (in 57 days)",
            "minSoak 1 day in step 3, 1 day in step 4b, 1 day in step 6",
        ),
        id="drift-plenty-of-time",
    ),
    pytest.param(
        given(**_served(OLD, timedelta(days=20)), spec=make_spec(window=WEEKEND_NIGHTS)),
        Severity.WARNING,
        datetime(2026, 12, 13, 3, 59, tzinfo=UTC),  # 4b's day pushes the swap back to an earlier weekend
        (
            "the rollout must start by 2026-12-13 03:59 UTC",
            "step 4a only in the window sat, sun 22:00–04:00 UTC",
        ),
        id="drift-window-brings-the-start-forward",
    ),
    pytest.param(
        given(**_served(OLD, timedelta(hours=36))),
        Severity.ERROR,
        NOW - timedelta(hours=36),
        (
            "must start by 2026-11-29 20:00 UTC to finish in time, which has passed",
            "ends 2026-12-04 08:00 UTC",
        ),
        id="drift-too-late",
    ),
    pytest.param(
        given(**_served(OLD, timedelta(days=60)), spec=make_spec(approvals=(1, 4))),
        Severity.INFO,
        NOW + timedelta(days=57),
        ("the approvals of steps 1 and 4 must come in time",),
        id="drift-approvals-to-come",
    ),
    pytest.param(
        given(**_served(NEW, timedelta(days=10))),
        Severity.WARNING,
        NOW + timedelta(days=7),
        ("a new certificate must be committed and its rollout started by 2026-12-08 08:00 UTC",),
        id="in-sync-but-expiring",
    ),
    pytest.param(
        given(**_served(OLD, timedelta(days=5)), **_step3(hours_ago=12)),
        Severity.INFO,
        NOW + timedelta(days=5),
        ("this rollout can finish 2026-12-03 20:00 UTC at the earliest, 2 days 12 h before",),
        id="step-3-finishes-in-time",
    ),
    pytest.param(
        given(**_served(OLD, timedelta(days=1)), **_step3(hours_ago=12)),
        Severity.ERROR,
        NOW + timedelta(days=1),
        (
            "before this rollout can finish: at the earliest step 4a starts 2026-12-01 20:00 UTC and the rollout ends "
            "2026-12-03 20:00 UTC",
        ),
        id="step-3-cannot-finish-before-expiry",
    ),
    pytest.param(
        given(
            **_served(OLD, timedelta(days=30)),
            spec=make_spec(approvals=(1, 4)),
            record=record(
                Phase.WAITING_UNVERIFIED,
                approvals=(
                    Approval(1, "carol", "go", NOW - timedelta(days=1), "r-20261130T0600Z-1a2b3c4d", NEW),
                ),
            ),
        ),
        Severity.INFO,
        NOW + timedelta(days=30),
        ("the approval of step 4 must come in time",),
        id="step-3-one-approval-left",
    ),
]


@pytest.mark.parametrize(("situation", "severity", "until", "fragments"), CASES)
def test_rollout_must_start_by_weighs_the_remaining_waits_against_the_expiry(
    situation: DriftInput, severity: Severity, until: datetime, fragments: tuple[str, ...]
) -> None:
    (finding,) = rollout_must_start_by(situation)
    assert (finding.reason, finding.severity, finding.until) == (
        Reason.ROLLOUT_MUST_START_BY,
        severity,
        until,
    )
    for fragment in fragments:
        assert fragment in finding.message


SILENT = [
    pytest.param(given(**_served(NEW, timedelta(days=100))), id="in-sync-far-from-expiry"),
    pytest.param(given(**_served(OLD, -timedelta(days=1))), id="already-expired"),
    pytest.param(given(**_served(OLD, timedelta(days=60), live=False)), id="offline-no-expiry-known"),
    pytest.param(
        given(**_served(NEW, timedelta(days=10)), record=record(Phase.WAITING_VERIFIED)), id="after-the-swap"
    ),
    pytest.param(
        given(
            **_served(OLD, timedelta(days=10)),
            record=record(Phase.UPDATING_CERTIFICATE, facts=facts(certificate_changed_at=NOW)),
        ),
        id="step-4-certificate-already-changed",
    ),
    pytest.param(
        given(**_served(OLD, timedelta(days=10)), record=record(Phase.ROLLING_BACK)), id="rolling-back"
    ),
    pytest.param(given(**_served(OLD, timedelta(days=10)), spec=None), id="unmanaged"),
    pytest.param(given(**_served(OLD, timedelta(days=10)), desired=None), id="desired-unknown"),
]


@pytest.mark.parametrize("situation", SILENT)
def test_rollout_must_start_by_is_silent_when_no_deadline_applies(situation: DriftInput) -> None:
    assert rollout_must_start_by(situation) == []


_WINDOW = Window.model_validate(WEEKEND_NIGHTS)
_SAT_23 = datetime(2026, 12, 5, 23, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("window", "at", "first", "last"),
    [
        pytest.param(None, NOW, NOW, NOW, id="no-window-is-always-open"),
        pytest.param(_WINDOW, _SAT_23, _SAT_23, _SAT_23, id="inside-an-opening"),
        pytest.param(
            _WINDOW,
            NOW,  # Tuesday morning
            datetime(2026, 12, 5, 22, 0, tzinfo=UTC),
            datetime(2026, 11, 30, 3, 59, tzinfo=UTC),
            id="midweek",
        ),
        pytest.param(
            _WINDOW,
            datetime(2026, 12, 6, 12, 0, tzinfo=UTC),  # Sunday noon, between the two openings
            datetime(2026, 12, 6, 22, 0, tzinfo=UTC),
            datetime(2026, 12, 6, 3, 59, tzinfo=UTC),
            id="between-saturday-and-sunday-nights",
        ),
    ],
)
def test_window_openings_are_found_forwards_and_backwards(
    window: Window | None, at: datetime, first: datetime, last: datetime
) -> None:
    assert first_open(window, at) == first
    assert last_open(window, at) == last
