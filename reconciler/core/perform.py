"""Turning "this step's effect is not observed yet" into at most one action: manual instructions, a hook attempt
or an API attempt — with attempts recorded before they run, backoff, and a stall after the last one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from reconciler.core import wording
from reconciler.core._context import Ctx, Outcome
from reconciler.core.actions import Action, ActionKind, Performer
from reconciler.core.attempts import AttemptPolicy, VerdictKind, review
from reconciler.core.events import EventKind
from reconciler.core.gates import window_gate, window_next_open
from reconciler.core.record import Attempt
from reconciler.core.spec import Action as SpecAction
from reconciler.core.spec import CommandAction

__all__ = ["Build", "Task", "perform"]


@dataclass(frozen=True, slots=True)
class Build:
    """What the builder of an action receives."""

    performer: Performer
    attempt: int
    max_attempts: int
    command: tuple[str, ...]
    timeout: timedelta | None

    def fields(self) -> dict[str, Any]:
        """The fields every action takes from its build: ``Kind(step=…, summary=…, …, **b.fields())``."""
        return {
            "performer": self.performer,
            "attempt": self.attempt,
            "max_attempts": self.max_attempts,
            "command": self.command,
            "timeout": self.timeout,
        }


@dataclass(frozen=True, slots=True)
class Task:
    """One action to get done. ``how`` is the spec's action (``"manual"`` or a command) or None for the REST API."""

    label: str  # "step 4" or "rolling back"
    step: int  # the step whose action this is (a rollback reuses the actions of steps 5 and 7)
    kind: ActionKind
    how: SpecAction | None
    build: Callable[[Build], Action]
    what: str  # names the action in reasons: "the certificate update"
    waiting_for: str  # "continues when …"
    remedy: str  # what a human does when attempts are exhausted
    subject: str = ""
    windowed: bool = False  # a new attempt (or the manual instructions) waits for the maintenance window
    blocked: str | None = None  # why no new attempt may start now (the keystore it needs cannot be used)


def _held(ctx: Ctx, task: Task) -> Outcome | None:
    """Hold before starting a new attempt (or showing the instructions): the task is blocked, or its window closed.
    An attempt already running is not affected."""
    next_check = ctx.later(ctx.tuning.waiting_interval)
    closed = window_gate(ctx) if task.windowed else None
    why = task.blocked or closed
    if why is None:
        return None
    if task.blocked is None and (opens := window_next_open(ctx)) is not None:
        next_check = min(next_check, opens)
    return Outcome(
        reason=f"{task.label}: {why}: {task.what} does not start now. {task.waiting_for}",
        next_check=next_check,
    )


def perform(ctx: Ctx, task: Task) -> Outcome:
    """Decide the action for ``task``, whose effect is not observed (the caller checked)."""
    tuning = ctx.tuning
    if task.how == "manual":
        if (held := _held(ctx, task)) is not None:
            return held
        action = task.build(Build(Performer.MANUAL, 0, 0, (), None))
        return Outcome(
            reason=f"{task.label}: waiting for an operator to {action.summary} (instructions in status). "
            f"{task.waiting_for}",
            action=action,
            next_check=ctx.later(tuning.active_interval),
        )
    if isinstance(task.how, CommandAction):
        policy = AttemptPolicy(
            Performer.COMMAND, task.how.timeout, task.how.max_attempts, tuning.effect_grace
        )
        command = tuple(task.how.command)
    else:
        policy = AttemptPolicy(
            Performer.API, tuning.api_timeout, tuning.api_max_attempts, tuning.effect_grace
        )
        command = ()
    verdict = review(
        ctx.rec,
        server=ctx.name,
        step=task.step,
        kind=task.kind,
        subject=task.subject,
        policy=policy,
        now=ctx.now,
        backoff=tuning.backoff,
        what=task.what,
    )
    ctx.rec = replace(ctx.rec, attempts=verdict.attempts)
    ctx.events.extend(verdict.events)
    if verdict.kind is VerdictKind.EXHAUSTED:
        return Outcome(
            reason=f"{task.label}: {verdict.reason}",
            move="stall",
            stall_code=f"{task.kind.value}_failed",
            remedy=task.remedy,
        )
    if verdict.kind in (VerdictKind.WAIT, VerdictKind.RETRY_LATER):
        # while an effect may show, look often; while backing off, now and then (an operator may fix it)
        interval = tuning.active_interval if verdict.kind is VerdictKind.WAIT else tuning.waiting_interval
        until = verdict.until or ctx.later(interval)
        return Outcome(
            reason=f"{task.label}: {verdict.reason}. {task.waiting_for}",
            next_check=min(until, ctx.later(interval)),
        )
    if (held := _held(ctx, task)) is not None:
        return held
    number = verdict.number
    action = task.build(Build(policy.performer, number, policy.max_attempts, command, policy.timeout))
    attempt = Attempt(
        rollout_id=ctx.rec.rollout_id or "",
        step=task.step,
        kind=task.kind,
        number=number,
        performer=policy.performer,
        started_at=ctx.now,
        deadline=ctx.now + policy.timeout,
        subject=task.subject,
    )
    ctx.rec = replace(ctx.rec, attempts=(*ctx.rec.attempts, attempt))
    via = "running the hook" if policy.performer is Performer.COMMAND else "calling the SEPM API"
    ctx.event(
        EventKind.ATTEMPT_STARTED,
        f"{action.summary}: attempt {number} of {policy.max_attempts} ({via}, timeout {wording.span(policy.timeout)})",
        step=task.step,
        action=task.kind.value,
        attempt=number,
        performer=policy.performer.value,
    )
    return Outcome(
        reason=f"{task.label}: {action.summary} — attempt {number} of {policy.max_attempts} ({via}). "
        f"{task.waiting_for}",
        action=action,
        next_check=ctx.later(tuning.active_interval),
    )
