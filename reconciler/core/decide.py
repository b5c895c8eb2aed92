"""``decide``: the pure heart of the reconciler — one manager, one tick.

Inputs: the spec and its desired fingerprint, what was observed (or None), what is remembered (or None), the
records of the manager's replication partners, the spec revision and ``now``. Output: a :class:`Decision` — the
next phase, at most one action, a reason a person reads, a remedy when stalled, the record to persist, the events to
append and when to look again. No I/O, no clock reads: the same inputs always give the same decision.

How the engine drives it, per tick::

    record = store.get(name)
    observation = await observe(spec, since=record.acknowledgement_since if record else None)
    decision = decide(spec, desired, observation, record, now=clock.now(), spec_revision=specs.revision,
                      partners=partner_records(spec, all_specs, all_records))
    store.save(decision.record, decision.events)          # one transaction; compare-and-set on the version
    if decision.action and decision.action.performer is not Performer.MANUAL:
        result = await act(decision.action)               # hook or API call
        record, event = complete_attempt(saved, decision.action, now=clock.now(), succeeded=…, exit_code=…)
        store.save(record, [event])
    schedule(decision.next_check_at)

Rules it keeps (see ``docs/procedure.md``): unknown observations never move a server forward; report mode and
suspension never act; a stalled rollout is retried only by ``resume`` or a new spec revision; a rollout keeps the
procedure version it started with; a new desired certificate retargets before step 4 and queues after it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from reconciler.core import wording
from reconciler.core._context import Ctx, Outcome, Tuning
from reconciler.core.actions import Action
from reconciler.core.attempts import supersede_pending
from reconciler.core.checks import summarize
from reconciler.core.clock import require_aware
from reconciler.core.events import Event, EventKind
from reconciler.core.observation import ServerObservation
from reconciler.core.procedure import SUPPORTED_PROCEDURE_VERSIONS, Phase, Procedure, step_of
from reconciler.core.record import Facts, PendingAction, RolloutRecord, Stall, new_record
from reconciler.core.spec import ManagedServer, Mode
from reconciler.core.steps import (
    breaking_replication,
    disabling_verification,
    enabling_verification,
    restoring_replication,
    updating_certificate,
    waiting_unverified,
    waiting_verified,
)
from reconciler.core.sync import abort_requested, drifted, in_sync, rolling_back, stalled

__all__ = ["DEFAULT_TUNING", "Decision", "Tuning", "decide", "partner_records"]

DEFAULT_TUNING = Tuning()

_HANDLERS: Mapping[Phase, Callable[[Ctx], Outcome]] = {
    Phase.NEW: in_sync,
    Phase.IN_SYNC: in_sync,
    Phase.DRIFTED: drifted,
    Phase.BREAKING_REPLICATION: breaking_replication,
    Phase.DISABLING_VERIFICATION: disabling_verification,
    Phase.WAITING_UNVERIFIED: waiting_unverified,
    Phase.UPDATING_CERTIFICATE: updating_certificate,
    Phase.ENABLING_VERIFICATION: enabling_verification,
    Phase.WAITING_VERIFIED: waiting_verified,
    Phase.RESTORING_REPLICATION: restoring_replication,
    Phase.STALLED: stalled,
    Phase.ROLLING_BACK: rolling_back,
}


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do about one manager now.

    * ``record`` — persist it (with ``events``) *before* acting: it carries the pending attempt of ``action``;
    * ``action`` — at most one; ``None`` means nothing to do but wait (``reason`` says for what);
    * ``remedy`` — set when stalled: what a human does about it;
    * ``next_check_at`` — when to look again (soon after a move or while acting, long when in sync).
    """

    phase: Phase
    step: int
    reason: str
    remedy: str | None
    action: Action | None
    events: tuple[Event, ...]
    next_check_at: datetime
    record: RolloutRecord

    @property
    def facts(self) -> Facts:
        return self.record.facts

    @property
    def moved(self) -> bool:
        return any(e.kind is EventKind.TRANSITION for e in self.events)


