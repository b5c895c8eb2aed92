"""``decide``: the pure heart of the reconciler — one manager, one tick.

Inputs: the spec and its desired fingerprint, what was observed (or None), what is remembered (or None), the
records of the manager's replication partners, the spec revision and ``now``. Output: a :class:`Decision` — a typed
outcome (a move, a hold with its code, or an action), the record patch and the record it gives, the events to
append and when to look again. No I/O, no clock reads: the same inputs always give the same decision.

The procedure it follows is the table of :mod:`reconciler.core.procedure` (``procedure=`` runs another one, as the
tests that add a stage do); :mod:`reconciler.core.procedure.interpret` reads it.

How the engine drives it, per tick::

    record = store.get(name)
    observation = await observe(spec, since=acknowledgement_since(record))
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
procedure version it started with; a new desired certificate retargets before step 4 and queues after it; a manager
that cannot be observed fully is looked at again with a backoff counted in the record.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from typing import Any

from reconciler.core.actions import Action
from reconciler.core.attempts import AttemptKey, supersede_pending
from reconciler.core.checks import observation_problem, summarize
from reconciler.core.clock import require_aware
from reconciler.core.codes import Code
from reconciler.core.events import Event, EventKind
from reconciler.core.observation import ServerObservation
from reconciler.core.phase import Phase
from reconciler.core.procedure.given import Given, Tuning
from reconciler.core.procedure.interpret import interpret
from reconciler.core.procedure.machine import IllegalMove, Judge, machine_for
from reconciler.core.procedure.outcome import Act, Draft, Hold, Move, Outcome
from reconciler.core.procedure.table import STANDARD, Pace, Procedure
from reconciler.core.record import Facts, PendingAction, RolloutRecord, Stall, new_record
from reconciler.core.said import Said
from reconciler.core.sentences import remedy as remedy_of
from reconciler.core.sentences import sentence
from reconciler.core.site import SiteView
from reconciler.core.spec import ManagedServer
from reconciler.core.trust import NewCertificateTrust

__all__ = [
    "DEFAULT_TUNING",
    "Act",
    "Decision",
    "Hold",
    "Move",
    "Outcome",
    "Patch",
    "Tuning",
    "decide",
    "partner_names",
    "partner_records",
    "stall_now",
]

DEFAULT_TUNING = Tuning()


@dataclass(frozen=True, slots=True)
class Patch:
    """The fields of the record a decision changed, with their new values (``facts`` as a whole)."""

    changes: Mapping[str, Any]

    @classmethod
    def between(cls, before: RolloutRecord, after: RolloutRecord) -> Patch:
        return cls(
            {
                f.name: getattr(after, f.name)
                for f in fields(RolloutRecord)
                if getattr(after, f.name) != getattr(before, f.name)
            }
        )

    def apply(self, record: RolloutRecord) -> RolloutRecord:
        return replace(record, **self.changes)


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do about one manager now.

    * ``outcome`` — a move, a hold with its code, or an action (typed); ``code`` and ``reason`` say why;
    * ``patch`` — what changed in the record; ``record`` — the record with it (persist it, with ``events``, *before*
      acting: it carries the pending attempt of ``action``);
    * ``action`` — at most one; ``None`` means nothing to do but wait;
    * ``remedy`` — set when stalled: what a human does about it;
    * ``next_check_at`` — when to look again (soon after a move or while acting, long when in sync).
    """

    phase: Phase
    step: int
    code: Code
    reason: str
    remedy: str | None
    action: Action | None
    events: tuple[Event, ...]
    next_check_at: datetime
    record: RolloutRecord
    outcome: Outcome
    patch: Patch

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
    hook_error: str | None = None,
    retry_after: timedelta | None = None,
    procedure: Procedure = STANDARD,
    alive: frozenset[AttemptKey] = frozenset(),
    trust: NewCertificateTrust | None = None,
    site: SiteView | None = None,
    others: Mapping[str, RolloutRecord] | None = None,
) -> Decision:
    """Decide the next phase and action of ``spec``'s manager. Pure: every input is an argument.

    ``partners`` maps each declared partner *site* to its manager's record when that manager is managed too (see
    :func:`partner_records`). ``observation`` None means the observation failed (``observation_error`` says why);
    ``retry_after`` is how long the manager asked not to be called again. ``keystore_error`` says why the keystore
    that step 4 installs (``spec.certificate.keystore``) cannot be used — it cannot be opened, or does not hold the
    desired certificate: a rollout then does not start, and step 4 does not begin, until it is fixed. ``trust``
    says whether the desired certificate will be trusted on the API port once served (from the spec's files): when
    it would not be, the rollout does not start and step 4a does not begin (``NewCertificateUntrusted``).
    ``hook_error`` says why a hook of the spec cannot run (its program not found or not executable): a rollout
    does not start until it is fixed. ``alive``: the attempts whose hook process group the caller saw running
    (never judged lost, no attempt beside them). ``site``: the server's site and the earlier waves
    (:func:`reconciler.core.site.site_view`); None: a site of its own, in the first wave. ``others``: the record
    of every other managed server, by name (a canary analysis that failed on one of them holds this server's
    swap).
    """
    now = require_aware(now, "now")
    previous = record or new_record(spec.name, now)
    if previous.server != spec.name:
        raise ValueError(f"record of {previous.server!r} given for server {spec.name!r}")
    working = replace(
        previous,
        desired_fingerprint=desired_fingerprint,
        observed=summarize(observation, previous.observed) if observation is not None else previous.observed,
    )
    given = Given(
        procedure=procedure,
        spec=spec,
        desired=desired_fingerprint,
        observation=observation,
        record=working,
        now=now,
        revision=spec_revision,
        tuning=tuning,
        partners=partners or {},
        observation_error=observation_error,
        keystore_error=keystore_error,
        hook_error=hook_error,
        alive=alive,
        trust=trust,
        site=site,
        others={k: v for k, v in (others or {}).items() if k != spec.name},
    )
    outcome, draft = interpret(given)
    return _finish(given, previous, outcome, draft, retry_after)


