"""``decide``'s interpreter: route, then the stage's reverts → done → gates → act or wait — all read from the table.

1. **route** — a rollout started by an unknown procedure version holds; an operator's abort rolls back (or is
   refused); a stalled rollout holds until ``resume`` or a new spec revision; an observation that failed holds; a
   suspension or report mode holds a rollout under way;
2. the stage's **notes** (what it records before judging: a port that changed, a new target);
3. the **machine** fires ``advance``: its ordered transitions try the stage's reverts, then its exits (done check,
   the exit's own checks, the entry gates of where it leads) — the first whose guards pass is the move;
4. when nothing moved, the same verdicts **explain** why: an unknown holds, a stuck check stalls, work not done acts
   (or waits for its attempt), a closed gate holds with its code.

It returns the outcome and the draft (the working record and events); nothing is mutated.
"""

from __future__ import annotations

from reconciler.core.actions import ActionKind
from reconciler.core.codes import Code
from reconciler.core.events import RECONCILER, EventKind
from reconciler.core.phase import SUPPORTED_PROCEDURE_VERSIONS, Phase
from reconciler.core.procedure import domains, gates
from reconciler.core.procedure.given import Given
from reconciler.core.procedure.machine import Judge, machine_for
from reconciler.core.procedure.outcome import Draft, Hold, Move, Outcome
from reconciler.core.procedure.perform import perform
from reconciler.core.procedure.site import site_refusal
from reconciler.core.procedure.table import Exit, Procedure, Stage, Transition
from reconciler.core.procedure.verdicts import Change, Emit, Failed, Passed, Stuck, Unknown, Verdict
from reconciler.core.record import Aborted, RolloutRecord
from reconciler.core.said import Said
from reconciler.core.sentences import sentence

__all__ = ["interpret", "rollback_refusal"]


def rollback_refusal(procedure: Procedure, record: RolloutRecord) -> Said | None:
    """None when the rollout can still be rolled back; else why not (code ``AbortRefused``)."""
    phase = record.working_phase
    facts: dict[str, object] = {"server": record.server, "phase": record.phase.value}
    if record.phase in (Phase.NEW, Phase.IN_SYNC) or (
        record.rollout_id is None and phase is not Phase.DRIFTED
    ):
        return Said(Code.ABORT_REFUSED, {**facts, "why": "none"})
    if phase is Phase.ROLLING_BACK:
        return Said(Code.ABORT_REFUSED, {**facts, "why": "rolling_back"})
    if phase is Phase.DRIFTED:
        return None
    step = procedure.number_of(phase)
    facts["step"] = step
    if procedure.past_no_return(phase) or not procedure.stage(phase).reversible:
        return Said(Code.ABORT_REFUSED, {**facts, "why": "past"})
    if record.facts.certificate_changed_at is not None:
        return Said(
            Code.ABORT_REFUSED, {**facts, "why": "changed", "since": record.facts.certificate_changed_at}
        )
    if procedure.stage(phase).point_of_no_return:
        started = [
            a
            for a in record.attempts
            if a.rollout_id == record.rollout_id and a.kind is ActionKind.UPDATE_CERTIFICATE
        ]
        shown = (
            record.pending_action is not None and record.pending_action.kind is ActionKind.UPDATE_CERTIFICATE
        )
        if started:
            return Said(
                Code.ABORT_REFUSED,
                {**facts, "why": "begun", "attempt": started[-1].number, "started": started[-1].started_at},
            )
        if shown:
            return Said(Code.ABORT_REFUSED, {**facts, "why": "begun"})
    return None


# --- routing -------------------------------------------------------------------------------------------------------


