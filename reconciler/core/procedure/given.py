"""The one frozen input every check reads (the observation, the record, the spec, ``now``), and the loop's timings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from reconciler.core.attempts import AttemptKey
from reconciler.core.checks import GroupFlags, Served, group_flags, served
from reconciler.core.observation import ServerObservation
from reconciler.core.record import Facts, RolloutRecord
from reconciler.core.site import SiteView
from reconciler.core.spec import ManagedServer, Rollout
from reconciler.core.trust import NewCertificateTrust

if TYPE_CHECKING:
    from reconciler.core.procedure.table import Procedure

__all__ = ["Given", "Tuning"]


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

    A manager that cannot be observed fully is looked at again after ``active_interval`` × 2^(failures-1), at most
    ``waiting_interval`` (:meth:`observation_backoff`); the count of consecutive failures is kept in the record.
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

    def observation_backoff(self, failures: int) -> timedelta:
        """Delay before the next look after ``failures`` (>= 1) observations in a row that were not complete."""
        return min(self.active_interval * (1 << min(max(0, failures - 1), 16)), self.waiting_interval)


@dataclass(frozen=True, slots=True)
class Given:
    """Everything one decision reads, frozen: the procedure table it runs, the spec, what was observed, what is
    remembered and ``now``. ``record`` is the working record (the desired fingerprint and the
    observed summary already updated); ``partners`` maps each declared partner site to its manager's record when
    that manager is managed too; ``keystore_error`` says why the keystore step 4 installs cannot be used; ``trust``
    whether the desired certificate will be trusted on the API port (None: not established — the tests of pure
    decisions; the engine always gives it); ``alive`` the attempts whose hook process group was seen running;
    ``site`` the server's site (its other servers' records, the earlier waves), None: a site of its own.
    ``others`` the record of every other managed server, by name (fleet-wide gates: a canary analysis that halted
    every swap)."""

    procedure: Procedure
    spec: ManagedServer
    desired: str
    observation: ServerObservation | None
    record: RolloutRecord
    now: datetime
    revision: str
    tuning: Tuning = field(default_factory=Tuning)
    partners: Mapping[str, RolloutRecord] = field(default_factory=dict)
    observation_error: str | None = None
    keystore_error: str | None = None
    hook_error: str | None = None  # why a hook of the spec cannot run (not found, not executable), or None
    trust: NewCertificateTrust | None = None
    alive: frozenset[AttemptKey] = frozenset()
    site: SiteView | None = None
    others: Mapping[str, RolloutRecord] = field(default_factory=dict)

    def with_record(self, record: RolloutRecord) -> Given:
        return replace(self, record=record)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def rollout(self) -> Rollout:
        return self.spec.spec.rollout

    @property
    def facts(self) -> Facts:
        return self.record.facts

    @property
    def obs(self) -> ServerObservation:
        """The observation; the router never runs a stage's checks without one."""
        if self.observation is None:  # pragma: no cover - routing holds earlier
            raise RuntimeError("a check ran without an observation")
        return self.observation

    @property
    def manager_time(self) -> datetime | None:
        return self.observation.manager_time if self.observation is not None else None

    @property
    def target(self) -> str:
        """The certificate the rollout installs (the desired one before a rollout opened)."""
        return self.record.target_fingerprint or self.desired

    def served(self) -> Served:
        return served(self.spec, self.obs)

    def flags(self) -> GroupFlags:
        return group_flags(self.obs)

    def later(self, delta: timedelta) -> datetime:
        return self.now + delta
