"""Attempts of non-idempotent actions: recorded before they run, judged by observation afterwards.

The life of an attempt::

    decide() adds it PENDING  ──persist──▶  engine runs the hook / API call  ──▶  complete_attempt(): SUCCEEDED|FAILED
                                                                                        │
    a later tick, effect observed ──▶ the step moves on (a PENDING one becomes SUPERSEDED) ◀┘
    a later tick, effect not observed:
      PENDING and now < deadline + grace   → wait (it may still be running; after a crash we do not re-run yet)
      PENDING past that                    → LOST (counts as a failure)
      SUCCEEDED and now < finished + grace → wait for the effect
      SUCCEEDED past that                  → INEFFECTIVE (counts as a failure)
      failures >= max attempts             → the rollout stalls
      otherwise                            → retry after backoff (base × 2^(failures-1)), counted from
                                             when the failure became known

Only attempts started since the current phase was entered count: ``resume`` (which re-enters the phase) and a
step entered again after a revert start afresh.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from reconciler.core.actions import Action, ActionKind, Performer, ReplicateNow
from reconciler.core.codes import Code
from reconciler.core.events import RECONCILER, Event, EventKind
from reconciler.core.record import Attempt, AttemptOutcome, RolloutRecord
from reconciler.core.said import Said
from reconciler.core.sentences import attempt_judged, attempt_outcome, attempt_status, sentence

__all__ = [
    "AttemptKey",
    "AttemptPolicy",
    "Verdict",
    "VerdictKind",
    "attempt_key",
    "complete_attempt",
    "review",
    "supersede_pending",
]

AttemptKey = tuple[str, int, str, str, int]
"""(rollout id, step, action kind, subject, number): one attempt, whatever its outcome since."""


def attempt_key(attempt: Attempt) -> AttemptKey:
    return (attempt.rollout_id, attempt.step, attempt.kind.value, attempt.subject, attempt.number)


_DETAIL_LIMIT = 500


@dataclass(frozen=True, slots=True)
class AttemptPolicy:
    performer: Performer
    timeout: timedelta
    max_attempts: int
    grace: timedelta


class VerdictKind(Enum):
    GO = "go"  # start attempt ``number`` now
    WAIT = "wait"  # an attempt is running or its effect may still show
    RETRY_LATER = "retry_later"  # backing off after a failure
    EXHAUSTED = "exhausted"  # max attempts failed: stall


@dataclass(frozen=True, slots=True)
class Verdict:
    """``said`` is why (``EffectPending``, ``RetryPending``, or the facts of the exhaustion: ``failures``, ``max``,
    ``last``); its facts name the action with ``kind`` and ``subject`` (the caller adds what else it knows)."""

    kind: VerdictKind
    said: Said
    attempts: tuple[Attempt, ...]  # the record's attempts, with any newly judged ones updated
    events: tuple[Event, ...]
    number: int = 0  # for GO: the attempt number to start
    failures: int = 0
    until: datetime | None = None  # for WAIT / RETRY_LATER


def _failed_at(attempt: Attempt, grace: timedelta) -> datetime:
    """When a failure became known: the exit, or the end of the wait for its effect."""
    if attempt.outcome is AttemptOutcome.LOST:
        return attempt.deadline + grace
    if attempt.outcome is AttemptOutcome.INEFFECTIVE:
        return (attempt.finished_at or attempt.started_at) + grace
    return attempt.finished_at or attempt.deadline


def _mine(record: RolloutRecord, step: int, kind: ActionKind, subject: str) -> list[int]:
    """Indexes in ``record.attempts`` of this rollout's attempts for (step, kind, subject) in the current phase."""
    return [
        i
        for i, a in enumerate(record.attempts)
        if a.rollout_id == record.rollout_id
        and a.step == step
        and a.kind is kind
        and a.subject == subject
        and a.started_at >= record.entered_at
    ]


