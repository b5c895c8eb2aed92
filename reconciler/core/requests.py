"""What operators ask for — approve, suspend, resume, abort — as pure changes of a record plus the event that
records who asked and why. Refusals raise :class:`~reconciler.errors.PermanentError` with a sentence to act on.

Approvals and suspension take effect at the next decision; ``resume`` of a stalled rollout and ``abort`` are
*requests* the next decision carries out (it re-checks them against what it observes). Each change sets
``next_check_at`` to now so the engine looks at the server promptly.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from reconciler.core import wording
from reconciler.core.events import Event, EventKind
from reconciler.core.phase import Phase
from reconciler.core.procedure.interpret import rollback_refusal as _refusal
from reconciler.core.procedure.table import STANDARD
from reconciler.core.record import Approval, Request, RolloutRecord
from reconciler.core.sentences import sentence
from reconciler.errors import PermanentError

__all__ = [
    "AT_RISK_STEPS",
    "approve",
    "carried_forward",
    "carries_forward",
    "existing_approval",
    "request_abort",
    "resume",
    "rollback_refusal",
    "suspend",
]

AT_RISK_STEPS = STANDARD.accept_at_risk_steps
"""``--accept-at-risk`` applies to the steps that follow a wait for clients (4, 5 and 7)."""


def _event(
    record: RolloutRecord, now: datetime, kind: EventKind, reason: str, actor: str, **details: object
) -> Event:
    return Event(
        at=now,
        server=record.server,
        kind=kind,
        reason=reason,
        actor=actor,
        rollout_id=record.rollout_id,
        from_phase=record.phase,
        to_phase=record.phase,
        details={k: v for k, v in details.items() if isinstance(v, str | int | float | bool) or v is None},
    )


def _touch(record: RolloutRecord, now: datetime) -> RolloutRecord:
    return replace(record, updated_at=now, next_check_at=now)


def _require(text: str, what: str) -> str:
    if not text.strip():
        raise PermanentError(f"{what} must not be empty")
    return text.strip()


def rollback_refusal(record: RolloutRecord) -> str | None:
    """None when the rollout can still be rolled back; else why not (a sentence for the operator)."""
    refusal = _refusal(STANDARD, record)
    return None if refusal is None else sentence(refusal)


def _needs(record: RolloutRecord, step: int) -> str:
    """What ``step`` of ``record``'s rollout waits for, as of the last decision (for a refusal)."""
    required = record.approval_steps or ()
    listed = ", ".join(map(str, required)) if required else "no step"
    return f"spec.rollout.approvals lists {listed} (as of the last check, {wording.when(record.updated_at)})"


def _already(record: RolloutRecord, step: int, accept_at_risk: bool, at_risk: int | None) -> Approval | None:
    """A current approval of ``step`` that covers what is asked (the same kind; at least as many clients)."""
    for given in record.current_approvals():
        if given.step != step or given.accept_at_risk != accept_at_risk:
            continue
        if not accept_at_risk or (given.at_risk_accepted or 0) >= (at_risk or 0):
            return given
    return None


def approve(
    record: RolloutRecord,
    *,
    step: int,
    by: str,
    reason: str,
    now: datetime,
    accept_at_risk: bool = False,
) -> tuple[RolloutRecord, Event | None]:
    """Approve ``step`` of the current rollout (a permanent record: who, why, when, towards which certificate).

    Refused when the step needs nothing: a plain approval of a step the spec does not list in
    ``rollout.approvals`` (as the last decision recorded it, through the table's approval gates), an acceptance of
    clients at risk when none is. Idempotent: when an approval that covers the request is already recorded, nothing
    changes and the event is None. An acceptance names the clients (when every one is listed) so that a later step
    waiting on the same clients goes on without a second acceptance.

    While the rollout waits in a manual list sub-step (2a, 5b) on a manager that does not show lists, an approval of
    that step confirms the operator assigned the list (:func:`reconciler.core.procedure.lists.assigned`)."""
    last = STANDARD.step_count
    if step not in range(1, last + 1):
        raise PermanentError(f"--step must be a step of the procedure, 1 to {last} (got {step})")
    by = _require(by, "--by")
    reason = _require(reason, "--reason")
    if record.rollout_id is None or record.target_fingerprint is None:
        raise PermanentError(
            f"{record.server} has no rollout in progress ({record.phase.value}): nothing to approve"
        )
    current = record.step
    confirming = bool(current) and step == current and STANDARD.confirms(record) and not accept_at_risk
    if current and step <= current and not confirming:
        raise PermanentError(
            f"step {step} of rollout {record.rollout_id} has already started (the rollout is at step "
            f"{record.substep or current}); approvals gate the start of a step (and confirm the manual list sub-steps "
            "2a and 5b while they wait)"
        )
    at_risk: int | None = None
    names: tuple[str, ...] = ()
    if accept_at_risk:
        if step not in AT_RISK_STEPS:
            steps = " and ".join(map(str, AT_RISK_STEPS))
            raise PermanentError(
                f"--accept-at-risk applies to steps {steps}, the steps that follow a wait for clients "
                f"(got step {step})"
            )
        observed = record.observed
        at_risk = observed.at_risk_count if observed else None
        if at_risk is None:
            raise PermanentError(
                f"no client count has been observed for {record.server} yet: there is nothing to accept; "
                "wait for the next observation"
            )
        if at_risk == 0:
            raise PermanentError(
                f"no client of {record.server} is at risk (last observed {wording.when(observed.observed_at)}): "
                f"there is nothing to accept; step {step} waits only for what `status` says"
                if observed
                else f"no client of {record.server} is at risk: there is nothing to accept"
            )
        if observed is not None and observed.at_risk_listed:
            names = tuple(c.name for c in observed.at_risk_clients)
    elif not confirming and record.approval_steps is not None and step not in record.approval_steps:
        hint = (
            "; to accept the clients at risk before it, add --accept-at-risk" if step in AT_RISK_STEPS else ""
        )
        raise PermanentError(
            f"step {step} of {record.server} needs no approval: {_needs(record, step)}{hint}"
        )
    if _already(record, step, accept_at_risk, at_risk) is not None:
        return record, None
    approval = Approval(
        step=step,
        by=by,
        reason=reason,
        at=now,
        rollout_id=record.rollout_id,
        fingerprint=record.target_fingerprint,
        accept_at_risk=accept_at_risk,
        at_risk_accepted=at_risk,
        at_risk_names=names,
    )
    text = f"step {step} {'confirmed' if confirming else 'approved'} by {by}: {reason}"
    if accept_at_risk:
        text += f" (accepting {wording.count(at_risk or 0)} client(s) at risk)"
    updated = _touch(replace(record, approvals=(*record.approvals, approval)), now)
    return updated, _event(
        record,
        now,
        EventKind.APPROVAL,
        text,
        by,
        step=step,
        fingerprint=record.target_fingerprint,
        accept_at_risk=accept_at_risk,
        at_risk_accepted=at_risk,
    )


