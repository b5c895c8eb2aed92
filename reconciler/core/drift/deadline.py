"""``RolloutMustStartBy``: the rollout's remaining waits — the soaks, the maintenance window of the certificate
update, the approvals still missing — against the ``notAfter`` of the certificate being replaced.

The timeline is the procedure's own (:mod:`reconciler.core.procedure.timeline`, the one ``plan`` shows): the
earliest possible one, active steps instantaneous, every client acknowledging within ``minSoak``, every approval in
time. Soaks run on the manager's clock; deadlines are converted to the reconciler's clock with the offset between the
two seen in the observation.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from reconciler.core import wording
from reconciler.core.drift.inputs import DriftInput
from reconciler.core.drift.model import Finding, Reason, Severity
from reconciler.core.observation import ServedCertificate
from reconciler.core.procedure.table import STANDARD
from reconciler.core.procedure.timeline import Timeline, latest_start, missing_approvals, timeline
from reconciler.core.spec import ManagedServer
from reconciler.core.window import describe

__all__ = ["rollout_must_start_by"]


def _timeline(given: DriftInput, spec: ManagedServer) -> Timeline:
    """The earliest timeline of the rollout from where it stands (a stall does not stop the clock here)."""
    record = given.record
    if record is not None and record.stalled:
        record = replace(record, phase=record.working_phase)
    seen = given.seen
    offset = timedelta(0)
    if seen is not None and seen.manager_time is not None:
        offset = seen.observed_at - seen.manager_time
    return timeline(STANDARD, spec, record, now=given.now, offset=offset)


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


def _conditions(given: DriftInput, spec: ManagedServer) -> str:
    rollout = spec.spec.rollout
    waits = [
        f"{wording.span(stage.soak.rules(rollout.clients).min_soak)} in step {stage.step}"
        for stage in STANDARD.steps
        if stage.soak is not None
    ]
    swap = STANDARD.point_of_no_return.step
    text = f"minSoak {wording.names(waits)}"
    if rollout.window is not None:
        text += f", step {swap} only in the window {describe(rollout.window)}"
    missing = missing_approvals(STANDARD, spec, given.record)
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
    spec = given.spec
    which = f"the served certificate {wording.fingerprint(fingerprint)} expires {wording.when(expires)}"
    conditions = _conditions(given, spec)
    if given.rollout_active:
        plan = _timeline(given, spec)
        if plan.eta is None or plan.swap_at is None:
            return []
        if plan.eta > expires:
            return [
                Finding(
                    Reason.ROLLOUT_MUST_START_BY,
                    Severity.ERROR,
                    f"{which}, before this rollout can finish: at the earliest step {STANDARD.point_of_no_return.step} "
                    f"starts {wording.when(plan.swap_at)} and the rollout ends {wording.when(plan.eta)} ({conditions}); "
                    "clients see the expired certificate until the swap",
                    until=expires,
                )
            ]
        return [
            Finding(
                Reason.ROLLOUT_MUST_START_BY,
                Severity.INFO,
                f"{which}; this rollout can finish {wording.when(plan.eta)} at the earliest, "
                f"{wording.span(expires - plan.eta)} before ({conditions})",
                until=expires,
            )
        ]
    start_by = latest_start(STANDARD, spec, expires)
    earliest = timeline(STANDARD, spec, None, now=given.now).eta
    if start_by is None or earliest is None:
        return []
    what = (
        "a new certificate must be committed and its rollout started" if in_sync else "the rollout must start"
    )
    if start_by < given.now:
        return [
            Finding(
                Reason.ROLLOUT_MUST_START_BY,
                Severity.ERROR,
                f"{which}: {what} by {wording.when(start_by)} to finish in time, which has passed — started now it "
                f"ends {wording.when(earliest)} at the earliest ({conditions}); shorten "
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