def decide(
    spec: ManagedServer,
    desired_fingerprint: str,
    observation: ServerObservation | None,
    record: RolloutRecord | None,
    *,
    now: datetime,
    spec_revision: str,
    partners: Mapping[str, RolloutRecord] | None = None,
    tuning: Tuning = DEFAULT_TUNING,
    observation_error: str | None = None,
    keystore_error: str | None = None,
) -> Decision:
    """Decide the next phase and action of ``spec``'s manager. Pure: every input is an argument.

    ``partners`` maps each declared partner *site* to its manager's record when that manager is managed too (see
    :func:`partner_records`). ``observation`` None means the observation failed (``observation_error`` says why).
    ``keystore_error`` says why the keystore that step 4 installs (``spec.certificate.keystore``) cannot be used —
    it cannot be opened, or does not hold the desired certificate: a rollout then does not start, and step 4 does
    not begin, until it is fixed (finding it a week into a rollout is the worst moment).
    """
    now = require_aware(now, "now")
    previous = record or new_record(spec.name, now)
    if previous.server != spec.name:
        raise ValueError(f"record of {previous.server!r} given for server {spec.name!r}")
    ctx = Ctx(
        spec=spec,
        desired=desired_fingerprint,
        obs=observation,
        obs_error=observation_error,
        rec=replace(
            previous,
            desired_fingerprint=desired_fingerprint,
            observed=summarize(observation) if observation is not None else previous.observed,
        ),
        now=now,
        revision=spec_revision,
        partners=partners or {},
        tuning=tuning,
        keystore_error=keystore_error,
    )
    return _finish(ctx, previous, _route(ctx))


def _route(ctx: Ctx) -> Outcome:
    rec = ctx.rec
    if rec.rollout_id is not None and rec.procedure_version not in SUPPORTED_PROCEDURE_VERSIONS:
        return Outcome(
            f"rollout {rec.rollout_id} started with procedure version {rec.procedure_version}, which this "
            f"sepm-reconciler does not know (it knows {', '.join(map(str, sorted(SUPPORTED_PROCEDURE_VERSIONS)))}): "
            "holding; upgrade sepm-reconciler to continue it"
        )
    if (out := abort_requested(ctx)) is not None:
        return out
    if ctx.rec.phase is Phase.STALLED:
        return stalled(ctx)
    if ctx.rec.resume_request is not None:  # nothing stalled any more: the request is moot
        ctx.rec = replace(ctx.rec, resume_request=None)
    if ctx.obs is None:
        why = ctx.obs_error or "the observation failed"
        where = f"step {ctx.rec.step}" if ctx.rec.step else ctx.rec.phase.value.replace("_", " ")
        return Outcome(
            f"{where}: holding, not observed this time ({why}); nothing moves on an unknown observation"
        )
    holding = None
    if ctx.rec.suspension is not None:
        s = ctx.rec.suspension
        holding = (
            f"suspended by {s.by} at {wording.when(s.at)} ({s.reason}): sepm-reconciler resume {ctx.name}"
        )
    elif ctx.spec.spec.rollout.mode is Mode.REPORT:
        holding = "report mode (spec.rollout.mode: report): observing only, never acting"
    if holding is not None:
        if ctx.rec.phase in (Phase.NEW, Phase.IN_SYNC):
            return in_sync(ctx, holding=holding)
        if ctx.rec.phase is Phase.DRIFTED:
            return drifted(ctx, holding=holding)
        return Outcome(
            f"step {ctx.rec.step} ({ctx.rec.phase.value}): {holding}; the rollout holds and nothing is done"
        )
    return _HANDLERS[ctx.rec.phase](ctx)


