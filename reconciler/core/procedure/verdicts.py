"""What a named check concludes about one frozen input, and the pieces a verdict may carry.

A check is a pure function ``Given -> Verdict`` (cert-manager's policy functions): the table names them, the
machine evaluates them as guards, ``decide`` explains a hold with them, ``plan`` and the drift findings reuse them.

* :class:`Passed` — it holds: a step is done, a gate is open, a revert was observed. ``change`` is what the decision
  records when it acts on it (on leaving a step, on going back);
* :class:`Failed` — it does not hold (yet): ``said`` is what is awaited or why a gate is closed; ``work`` the action
  that gets a step done; ``until`` when to look again at the latest;
* :class:`Unknown` — it cannot be told from what was observed: nothing moves;
* :class:`Stuck` — it will not hold without a person: the rollout stalls with ``said`` (a stall code).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from reconciler.core.actions import Action, ActionKind, Performer
from reconciler.core.codes import Code
from reconciler.core.events import RECONCILER, EventKind
from reconciler.core.said import Said
from reconciler.core.spec import Action as SpecAction

if TYPE_CHECKING:
    from reconciler.core.procedure.given import Given

__all__ = [
    "Build",
    "Change",
    "Check",
    "Emit",
    "Failed",
    "Note",
    "Passed",
    "Stuck",
    "Unknown",
    "Verdict",
    "Work",
]


@dataclass(frozen=True, slots=True)
class Emit:
    """An event to append: its kind, its reason, its details and who it is attributed to."""

    kind: EventKind
    said: Said
    details: Mapping[str, Any] = field(default_factory=dict)
    actor: str = RECONCILER


@dataclass(frozen=True, slots=True)
class Change:
    """Changes to the record: ``fields`` (of the record itself, applied first), ``facts`` (fields of
    :class:`~reconciler.core.record.Facts`) and the events to append."""

    facts: Mapping[str, Any] = field(default_factory=dict)
    fields: Mapping[str, Any] = field(default_factory=dict)
    events: tuple[Emit, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.facts or self.fields or self.events)

    def then(self, other: Change) -> Change:
        return Change(
            {**self.facts, **other.facts}, {**self.fields, **other.fields}, self.events + other.events
        )


NO_CHANGE = Change()


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
class Work:
    """The action that gets a step done, as a check proposes it (``decide`` turns it into at most one attempt).

    ``how`` is the spec's action (``"manual"`` or a command) or None for the REST API; ``waiting`` what its effect
    looks like once observed; ``failed`` the stall code when every attempt failed, with ``remedy``; ``gates`` are
    checked before a new attempt starts (or manual instructions show); ``started`` is recorded when one starts."""

    step: int  # the step whose action this is (a rollback reuses the actions of steps 5 and 7)
    kind: ActionKind
    how: SpecAction | None
    build: Callable[[Build], Action]
    waiting: Said
    failed: Code
    remedy: Said
    subject: str = ""
    gates: tuple[Check, ...] = ()
    started: Change = NO_CHANGE


@dataclass(frozen=True, slots=True)
class Passed:
    said: Said
    change: Change = NO_CHANGE


@dataclass(frozen=True, slots=True)
class Failed:
    said: Said
    work: Work | None = None
    until: datetime | None = None
    change: Change = NO_CHANGE  # recorded when a hold is explained by this verdict (an announcement…)


@dataclass(frozen=True, slots=True)
class Unknown:
    said: Said


@dataclass(frozen=True, slots=True)
class Stuck:
    said: Said  # its code is the stall code; the remedy is rendered from it


Verdict = Passed | Failed | Unknown | Stuck
Check = Callable[["Given"], Verdict]
"""A named, pure check over the frozen input."""

Note = Callable[["Given"], Change]
"""A named, pure observation a stage records before its checks run (a port changed, a new target…)."""