def stall_now(
    spec: ManagedServer,
    desired_fingerprint: str,
    observation: ServerObservation | None,
    record: RolloutRecord,
    said: Said,
    *,
    now: datetime,
    spec_revision: str,
    procedure: Procedure = STANDARD,
    tuning: Tuning = DEFAULT_TUNING,
) -> Decision:
    """The rollout stalls at once because an action found what no retry can fix (a settings PATCH that changed other
    fields: ``CollateralSettingsChange``). The same move as any stall ``decide`` makes — the table's ``stall``
    transition, the stall's code, sentence and remedy, a transition event — so ``status``, reports, metrics and
    ``resume`` treat it alike. Pure; raises :class:`IllegalMove` when ``record``'s phase cannot stall."""
    now = require_aware(now, "now")
    given = Given(
        procedure=procedure,
        spec=spec,
        desired=desired_fingerprint,
        observation=observation,
        record=record,
        now=now,
        revision=spec_revision,
        tuning=tuning,
        partners={},
        observation_error=None,
        keystore_error=None,
    )
    transition = machine_for(procedure).fire(record.phase, "stall", Judge(given))
    if transition is None:  # pragma: no cover - the stall move has no guard
        raise IllegalMove(f"no stall from {record.phase.value}")
    label = procedure.stage(record.phase).label if procedure.has(record.phase) else record.phase.value
    move = Move(transition, said.but(where=label, server=spec.name))
    return _finish(given, record, move, Draft(record), None)


def _pace(given: Given, phase: Phase) -> datetime:
    tuning = given.tuning
    pace = given.procedure.stage(phase).pace if given.procedure.has(phase) else Pace.WAITING
    interval = {
        Pace.IDLE: tuning.idle_interval,
        Pace.WAITING: tuning.waiting_interval,
        Pace.ACTIVE: tuning.active_interval,
    }[pace]
    return given.later(interval)