def _next_number(record: RolloutRecord, step: int, kind: ActionKind, subject: str) -> int:
    """The next attempt's number: one more than any attempt of this rollout's (step, kind, subject), in whatever
    entry of the step — so (rollout id, step, number) names one attempt, which a hook may rely on to be idempotent,
    even after a resume or a revert that counts the maximum afresh."""
    return 1 + max(
        (
            a.number
            for a in record.attempts
            if a.rollout_id == record.rollout_id
            and a.step == step
            and a.kind is kind
            and a.subject == subject
        ),
        default=0,
    )


def review(
    record: RolloutRecord,
    *,
    server: str,
    step: int,
    kind: ActionKind,
    subject: str = "",
    policy: AttemptPolicy,
    now: datetime,
    backoff: Callable[[int], timedelta],
    about: Mapping[str, Any] | None = None,
    alive: Collection[AttemptKey] = frozenset(),
    recheck: timedelta | None = None,
) -> Verdict:
    """Judge the attempts of one action whose effect is *not* observed now. ``backoff(failures)`` is the delay
    before retrying after that many failures; ``about`` are facts that name the action in reasons (beyond its kind
    and subject: whether it enables verification, or restores it). ``alive`` are the attempts whose process group
    was seen running: such an attempt is never judged lost and no other attempt starts beside it (look again after
    ``recheck``)."""
    attempts = list(record.attempts)
    events: list[Event] = []
    indexes = _mine(record, step, kind, subject)
    last_index = indexes[-1] if indexes else None
    named = {**(about or {}), "kind": kind, "subject": subject, "max": policy.max_attempts}
    running = [attempts[i] for i in indexes if attempt_key(attempts[i]) in alive]
    if running:
        live = running[-1]
        until = now + (recheck or policy.grace)
        said = Said(
            Code.EFFECT_PENDING,
            {
                **named,
                "number": live.number,
                "started": live.started_at,
                "until": until,
                "running": live.process.pgid if live.process is not None else True,
                "overdue": now >= live.deadline,
            },
        )
        return Verdict(VerdictKind.WAIT, said, tuple(attempts), tuple(events), until=until)

    def judge(index: int, outcome: AttemptOutcome, code: Code, deadline: datetime) -> None:
        said = Said(code, {**named, "number": attempts[index].number, "deadline": deadline})
        detail = attempt_judged(code, deadline)
        attempts[index] = replace(attempts[index], outcome=outcome, detail=detail[:_DETAIL_LIMIT])
        events.append(
            Event(
                at=now,
                server=server,
                kind=EventKind.ATTEMPT_FAILED,
                reason=sentence(said),
                rollout_id=record.rollout_id,
                from_phase=record.phase,
                to_phase=record.phase,
                details={"step": step, "action": kind.value, "attempt": attempts[index].number, "code": code},
            )
        )

    if last_index is not None:
        last = attempts[last_index]
        if last.outcome is AttemptOutcome.PENDING:
            effect_deadline = last.deadline + policy.grace
            if now < effect_deadline:
                said = Said(
                    Code.EFFECT_PENDING,
                    {**named, "number": last.number, "started": last.started_at, "until": effect_deadline},
                )
                return Verdict(VerdictKind.WAIT, said, tuple(attempts), tuple(events), until=effect_deadline)
            judge(last_index, AttemptOutcome.LOST, Code.ATTEMPT_LOST, effect_deadline)
        elif last.outcome is AttemptOutcome.SUCCEEDED:
            effect_deadline = (last.finished_at or last.started_at) + policy.grace
            if now < effect_deadline:
                said = Said(
                    Code.EFFECT_PENDING,
                    {**named, "number": last.number, "succeeded": True, "until": effect_deadline},
                )
                return Verdict(VerdictKind.WAIT, said, tuple(attempts), tuple(events), until=effect_deadline)
            judge(last_index, AttemptOutcome.INEFFECTIVE, Code.ATTEMPT_INEFFECTIVE, effect_deadline)

    failed = [attempts[i] for i in indexes if attempts[i].outcome.is_failure]
    if len(failed) >= policy.max_attempts:
        said = Said(
            Code.EFFECT_PENDING, {**named, "failures": len(failed), "last": attempt_outcome(failed[-1])}
        )
        return Verdict(VerdictKind.EXHAUSTED, said, tuple(attempts), tuple(events), failures=len(failed))
    if last_index is not None and attempts[last_index].outcome.is_failure:
        last = attempts[last_index]
        retry_at = _failed_at(last, policy.grace) + backoff(len(failed))
        if now < retry_at:
            said = Said(
                Code.RETRY_PENDING,
                {
                    **named,
                    "number": last.number,
                    "try": len(failed),
                    "last": attempt_outcome(last),
                    "until": retry_at,
                },
            )
            return Verdict(
                VerdictKind.RETRY_LATER,
                said,
                tuple(attempts),
                tuple(events),
                failures=len(failed),
                until=retry_at,
            )
    return Verdict(
        VerdictKind.GO,
        Said(Code.ACTION_STARTED, named),
        tuple(attempts),
        tuple(events),
        number=_next_number(record, step, kind, subject),
        failures=len(failed),
    )