def _abort(given: Given, draft: Draft) -> tuple[Draft, Outcome | None]:
    """Carry out (or refuse) an operator's abort. None: nothing moves because of it."""
    record = draft.record
    request = record.abort_request
    if request is None:
        return draft, None
    draft = draft.set(abort_request=None)
    machine = machine_for(given.procedure)
    refusal = rollback_refusal(given.procedure, record) or site_refusal(given)
    if refusal is not None:
        said = refusal.but(by=request.by)
        return draft.emit(Emit(EventKind.ABORT_REFUSED, said, actor=request.by), given), None
    target = record.target_fingerprint or given.desired
    revision = record.spec_revision or given.revision
    draft = draft.set(aborted=Aborted(request.by, request.at, request.reason, target, revision))
    who = {"by": request.by, "reason": request.reason}
    if record.working_phase is Phase.DRIFTED:
        draft = draft.emit(
            Emit(EventKind.ABORTED, Said(Code.ABORTED, {**who, "before_any_step": True}), actor=request.by),
            given,
        )
        said = Said(Code.ABORTED, {**who, "nothing_changed": True})
        if record.phase is Phase.STALLED:
            move = machine.fire(Phase.STALLED, "resume", Judge(given, resume_to=Phase.DRIFTED))
            assert move is not None  # noqa: S101 - resume to a stallable stage is in every table
            return draft, Move(move, said, actor=request.by)
        return draft, Hold(said)
    said = Said(Code.ABORT_REQUESTED, {**who, "step": record.step})
    draft = draft.apply(
        Change(facts={"rollback_reason": sentence(said), "step_started_manager_time": given.manager_time}),
        given,
    )
    move = machine.fire(record.phase, "roll_back", Judge(given.with_record(draft.record)))
    assert move is not None  # noqa: S101 - rollback_refusal checked the phase
    return draft, Move(move, said.but(restoring=True), actor=request.by)


def _stalled(given: Given, draft: Draft) -> tuple[Outcome, Draft]:
    """Hold with the stall's reason and remedy until ``resume`` — or a new spec revision, which is a new attempt."""
    record = draft.record
    back_to = record.stalled_from or Phase.DRIFTED
    facts: dict[str, object] = {"phase": back_to.value, "step": record.step}
    if record.resume_request is not None:
        facts |= {"by": record.resume_request.by, "reason": record.resume_request.reason}
    elif record.spec_revision is not None and record.spec_revision != given.revision:
        facts |= {"revision": given.revision}
    else:
        stall = record.stall
        code = next((c for c in Code if stall is not None and c.value == stall.code), Code.UNRECORDED)
        return Hold(Said(code, {"recorded": stall.reason if stall else "stalled"})), draft
    draft = draft.set(resume_request=None)
    move = machine_for(given.procedure).fire(Phase.STALLED, "resume", Judge(given, resume_to=back_to))
    assert move is not None  # noqa: S101 - the record stalled from a stallable stage
    actor = record.resume_request.by if record.resume_request is not None else RECONCILER
    return Move(move, Said(Code.RESUMED, facts), actor=actor), draft


def interpret(given: Given) -> tuple[Outcome, Draft]:
    """The outcome of one decision and the draft it leaves (apply the outcome to it to get the new record)."""
    procedure = given.procedure
    record = given.record
    draft = Draft(record)
    if record.rollout_id is not None and record.procedure_version not in SUPPORTED_PROCEDURE_VERSIONS:
        known = ", ".join(map(str, sorted(SUPPORTED_PROCEDURE_VERSIONS)))
        facts = {"rollout_id": record.rollout_id, "version": record.procedure_version, "known": known}
        return Hold(Said(Code.PROCEDURE_VERSION_UNKNOWN, facts)), draft
    draft, aborting = _abort(given, draft)
    if aborting is not None:
        return aborting, draft
    given = given.with_record(draft.record)
    if record.phase is Phase.STALLED:
        return _stalled(given, draft)
    if draft.record.resume_request is not None:  # nothing stalled any more: the request is moot
        draft = draft.set(resume_request=None)
        given = given.with_record(draft.record)
    stage = procedure.stage(draft.record.phase)
    if given.observation is None:
        why = given.observation_error or "the observation failed"
        return Hold(
            Said(Code.OBSERVATION_UNKNOWN, {"what": "observation", "error": why, "where": stage.label})
        ), draft
    if stage.in_rollout:
        for gate in (gates.not_suspended, gates.enforcing, domains.domains_visible):
            verdict = gate.check(given)
            if not isinstance(verdict, Passed):
                return Hold(verdict.said.but(where=stage.label, phase=stage.phase.value)), draft
        draft = draft.apply(domains.remember_domains(given), given)
        given = given.with_record(draft.record)
    return _stage(given, stage, draft)


# --- one stage -----------------------------------------------------------------------------------------------------


def _stage(given: Given, stage: Stage, draft: Draft) -> tuple[Outcome, Draft]:
    for note in stage.notes:
        draft = draft.apply(note(given.with_record(draft.record)), given)
    judge = Judge(given.with_record(draft.record))
    transition = machine_for(given.procedure).fire(stage.phase, "advance", judge)
    if transition is not None:
        said, change = _why_moved(judge, stage, transition)
        return Move(transition, said), draft.apply(change, judge.given)
    return _explain(judge, stage, draft)


