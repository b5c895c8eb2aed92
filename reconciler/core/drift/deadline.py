"""``RolloutMustStartBy``: the rollout's remaining waits — the minimum soaks of steps 3 and 6, the maintenance
window of step 4, the approvals still missing — against the ``notAfter`` of the certificate being replaced.

The timeline is the earliest possible one: the active steps (1, 2, 5, 7) are taken as instantaneous, every client
acknowledges within ``minSoak`` and every approval arrives in time. Soaks run on the manager's clock; deadlines are
converted to the reconciler's clock with the offset between the two seen in the observation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from reconciler.core import wording
from reconciler.core.drift.inputs import DriftInput
from reconciler.core.drift.model import Finding, Reason, Severity
from reconciler.core.observation import ServedCertificate
from reconciler.core.spec import Rollout
from reconciler.core.window import describe, first_open, last_open

__all__ = ["Timeline", "first_open", "last_open", "rollout_must_start_by", "timeline"]


@dataclass(frozen=True, slots=True)
class Timeline:
    """The earliest swap (start of step 4) and finish (end of step 6's minimum soak), reconciler clock."""

    swap_at: datetime
    finish_at: datetime


def timeline(given: DriftInput, soak_ends: datetime) -> Timeline | None:
    """From the moment step 3's minimum soak ends: step 4 at the window's next opening, then step 6's soak."""
    if given.spec is None:
        return None
    rollout = given.spec.spec.rollout
    swap = first_open(rollout.window, soak_ends)
    if swap is None:
        return None
    return Timeline(swap, swap + rollout.clients.min_soak)


def _soak_ends(given: DriftInput, min_soak: timedelta) -> datetime:
    """When step 3's minimum soak ends at the earliest, for a rollout started now or under way (before step 4)."""
    record = given.record
    step = given.step
    if record is None or step < 3:
        return given.now + min_soak
    if step >= 4:
        return given.now
    off_at = record.facts.verification_off_at
    if off_at is None:
        return given.now + min_soak
    return max(given.now, given.on_our_clock(off_at + min_soak))


def _replaced(given: DriftInput) -> tuple[str, ServedCertificate] | None:
    """The presented certificate that expires first among those the rollout replaces (all, when in sync)."""
    seen = given.seen
    if seen is None:
        return None
    certificates = {
        p.fingerprint: p.certificate
        for p in seen.ports
        if p.presented and p.fingerprint is not None and p.certificate is not None
    }
    others = {fp: c for fp, c in certificates.items() if fp != given.desired}
    pool = others or certificates
    if not pool:
        return None
    return min(pool.items(), key=lambda item: item[1].not_after)


def _conditions(given: DriftInput, rollout: Rollout) -> str:
    soak = wording.span(rollout.clients.min_soak)
    text = f"minSoak {soak} before and after step 4"
    if rollout.window is not None:
        text += f", step 4 only in the window {describe(rollout.window)}"
    approved = {a.step for a in given.record.current_approvals()} if given.record is not None else set()
    missing = [s for s in rollout.approvals if s not in approved and s > given.step]
    if missing:
        steps = ", ".join(map(str, missing[:-1])) + (" and " if len(missing) > 1 else "") + str(missing[-1])
        text += f"; the approval{'s' if len(missing) > 1 else ''} of step{'s' if len(missing) > 1 else ''} {steps} must come in time"
    return text


def rollout_must_start_by(given: DriftInput) -> list[Finding]:
    """``RolloutMustStartBy``: before the swap, when the rollout must start (or, under way, when it can finish at
    the earliest) for the certificate being replaced not to expire first. Error when it is already too late,
    warning when the start is due within ``expiryWarning``, info otherwise. Needs certificate facts (live)."""
    if (
        given.spec is None
        or given.seen is None
        or given.desired is None
        or given.swapped
        or given.rolling_back
    ):
        return []
    replaced = _replaced(given)
    if replaced is None:
        return []
    fingerprint, cert = replaced
    expires = cert.not_after
    if expires <= given.now:
        return []  # Expired says it
    in_sync = fingerprint == given.desired
    if in_sync and (given.rollout_active or expires - given.now > given.expiry_warning):
        return []
    min_soak = given.spec.spec.rollout.clients.min_soak
    which = f"the served certificate {wording.fingerprint(fingerprint)} expires {wording.when(expires)}"
    conditions = _conditions(given, given.spec.spec.rollout)
    if given.rollout_active:
        plan = timeline(given, _soak_ends(given, min_soak))
        if plan is None:
            return []
        if plan.finish_at > expires:
            return [
                Finding(
                    Reason.ROLLOUT_MUST_START_BY,
                    Severity.ERROR,
                    f"{which}, before this rollout can finish: at the earliest step 4 starts "
                    f"{wording.when(plan.swap_at)} and the rollout ends {wording.when(plan.finish_at)} ({conditions}); "
                    "clients see the expired certificate until the swap",
                    until=expires,
                )
            ]
        return [
            Finding(
                Reason.ROLLOUT_MUST_START_BY,
                Severity.INFO,
                f"{which}; this rollout can finish {wording.when(plan.finish_at)} at the earliest, "
                f"{wording.span(expires - plan.finish_at)} before ({conditions})",
                until=expires,
            )
        ]
    latest_swap = last_open(given.spec.spec.rollout.window, expires - min_soak)
    earliest = timeline(given, given.now + min_soak)
    if latest_swap is None or earliest is None:
        return []
    start_by = latest_swap - min_soak
    what = (
        "a new certificate must be committed and its rollout started" if in_sync else "the rollout must start"
    )
    if start_by < given.now:
        return [
            Finding(
                Reason.ROLLOUT_MUST_START_BY,
                Severity.ERROR,
                f"{which}: {what} by {wording.when(start_by)} to finish in time, which has passed — started now it "
                f"ends {wording.when(earliest.finish_at)} at the earliest ({conditions}); shorten "
                "spec.rollout.clients.minSoak or widen the window, or accept the expired certificate until the swap",
                until=start_by,
            )
        ]
    left = start_by - given.now
    severity = Severity.WARNING if left <= given.expiry_warning else Severity.INFO
    return [
        Finding(
            Reason.ROLLOUT_MUST_START_BY,
            severity,
            f"{which}: {what} by {wording.when(start_by)} (in {wording.span(left)}) to finish before it "
            f"({conditions})",
            until=start_by,
        )
    ]
