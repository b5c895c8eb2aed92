"""One APScheduler job per server, moved after each tick to the tick's ``next_check_at``; the tick under a timeout.

The jobs only wake the engine up: the record decides what happens, and nothing lives in the scheduler that a
restart would miss. Each job has ``max_instances=1`` (a server is never ticked twice at once), ``coalesce`` and
an interval trigger as a safety net; the run time given to the scheduler is kept in the server's
:class:`~reconciler.daemon.state.ServerRuntime` (``due_at``), which is what ``/healthz`` checks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.schedulers.base import STATE_RUNNING
from apscheduler.triggers.interval import IntervalTrigger

from reconciler.core import wording
from reconciler.daemon.config import DaemonConfig
from reconciler.daemon.gate import GatedStore
from reconciler.daemon.metrics import DaemonMetrics
from reconciler.daemon.state import DaemonState, ServerRuntime
from reconciler.engine import Engine, TickResult
from reconciler.specs import LoadedServer

__all__ = ["TickJobs", "tick_timeout"]

log = logging.getLogger("reconciler.daemon")


def tick_timeout(config: DaemonConfig, server: LoadedServer) -> float:
    """``--tick-timeout`` plus the longest action ``server`` may run in one tick (never cut an action short)."""
    actions = server.spec.spec.rollout.actions
    longest = config.tuning.api_timeout.total_seconds()
    for action in (actions.break_replication, actions.update_certificate, actions.restore_replication):
        timeout = getattr(action, "timeout", None)
        if isinstance(timeout, timedelta):
            longest = max(longest, timeout.total_seconds())
    return config.tick_timeout + longest


class TickJobs:
    """The scheduler and its jobs. ``engine()`` gives the engine (None until valid specs were loaded);
    ``active()`` says whether ticks may run now (leading, not stopping)."""

    def __init__(
        self,
        config: DaemonConfig,
        state: DaemonState,
        metrics: DaemonMetrics,
        store: GatedStore,
        *,
        engine: Callable[[], Engine | None],
        active: Callable[[], bool],
        stopping: Callable[[], bool],
        on_result: Callable[[str, TickResult], None] = lambda name, result: None,
    ) -> None:
        self._config = config
        self._state = state
        self._metrics = metrics
        self._store = store
        self._engine = engine
        self._active = active
        self._stopping = stopping
        self._on_result = on_result
        self._scheduler = AsyncIOScheduler(timezone=UTC)
        self._random = random.Random()  # noqa: S311 - jitter spreads load; nothing secret depends on it
        self._ticks_done = 0
        self.inflight: dict[str, asyncio.Task[Any]] = {}
        self.last_tick: dict[str, datetime] = {}
        self._again: set[str] = set()  # poked while a tick ran: tick again as soon as it ends

    # --- the scheduler -------------------------------------------------------------------------------------------

    def start(self) -> None:
        self._scheduler.start()

    def pause(self) -> None:
        """No job fires any more (jobs in flight go on). Not ``shutdown``: APScheduler's asyncio executor cancels
        running jobs when it shuts down, and in-flight ticks deserve their grace period first."""
        if self._scheduler.running:
            self._scheduler.pause()

    def resume(self) -> None:
        """Jobs fire again after :meth:`pause`; a tick that came due meanwhile runs at once (once)."""
        if self._scheduler.running:
            self._scheduler.resume()

    def shutdown(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    # --- jobs ----------------------------------------------------------------------------------------------------

    def _fallback_interval(self) -> float:
        interval = self._config.tuning.idle_interval.total_seconds()
        if self._config.max_interval is not None:
            interval = min(interval, self._config.max_interval)
        return max(1.0, interval)

    def add(self, server: LoadedServer) -> None:
        """(Re)schedule ``server`` to be looked at promptly, then on its own schedule."""
        name = server.name
        runtime = self._state.servers.get(name)
        if runtime is None:
            runtime = self._state.servers[name] = ServerRuntime(name, tick_timeout(self._config, server))
        first = datetime.now(UTC) + timedelta(seconds=self._random.uniform(0, min(self._config.jitter, 1.0)))
        runtime.due_at = first
        self._scheduler.add_job(
            self.run,
            IntervalTrigger(
                seconds=self._fallback_interval(), jitter=self._config.jitter or None, timezone=UTC
            ),
            args=(name,),
            id=name,
            name=f"tick {name}",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
            next_run_time=first,
            replace_existing=True,
        )

    def poke(self, name: str) -> bool:
        """Tick ``name`` now (an operator approved, suspended, resumed or aborted it): at once, or right after the
        tick in flight. False when ``name`` has no job (not in the specs, or this daemon does not lead)."""
        runtime = self._state.servers.get(name)
        if runtime is None or not self._active():
            return False
        if name in self.inflight:
            self._again.add(name)
            return True
        now = datetime.now(UTC)
        try:
            self._scheduler.modify_job(name, next_run_time=now)
        except JobLookupError:
            return False
        runtime.due_at = now
        return True

    def remove(self, name: str, *, forget: bool) -> None:
        """No more ticks of ``name`` (``forget``: it left the specs, drop what is known of it too)."""
        with contextlib.suppress(JobLookupError):
            self._scheduler.remove_job(name)
        runtime = self._state.servers.get(name)
        if runtime is not None:
            runtime.due_at = None
        if forget:
            self._state.servers.pop(name, None)
            self.last_tick.pop(name, None)

    def remove_all(self) -> None:
        for name in list(self._state.servers):
            self.remove(name, forget=False)

    def _reschedule(self, name: str, at: datetime) -> None:
        runtime = self._state.servers.get(name)
        if runtime is None or not self._active():
            return
        now = datetime.now(UTC)
        if self._config.max_interval is not None:
            at = min(at, now + timedelta(seconds=self._config.max_interval))
        delay = max(0.05, (at - now).total_seconds())
        delay += self._random.uniform(0, min(self._config.jitter, delay / 10))
        due = now + timedelta(seconds=delay)
        try:
            self._scheduler.modify_job(name, next_run_time=due)
        except JobLookupError:
            return  # removed meanwhile (specs changed, standby)
        runtime.due_at = due

    # --- the tick ------------------------------------------------------------------------------------------------

    async def run(self, name: str) -> None:
        """One scheduled tick of ``name`` (the scheduler's job; never raises)."""
        engine, runtime = self._engine(), self._state.servers.get(name)
        if engine is None or runtime is None or not self._active():
            return
        started = datetime.now(UTC)
        runtime.running_since = runtime.last_started = started
        runtime.due_at = None
        task = asyncio.current_task()
        if task is not None:
            self.inflight[name] = task
        t0 = time.monotonic()
        outcome, error, next_at = "ok", None, None
        tuning = self._config.tuning
        try:
            result = await asyncio.wait_for(engine.tick(name), timeout=runtime.timeout)
        except TimeoutError:
            outcome = "timeout"
            error = f"the tick did not finish within {wording.span(timedelta(seconds=runtime.timeout))}: cancelled"
            next_at = started + tuning.active_interval
            log.warning("%s: %s", name, error, extra={"server": name})
        except asyncio.CancelledError:
            if not self._stopping():
                raise
            outcome, error = "abandoned", "the daemon stopped during this tick"
        except Exception as exc:
            outcome, error = "error", f"internal error: {type(exc).__name__}: {exc}"
            next_at = started + tuning.waiting_interval
            log.exception("%s: the tick failed", name, extra={"server": name})
        else:
            next_at = result.next_check_at
            outcome, error = self._judge(name, result)
            try:
                self._on_result(name, result)
            except Exception:  # a notification's bug must not lose the tick's schedule
                log.exception("%s: internal error after the tick (continuing)", name, extra={"server": name})
        finally:
            self._finished(runtime, outcome, error, time.monotonic() - t0)
        if name in self._again:  # poked during the tick: what the operator asked may not have been seen yet
            self._again.discard(name)
            next_at = datetime.now(UTC)
        if next_at is not None:
            self._reschedule(name, next_at)
        self._fault_injection()

    def _judge(self, name: str, result: TickResult) -> tuple[str, str | None]:
        """The outcome of a tick that returned, logged."""
        outcome, error = "ok", None
        if result.conflict:
            outcome = "abandoned" if self._store.take_refused(name) else "conflict"
            error = result.reason
        elif result.error:
            outcome, error = "error", result.error
        if outcome == "error":
            level = logging.WARNING
        elif outcome != "ok" or result.moved or result.acted:
            level = logging.INFO  # a move, an action, or a tick dropped before its action
        else:
            level = logging.DEBUG  # nothing happened: plain ticks are not worth a line
        log.log(
            level,
            "%s: tick %s",
            name,
            outcome,
            extra={
                "server": name,
                "phase": result.phase_after.value,
                "step": result.step,
                "reason": result.reason,
                "next_check_at": result.next_check_at,
                "duration_s": round(result.duration_s, 3),
            },
        )
        return outcome, error

    def _finished(self, runtime: ServerRuntime, outcome: str, error: str | None, duration: float) -> None:
        name, finished = runtime.name, datetime.now(UTC)
        runtime.running_since = None
        runtime.last_finished = finished
        runtime.last_outcome, runtime.last_error, runtime.last_duration = outcome, error, duration
        runtime.ticks += 1
        if name in self._state.servers:  # not removed from the specs meanwhile
            self.last_tick[name] = finished
        self.inflight.pop(name, None)
        self._metrics.tick_duration.labels(name).observe(duration)
        self._metrics.ticks.labels(name, outcome).inc()
        if outcome in ("error", "timeout"):
            self._metrics.errors.labels(name, outcome).inc()
        self._ticks_done += 1

    def _fault_injection(self) -> None:
        """``--debug-pause-scheduler-after N``: a zombie scheduler, to check that the liveness probe notices."""
        limit = self._config.pause_scheduler_after
        if limit is not None and self._ticks_done >= limit and self._scheduler.state == STATE_RUNNING:
            log.warning(
                "fault injection: pausing the scheduler after %d ticks (a zombie scheduler)", self._ticks_done
            )
            self._scheduler.pause()