def _default_next_check(ctx: Ctx, phase: Phase) -> datetime:
    tuning = ctx.tuning
    if phase is Phase.IN_SYNC:
        return ctx.later(tuning.idle_interval)
    # new: never seen in full yet (unreachable, a secret missing…): looked at again soon, not in an hour
    if phase in (Phase.NEW, Phase.DRIFTED, Phase.STALLED, Phase.WAITING_UNVERIFIED, Phase.WAITING_VERIFIED):
        return ctx.later(tuning.waiting_interval)
    return ctx.later(tuning.active_interval)


def _close_rollout(rec: RolloutRecord) -> RolloutRecord:
    """The rollout is over: forget its working memory (the event log keeps its story)."""
    return replace(
        rec,
        rollout_id=None,
        target_fingerprint=None,
        started_revision=None,
        procedure_version=None,
        started_at=None,
        facts=Facts(),
        attempts=(),
        approvals=(),
        abort_request=None,
        resume_request=None,
    )


def _finish(ctx: Ctx, previous: RolloutRecord, out: Outcome) -> Decision:
    rec = ctx.rec
    now = ctx.now
    events = list(ctx.events)
    remedy = out.remedy
    if out.move is not None:
        if out.action is not None:  # pragma: no cover - a programming error in a handler
            raise RuntimeError("a move carries no action: the next tick acts in the new phase")
        source = rec.phase
        dest = Procedure(source).fire(out.move, to=out.to)
        rollout = rec.rollout_id
        rec = replace(
            rec, phase=dest, entered_at=now, pending_action=None, attempts=supersede_pending(rec, now)
        )
        if dest is Phase.STALLED:
            rec = replace(
                rec,
                stalled_from=source,
                stall=Stall(code=out.stall_code or "stalled", reason=out.reason, remedy=remedy or "", at=now),
            )
        elif source is Phase.STALLED:
            rec = replace(rec, stalled_from=None, stall=None)
        if dest is Phase.IN_SYNC or (
            dest is Phase.DRIFTED and out.move in ("finish_superseded", "rolled_back")
        ):
            rec = _close_rollout(rec)
        if dest is Phase.IN_SYNC:
            rec = replace(rec, aborted=None)
        events.append(
            Event(
                at=now,
                server=ctx.name,
                kind=EventKind.TRANSITION,
                reason=out.reason,
                actor=out.actor,
                rollout_id=rollout,
                from_phase=source,
                to_phase=dest,
                details={"step": step_of(dest), "remedy": remedy} if remedy else {"step": step_of(dest)},
            )
        )
        next_check = out.next_check or now + ctx.tuning.after_move
    else:
        next_check = out.next_check or _default_next_check(ctx, rec.phase)
        if rec.phase is Phase.STALLED and remedy is None and rec.stall is not None:
            remedy = rec.stall.remedy
        pending = None
        if out.action is not None:
            a = out.action
            pending = PendingAction(a.kind, a.performer, a.step, a.summary, a.instructions, a.attempt)
        rec = replace(rec, pending_action=pending)
    if rec.phase is not Phase.STALLED or previous.phase is not Phase.STALLED:
        rec = replace(rec, spec_revision=ctx.revision)
    rec = replace(rec, reason=out.reason, updated_at=now, next_check_at=max(next_check, now))
    return Decision(
        phase=rec.phase,
        step=rec.step,
        reason=out.reason,
        remedy=remedy,
        action=out.action,
        events=tuple(events),
        next_check_at=rec.next_check_at,
        record=rec,
    )


def partner_records(
    server: ManagedServer, specs: Iterable[ManagedServer], records: Mapping[str, RolloutRecord]
) -> dict[str, RolloutRecord]:
    """``{partner site: record}`` for the declared partners of ``server`` that are managed (by site name)."""
    by_site = {s.spec.server.site: s.name for s in specs if s.name != server.name}
    found: dict[str, RolloutRecord] = {}
    for site in server.spec.replication.partners:
        name = by_site.get(site)
        if name is not None and name in records:
            found[site] = records[name]
    return found
