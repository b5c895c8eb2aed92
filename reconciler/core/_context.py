"""Internals shared by the phase handlers of :mod:`reconciler.core.decide`: the tick context and its outcome."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from reconciler.core.actions import Action
from reconciler.core.events import RECONCILER, Detail, Event, EventKind
from reconciler.core.observation import ServerObservation
from reconciler.core.procedure import Phase
from reconciler.core.record import Facts, RolloutRecord
from reconciler.core.spec import ManagedServer

__all__ = ["Ctx", "Outcome", "Tuning"]


@dataclass(frozen=True, slots=True)
class Tuning:
    """Timings of the loop. The defaults suit real managers; tests and the demo shorten them.

    * ``active_interval`` — next look while a step is acting (1, 2, 4, 5, 7, rolling back);
    * ``waiting_interval`` — while soaking (3, 6), held (drifted) or stalled, so operator commands are seen soon;
    * ``idle_interval`` — in sync;
    * ``after_move`` — right after a phase change (the next step starts promptly);
    * ``api_timeout`` / ``api_max_attempts`` — REST actions (PATCH, replicatenow): how long one may take, how many
      failures before the rollout stalls (hooks use the spec's ``timeout`` and ``maxAttempts``);
    * ``effect_grace`` — after an action reported success (or its timeout), how long its effect may take to show
      before the attempt counts as failed;
    * ``retry_base`` / ``retry_max`` — exponential backoff between failed attempts: base × 2^(failures-1), capped.
    """

    active_interval: timedelta = timedelta(seconds=30)
    waiting_interval: timedelta = timedelta(minutes=5)
    idle_interval: timedelta = timedelta(hours=1)
    after_move: timedelta = timedelta(seconds=1)
    api_timeout: timedelta = timedelta(minutes=2)
    api_max_attempts: int = 5
    effect_grace: timedelta = timedelta(minutes=10)
    retry_base: timedelta = timedelta(minutes=5)
    retry_max: timedelta = timedelta(hours=6)

    def backoff(self, failures: int) -> timedelta:
        """Delay before the next attempt after ``failures`` failed ones (>= 1)."""
        delay = self.retry_base * (1 << max(0, failures - 1))
        return min(delay, self.retry_max)


@dataclass
class Ctx:
    """One decision in progress. ``rec`` is the working record (handlers replace it); ``events`` accumulate."""

    spec: ManagedServer
    desired: str
    obs: ServerObservation | None
    obs_error: str | None
    rec: RolloutRecord
    now: datetime
    revision: str
    partners: Mapping[str, RolloutRecord]
    tuning: Tuning
    keystore_error: str | None = (
        None  # why the keystore step 4 installs cannot be used (checked by the caller)
    )
    events: list[Event] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def facts(self) -> Facts:
        return self.rec.facts

    def set_facts(self, facts: Facts) -> None:
        self.rec = replace(self.rec, facts=facts)

    def event(self, kind: EventKind, reason: str, *, actor: str = RECONCILER, **details: Detail) -> None:
        phase = self.rec.phase
        self.events.append(
            Event(
                at=self.now,
                server=self.name,
                kind=kind,
                reason=reason,
                actor=actor,
                rollout_id=self.rec.rollout_id,
                from_phase=phase,
                to_phase=phase,
                details=details,
            )
        )

    def later(self, delta: timedelta) -> datetime:
        return self.now + delta


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a handler concluded: hold (``move`` None) or move; at most one action; the reason a person reads."""

    reason: str
    move: str | None = None
    to: Phase | None = None  # disambiguates a trigger with several destinations
    actor: str = RECONCILER
    action: Action | None = None
    stall_code: str | None = None  # with move="stall"
    remedy: str | None = None
    next_check: datetime | None = None