def _moved_facts(procedure: Procedure, dest: Phase) -> dict[str, object]:
    return {"to": dest.value, "to_step": procedure.number_of(dest), "next": procedure.stage(dest).title}


def _why_moved(judge: Judge, stage: Stage, transition: Transition) -> tuple[Said, Change]:
    """The reason of a move the machine made, and what it records."""
    procedure = judge.given.procedure
    dest = transition.dest
    if transition.revert is not None:
        verdict = judge.verdict(transition.revert.check)
        assert isinstance(verdict, Passed)  # noqa: S101 - the guard passed
        facts = {"where": stage.label, "to_step": procedure.number_of(dest)}
        return verdict.said.but(**facts), verdict.change
    exit_ = transition.exit
    assert exit_ is not None  # noqa: S101 - advance moves are reverts or exits
    done = judge.verdict(stage.done)
    assert isinstance(done, Passed)  # noqa: S101 - the guard passed
    change = done.change
    facts = dict(done.said.facts)
    for check in exit_.also:
        verdict = judge.verdict(check)
        assert isinstance(verdict, Passed)  # noqa: S101 - the guard passed
        facts |= verdict.said.facts
        change = change.then(verdict.change)
    if exit_.then is not None:
        change = change.then(exit_.then(judge.given))
    said = Said(exit_.code or done.said.code, facts).but(**_moved_facts(procedure, dest))
    if procedure.number_of(dest) and procedure.number_of(stage.phase):
        said = said.but(forward=True)
    if exit_.held:
        gate = _closed_gate(judge, stage, exit_)
        if gate is not None:
            if isinstance(gate, Failed):
                change = change.then(gate.change)
            said = gate.said.but(after=done.said, where=stage.label)
    return said, change


def _closed_gate(judge: Judge, stage: Stage, held: Exit) -> Verdict | None:
    """Why the exits before ``held`` were not taken: the first gate of theirs that is not open."""
    procedure = judge.given.procedure
    for exit_ in stage.exits:
        if exit_ is held:
            break
        if exit_.held or not all(judge.passed(check) for check in exit_.also):
            continue
        for gate in procedure.stage(exit_.dest).entry if procedure.has(exit_.dest) else ():
            verdict = judge.verdict(gate.check)
            if not isinstance(verdict, Passed):
                return verdict
    return None


def _stall(judge: Judge, stage: Stage, said: Said) -> Outcome:
    move = machine_for(judge.given.procedure).fire(stage.phase, "stall", judge)
    assert move is not None  # noqa: S101 - every stage that can get stuck may stall
    return Move(move, said.but(where=stage.label))


def _explain(judge: Judge, stage: Stage, draft: Draft) -> tuple[Outcome, Draft]:
    """Nothing moved: say why, from the same verdicts the guards read — or act."""
    given = judge.given
    for revert in stage.reverts:
        verdict = judge.verdict(revert.check)
        if isinstance(verdict, Unknown):
            return Hold(verdict.said.but(where=stage.label)), draft
    done = judge.verdict(stage.done)
    if isinstance(done, Unknown):
        return Hold(done.said.but(where=stage.label)), draft
    if isinstance(done, Stuck):
        return _stall(judge, stage, done.said), draft
    if isinstance(done, Failed):
        if done.work is not None:
            return perform(judge, stage, done.work, draft)
        return Hold(done.said.but(where=stage.label), done.until), draft.apply(done.change, given)
    procedure = given.procedure
    for exit_ in stage.exits:
        if exit_.held:
            continue
        verdicts = [judge.verdict(check) for check in exit_.also]
        if unknown := next((v for v in verdicts if isinstance(v, Unknown)), None):
            return Hold(unknown.said.but(where=stage.label)), draft
        if not all(isinstance(v, Passed) for v in verdicts):
            continue
        for gate in procedure.stage(exit_.dest).entry if procedure.has(exit_.dest) else ():
            verdict = judge.verdict(gate.check)
            if isinstance(verdict, Passed):
                continue
            said = verdict.said.but(after=done.said, where=stage.label)
            if isinstance(verdict, Stuck):
                return _stall(judge, stage, said), draft
            if isinstance(verdict, Unknown):
                return Hold(said), draft
            until = None
            if verdict.until is not None:
                until = min(verdict.until, given.later(given.tuning.waiting_interval))
            return Hold(said, until), draft.apply(verdict.change, given)
        raise RuntimeError(  # pragma: no cover - the machine would have taken this exit
            f"{stage.phase.value}: exit {exit_.name} is open but the machine did not take it"
        )
    return Hold(done.said.but(where=stage.label)), draft