def existing_approval(record: RolloutRecord, step: int, *, accept_at_risk: bool = False) -> Approval | None:
    """The current approval of ``step`` that an idempotent ``approve`` found (for its message)."""
    at_risk = record.observed.at_risk_count if record.observed else None
    return _already(record, step, accept_at_risk, at_risk)


def carries_forward(approval: Approval) -> tuple[int, ...]:
    """The later steps an acceptance of clients at risk also covers, when the same clients (by name) are all
    that is at risk there."""
    if not approval.accept_at_risk or not approval.names_complete:
        return ()
    return tuple(s for s in AT_RISK_STEPS if s > approval.step)


def carried_forward(record: RolloutRecord) -> list[str]:
    """What ``plan`` says about acceptances of clients at risk that also cover later steps of this rollout (for the
    same clients, by name) — one sentence per acceptance that still has a step ahead."""
    said = []
    for approval in record.current_approvals():
        ahead = [s for s in carries_forward(approval) if s > record.step]
        if ahead:
            steps = ("steps " if len(ahead) > 1 else "step ") + " and ".join(map(str, ahead))
            verb = "go" if len(ahead) > 1 else "goes"
            said.append(
                f"{wording.count(len(approval.at_risk_names))} client(s) at risk accepted at step {approval.step} by "
                f"{approval.by}, by name: {steps} {verb} on without a second acceptance while only the same clients "
                "are at risk"
            )
    return said


def suspend(record: RolloutRecord, *, by: str, reason: str, now: datetime) -> tuple[RolloutRecord, Event]:
    """Hold every action and every move forward until ``resume`` (drift is still observed and reported)."""
    by = _require(by, "--by")
    reason = _require(reason, "--reason")
    if record.suspension is not None:
        s = record.suspension
        raise PermanentError(
            f"{record.server} is already suspended (by {s.by} at {wording.when(s.at)}: {s.reason})"
        )
    updated = _touch(replace(record, suspension=Request(by=by, at=now, reason=reason)), now)
    return updated, _event(record, now, EventKind.SUSPENDED, f"suspended by {by}: {reason}", by)


def resume(record: RolloutRecord, *, by: str, now: datetime, reason: str = "") -> tuple[RolloutRecord, Event]:
    """Lift a suspension, ask a stalled rollout to continue (from the step it stalled in, attempts counted afresh),
    and/or allow an aborted rollout to start again. Refused when there is nothing to resume."""
    by = _require(by, "--by")
    done = []
    updated = record
    if record.suspension is not None:
        updated = replace(updated, suspension=None)
        done.append("suspension lifted")
    if record.phase is Phase.STALLED:
        updated = replace(updated, resume_request=Request(by=by, at=now, reason=reason))
        done.append(f"stalled rollout asked to continue at step {record.step}")
    if record.aborted is not None:
        updated = replace(updated, aborted=None)
        done.append("aborted rollout allowed to start again")
    if not done:
        raise PermanentError(
            f"nothing to resume: {record.server} is not suspended, stalled or aborted ({record.phase.value})"
        )
    kind = EventKind.RESUME_REQUESTED if record.phase is Phase.STALLED else EventKind.RESUMED
    text = f"resumed by {by}: {'; '.join(done)}" + (f" ({reason})" if reason else "")
    return _touch(updated, now), _event(record, now, kind, text, by)


def request_abort(
    record: RolloutRecord, *, by: str, reason: str, now: datetime
) -> tuple[RolloutRecord, Event]:
    """Ask to abort: before step 4 acts, the next decision rolls back (verification, then replication); from then on
    it is refused here, and again by the decision if the rollout got there meanwhile."""
    by = _require(by, "--by")
    reason = _require(reason, "--reason")
    if (refusal := rollback_refusal(record)) is not None:
        raise PermanentError(f"abort refused: {refusal}")
    if record.abort_request is not None:
        raise PermanentError(
            f"an abort of {record.server} was already requested by {record.abort_request.by} at "
            f"{wording.when(record.abort_request.at)}"
        )
    updated = _touch(replace(record, abort_request=Request(by=by, at=now, reason=reason)), now)
    return updated, _event(record, now, EventKind.ABORT_REQUESTED, f"abort requested by {by}: {reason}", by)
