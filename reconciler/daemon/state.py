"""The daemon's runtime state, shared by the loop (which writes it) and the HTTP endpoints (which read it).

Nothing here is durable — the store is. This is what only the running process knows: whether it leads or stands
by, which spec set is in force, and for each server when its next tick is due, whether one is running and how the
last one ended. Liveness and readiness are computed from it (:meth:`DaemonState.health`,
:meth:`DaemonState.readiness`).

**Stale** (``/healthz`` fails), with ``grace`` (``--health-grace``):

* a server's tick was due (the run time the daemon gave the scheduler) more than ``grace`` ago and has not
  started — the scheduler stopped firing (a zombie scheduler);
* a tick has run longer than its timeout plus ``grace`` — it could not even be cancelled;
* the lease loop (leader and standby alike) or the spec watcher has not run for three of its periods plus
  ``grace``.

A standby daemon is alive (its lease loop runs) but not ready; a leader with a valid spec set in force is ready.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from reconciler.core import wording
from reconciler.daemon.specwatch import SpecsStatus

__all__ = ["DaemonState", "Role", "ServerRuntime"]


class Role(StrEnum):
    STARTING = "starting"
    LEADER = "leader"
    STANDBY = "standby"
    STOPPING = "stopping"


@dataclass
class ServerRuntime:
    """One server's scheduling as this process sees it."""

    name: str
    timeout: float  # seconds a tick of it may take
    due_at: datetime | None = None  # the next run time given to the scheduler
    running_since: datetime | None = None
    last_started: datetime | None = None
    last_finished: datetime | None = None
    last_outcome: str | None = None  # ok / error / timeout / conflict / abandoned
    last_error: str | None = None
    last_duration: float | None = None
    ticks: int = 0

    def to_json(self) -> dict[str, object]:
        def iso(value: datetime | None) -> str | None:
            return None if value is None else value.isoformat()

        return {
            "due_at": iso(self.due_at),
            "running_since": iso(self.running_since),
            "last_started": iso(self.last_started),
            "last_finished": iso(self.last_finished),
            "last_outcome": self.last_outcome,
            "last_error": self.last_error,
            "last_duration_s": None if self.last_duration is None else round(self.last_duration, 3),
            "ticks": self.ticks,
            "timeout_s": self.timeout,
        }


@dataclass
class DaemonState:
    holder: str  # this process's lease holder id
    specs: SpecsStatus
    started_at: datetime
    lease_period: float  # seconds between lease checks
    watch_period: float  # seconds between spec polls
    role: Role = Role.STARTING
    role_reason: str = "starting"
    lease_holder: str | None = None
    lease_expires_at: datetime | None = None
    lease_checked_at: datetime | None = None
    lease_renewed_at: datetime | None = None
    lease_epoch: int | None = None
    store_problem: str | None = None  # why the state store cannot be used now (readiness fails)
    store_broken: bool = (
        False  # ...and it will not heal by itself (the file replaced or damaged: health fails)
    )
    specs_checked_at: datetime | None = None
    servers: dict[str, ServerRuntime] = field(default_factory=dict)

    @property
    def has_specs(self) -> bool:
        return self.specs.revision is not None

    def health(self, now: datetime, grace: timedelta) -> list[str]:
        """Why the daemon is not healthy — empty when it is."""
        problems: list[str] = []
        if self.role is Role.STOPPING:
            return ["stopping"]
        if self.store_broken and self.store_problem:
            problems.append(f"the state store is unusable: {self.store_problem}")
        loops = (
            ("the lease loop", self.lease_checked_at, self.lease_period),
            ("the spec watcher", self.specs_checked_at, self.watch_period),
        )
        for what, last, period in loops:
            since = last or self.started_at
            if now - since > timedelta(seconds=3 * period) + grace:
                problems.append(f"{what} has not run for {wording.span(now - since)}")
        if self.role is not Role.LEADER:
            return problems
        for rt in self.servers.values():
            if rt.running_since is not None:
                limit = timedelta(seconds=rt.timeout) + grace
                if now - rt.running_since > limit:
                    problems.append(
                        f"{rt.name}: a tick has been running for {wording.span(now - rt.running_since)}, past its "
                        f"timeout of {wording.span(timedelta(seconds=rt.timeout))}"
                    )
            elif rt.due_at is not None and now - rt.due_at > grace:
                problems.append(
                    f"{rt.name}: its tick was due at {wording.when(rt.due_at)}, {wording.span(now - rt.due_at)} ago, "
                    "and has not started: the scheduler is not running ticks"
                )
        return problems

    def readiness(self) -> str | None:
        """Why the daemon is not ready — None when it is (leader, valid specs in force, the state usable)."""
        if self.store_problem is not None and self.role is not Role.STOPPING:
            return f"the state store is unusable: {self.store_problem}"
        if self.role is Role.STANDBY:
            return f"standby: {self.role_reason}"
        if self.role is not Role.LEADER:
            return self.role_reason
        if not self.has_specs:
            first = self.specs.errors[0] if self.specs.errors else "not loaded yet"
            return f"no valid specs in force ({first})"
        return None

    def to_json(self, now: datetime, grace: timedelta, *, unmanaged: list[str]) -> dict[str, object]:
        """The ``daemon`` block of ``/api/status``; ``unmanaged``: servers in the state, not in the specs."""
        problems = self.health(now, grace)
        return {
            "holder": self.holder,
            "role": self.role.value,
            "role_reason": self.role_reason,
            "ready": self.readiness() is None,
            "not_ready_reason": self.readiness(),
            "healthy": not problems,
            "health_problems": problems,
            "started_at": self.started_at.isoformat(),
            "lease": {
                "holder": self.lease_holder,
                "expires_at": None if self.lease_expires_at is None else self.lease_expires_at.isoformat(),
                "renewed_at": None if self.lease_renewed_at is None else self.lease_renewed_at.isoformat(),
                "epoch": self.lease_epoch,
            },
            "store_problem": self.store_problem,
            "specs": self.specs.to_json(),
            "unmanaged": unmanaged,
            "ticks": {name: rt.to_json() for name, rt in sorted(self.servers.items())},
        }