def supersede_pending(record: RolloutRecord, now: datetime) -> tuple[Attempt, ...]:
    """The step completed by observation: attempts still PENDING in this phase become SUPERSEDED."""
    return tuple(
        replace(
            a,
            outcome=AttemptOutcome.SUPERSEDED,
            finished_at=now,
            detail="no result recorded; the effect was observed",
        )
        if a.outcome is AttemptOutcome.PENDING and a.rollout_id == record.rollout_id
        else a
        for a in record.attempts
    )


def complete_attempt(
    record: RolloutRecord,
    action: Action,
    *,
    now: datetime,
    succeeded: bool,
    exit_code: int | None = None,
    detail: str = "",
    actor: str = RECONCILER,
) -> tuple[RolloutRecord, Event]:
    """Record the result of the attempt ``action`` started (after the hook exited or the API call returned).

    Returns the updated record (persist it with the returned event). Only observation completes a step: success
    here means "the command said so". A result arriving after the attempt was already judged (lost, superseded)
    is kept in its detail without changing the verdict. ``detail`` must not contain secrets (hook output is the
    caller's to redact); it is truncated to 500 characters.
    """
    subject = action.partner if isinstance(action, ReplicateNow) else ""
    index = next(
        (
            i
            for i in range(len(record.attempts) - 1, -1, -1)
            if (a := record.attempts[i]).rollout_id == record.rollout_id
            and a.step == action.step
            and a.kind is action.kind
            and a.subject == subject
            and a.number == action.attempt
        ),
        None,
    )
    if index is None:
        raise ValueError(
            f"no attempt {action.attempt} of {action.kind.value} at step {action.step} in rollout "
            f"{record.rollout_id} of {record.server}: was the record persisted before acting?"
        )
    attempt = record.attempts[index]
    text = detail[:_DETAIL_LIMIT]
    facts: dict[str, Any] = {
        "summary": action.summary,
        "number": attempt.number,
        "succeeded": succeeded,
        "exit_code": exit_code,
        "detail": text,
    }
    if attempt.outcome is AttemptOutcome.PENDING:
        updated = replace(
            attempt,
            outcome=AttemptOutcome.SUCCEEDED if succeeded else AttemptOutcome.FAILED,
            finished_at=now,
            exit_code=exit_code,
            detail=text,
        )
        reason = sentence(Said(Code.ATTEMPT_FINISHED, facts))
    else:
        late = f"late result: {attempt_status(succeeded, exit_code, text)}"
        updated = replace(attempt, exit_code=exit_code, detail=f"{attempt.detail}; {late}"[:_DETAIL_LIMIT])
        reason = sentence(Said(Code.ATTEMPT_FINISHED, {**facts, "judged": attempt.outcome.value}))
    attempts = list(record.attempts)
    attempts[index] = updated
    new_record = replace(record, attempts=tuple(attempts), updated_at=now)
    event = Event(
        at=now,
        server=record.server,
        kind=EventKind.ATTEMPT_FINISHED,
        reason=reason,
        actor=actor,
        rollout_id=record.rollout_id,
        from_phase=record.phase,
        to_phase=record.phase,
        details={
            "step": action.step,
            "action": action.kind.value,
            "attempt": attempt.number,
            "succeeded": succeeded,
            "exit_code": exit_code,
            "code": Code.ATTEMPT_FINISHED,
        },
    )
    return new_record, event
