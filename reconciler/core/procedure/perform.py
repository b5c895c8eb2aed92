"""Turning a stage's :class:`~reconciler.core.procedure.verdicts.Work` (its effect is not observed) into at most one
action: manual instructions, a hook attempt or an API attempt — attempts recorded before they run, backoff, the
gates an action waits on, and a stall after the last attempt."""

from __future__ import annotations

from dataclasses import replace

from reconciler.core.actions import Performer
from reconciler.core.attempts import AttemptPolicy, VerdictKind, review
from reconciler.core.codes import Code
from reconciler.core.events import EventKind
from reconciler.core.procedure.gates import Gate
from reconciler.core.procedure.machine import Judge, machine_for
from reconciler.core.procedure.outcome import Act, Draft, Hold, Move, Outcome
from reconciler.core.procedure.table import Stage
from reconciler.core.procedure.verdicts import Build, Emit, Failed, Passed, Work
from reconciler.core.record import Attempt
from reconciler.core.said import Said
from reconciler.core.spec import CommandAction

__all__ = ["perform"]


def _gated(judge: Judge, stage: Stage, work: Work, gates: list[Gate]) -> Hold | None:
    """The first of ``gates`` that holds ``work`` back, as a hold, or None."""
    given = judge.given
    for gate in gates:
        verdict = judge.verdict(gate.check)
        if isinstance(verdict, Passed):
            continue
        until = given.later(given.tuning.waiting_interval)
        if isinstance(verdict, Failed) and verdict.until is not None:
            until = min(until, verdict.until)
        said = verdict.said.but(where=stage.label)
        if not gate.before_review:
            said = said.but(holds_action=work.waiting.but(kind=work.kind, subject=work.subject))
        return Hold(said, until)
    return None


def perform(judge: Judge, stage: Stage, work: Work, draft: Draft) -> tuple[Outcome, Draft]:
    """Decide the action for ``work``, whose effect is not observed (the caller checked)."""
    given = judge.given
    tuning = given.tuning
    gates = [g for g in stage.inside if g.holds(work.kind)]
    if (held := _gated(judge, stage, work, [g for g in gates if g.before_review])) is not None:
        return held, draft
    later_gates = [g for g in gates if not g.before_review]
    named = {**work.waiting.facts, "kind": work.kind, "subject": work.subject}
    if work.how == "manual":
        if (held := _gated(judge, stage, work, later_gates)) is not None:
            return held, draft
        action = work.build(Build(Performer.MANUAL, 0, 0, (), None))
        said = Said(
            Code.MANUAL_STEP_PENDING,
            {"where": stage.label, "summary": action.summary, "waiting": work.waiting},
        )
        return Act(action, said, given.later(tuning.active_interval)), draft
    if isinstance(work.how, CommandAction):
        policy = AttemptPolicy(
            Performer.COMMAND, work.how.timeout, work.how.max_attempts, tuning.effect_grace
        )
        command = tuple(work.how.command)
    else:
        policy = AttemptPolicy(
            Performer.API, tuning.api_timeout, tuning.api_max_attempts, tuning.effect_grace
        )
        command = ()
    verdict = review(
        draft.record,
        server=given.name,
        step=work.step,
        kind=work.kind,
        subject=work.subject,
        policy=policy,
        now=given.now,
        backoff=tuning.backoff,
        about=named,
        alive=given.alive,
        recheck=tuning.active_interval,
    )
    draft = Draft(replace(draft.record, attempts=verdict.attempts), draft.events).add(verdict.events)
    if verdict.kind is VerdictKind.EXHAUSTED:
        said = Said(work.failed, {**work.remedy.facts, **verdict.said.facts, "where": stage.label})
        stall = machine_for(given.procedure).fire(stage.phase, "stall", judge)
        assert stall is not None  # noqa: S101 - an unguarded move
        return Move(stall, said), draft
    if verdict.kind in (VerdictKind.WAIT, VerdictKind.RETRY_LATER):
        # while an effect may show, look often; while backing off, now and then (an operator may fix it)
        interval = tuning.active_interval if verdict.kind is VerdictKind.WAIT else tuning.waiting_interval
        until = min(verdict.until or given.later(interval), given.later(interval))
        return Hold(verdict.said.but(where=stage.label, waiting=work.waiting), until), draft
    if (held := _gated(judge, stage, work, later_gates)) is not None:
        return held, draft
    number = verdict.number
    action = work.build(Build(policy.performer, number, policy.max_attempts, command, policy.timeout))
    attempt = Attempt(
        rollout_id=draft.record.rollout_id or "",
        step=work.step,
        kind=work.kind,
        number=number,
        performer=policy.performer,
        started_at=given.now,
        deadline=given.now + policy.timeout,
        subject=work.subject,
    )
    via = "running the hook" if policy.performer is Performer.COMMAND else "calling the SEPM API"
    facts = {
        "summary": action.summary,
        "number": number,
        "try": verdict.failures + 1,
        "max": policy.max_attempts,
        "via": via,
    }
    started = Emit(
        EventKind.ATTEMPT_STARTED,
        Said(Code.ACTION_STARTED, {**facts, "timeout": policy.timeout, "event": True}),
        {
            "step": work.step,
            "action": work.kind.value,
            "attempt": number,
            "performer": policy.performer.value,
        },
    )
    draft = (
        draft.set(attempts=(*draft.record.attempts, attempt)).emit(started, given).apply(work.started, given)
    )
    said = Said(Code.ACTION_STARTED, {**facts, "where": stage.label, "waiting": work.waiting})
    return Act(action, said, given.later(tuning.active_interval)), draft