def _close_rollout(record: RolloutRecord) -> RolloutRecord:
    """The rollout is over: forget its working memory (the event log keeps its story)."""
    return replace(
        record,
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


def _move(given: Given, move: Move, draft: Draft) -> tuple[RolloutRecord, Event, str | None]:
    record = draft.record
    now = given.now
    source, dest = record.phase, move.transition.dest
    rollout = record.rollout_id
    record = replace(
        record, phase=dest, entered_at=now, pending_action=None, attempts=supersede_pending(record, now)
    )
    remedy = remedy_of(move.said) if dest is Phase.STALLED else None
    reason = sentence(move.said)
    if dest is Phase.STALLED:
        stall = Stall(code=move.said.code.value, reason=reason, remedy=remedy or "", at=now)
        record = replace(record, stalled_from=source, stall=stall)
    elif source is Phase.STALLED:
        record = replace(record, stalled_from=None, stall=None)
    exit_ = move.transition.exit
    if dest is Phase.IN_SYNC or (exit_ is not None and exit_.closes):
        record = _close_rollout(record)
    if dest is Phase.IN_SYNC:
        record = replace(record, aborted=None)
    details: dict[str, Any] = {"step": given.procedure.number_of(dest), "code": move.said.code.value}
    if remedy:
        details["remedy"] = remedy
    event = Event(
        at=now,
        server=given.name,
        kind=EventKind.TRANSITION,
        reason=reason,
        actor=move.actor,
        rollout_id=rollout,
        from_phase=source,
        to_phase=dest,
        details=details,
    )
    return record, event, remedy


def _finish(
    given: Given, previous: RolloutRecord, outcome: Outcome, draft: Draft, retry_after: timedelta | None
) -> Decision:
    now = given.now
    events = list(draft.events)
    action: Action | None = None
    if isinstance(outcome, Move):
        record, event, remedy = _move(given, outcome, draft)
        events.append(event)
        next_check = now + given.tuning.after_move
    else:
        record = draft.record
        pending = None
        if isinstance(outcome, Act):
            action = outcome.action
            pending = PendingAction(
                action.kind,
                action.performer,
                action.step,
                action.summary,
                action.instructions,
                action.attempt,
            )
        record = replace(record, pending_action=pending)
        next_check = outcome.until or _pace(given, record.phase)
        remedy = record.stall.remedy if record.phase is Phase.STALLED and record.stall is not None else None
    said = outcome.said
    if record.phase is not Phase.STALLED or previous.phase is not Phase.STALLED:
        record = replace(record, spec_revision=given.revision)
    failures = 0
    if observation_problem(given.observation) is not None:
        failures = previous.observation_failures + 1
        if action is None:
            next_check = max(next_check, now + given.tuning.observation_backoff(failures))
            if retry_after is not None:
                next_check = max(next_check, now + retry_after)
    code = said.code
    reason = sentence(said)
    record = replace(
        record,
        reason=reason,
        code=code.value,
        updated_at=now,
        next_check_at=max(next_check, now),
        observation_failures=failures,
        approval_steps=given.procedure.approvals_required(given.spec),
    )
    return Decision(
        phase=record.phase,
        step=given.procedure.step_of(record),
        code=code,
        reason=reason,
        remedy=remedy,
        action=action,
        events=tuple(events),
        next_check_at=record.next_check_at,
        record=record,
        outcome=outcome,
        patch=Patch.between(previous, record),
    )


def partner_names(server: ManagedServer, specs: Iterable[ManagedServer]) -> dict[str, str]:
    """``{partner site: server name}`` for the declared partners of ``server`` that are managed (by site name):
    the records a tick of ``server`` reads besides its own."""
    by_site = {s.spec.server.site: s.name for s in specs if s.name != server.name}
    return {site: by_site[site] for site in server.spec.replication.partners if site in by_site}


def partner_records(
    server: ManagedServer, specs: Iterable[ManagedServer], records: Mapping[str, RolloutRecord]
) -> dict[str, RolloutRecord]:
    """``{partner site: record}`` for the declared partners of ``server`` that are managed (by site name). A partner
    site served by several managed servers is represented by one of them that is half-rotated, if any."""
    by_site: dict[str, list[str]] = {}
    for s in specs:
        if s.name != server.name:
            by_site.setdefault(s.spec.server.site, []).append(s.name)
    found: dict[str, RolloutRecord] = {}
    for site in server.spec.replication.partners:
        known = [records[n] for n in sorted(by_site.get(site, ())) if n in records]
        if known:
            found[site] = next((r for r in known if STANDARD.rotating(r)), known[0])
    return found
