"""The scheduler's jobs: a server is never ticked twice at once, and a tick that hangs is cut off by its timeout
while the other servers keep ticking.

The engine here is a stand-in (the one seam ``TickJobs`` takes): a real engine never hangs on purpose, and ticks
that outlast the scheduler's interval are what these rules are about. Everything else is real: APScheduler's
AsyncIOScheduler, the daemon's state and metrics, a SQLite store behind the gate, the example specs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from reconciler.core.decide import Tuning
from reconciler.core.procedure import Phase
from reconciler.daemon.config import DaemonConfig
from reconciler.daemon.gate import GatedStore
from reconciler.daemon.jobs import TickJobs
from reconciler.daemon.metrics import DaemonMetrics
from reconciler.daemon.specwatch import SpecsStatus
from reconciler.daemon.state import DaemonState
from reconciler.engine import TickResult
from reconciler.specs import SpecSet, load_specs
from reconciler.store import open_store

REPO = Path(__file__).resolve().parents[2]


@dataclass
class _Engine:
    """Ticks that take ``seconds[name]`` (None: forever), counting how many of each server run at once."""

    seconds: dict[str, float | None]
    running: dict[str, int] = field(default_factory=dict)
    peak: dict[str, int] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)

    async def tick(self, name: str) -> TickResult:
        self.calls[name] = self.calls.get(name, 0) + 1
        self.running[name] = self.running.get(name, 0) + 1
        self.peak[name] = max(self.peak.get(name, 0), self.running[name])
        try:
            await asyncio.sleep(self.seconds[name] or 3600)
        finally:
            self.running[name] -= 1
        now = datetime.now(UTC)
        return TickResult(
            server=name,
            started_at=now,
            duration_s=self.seconds[name] or 0.0,
            phase_before=Phase.IN_SYNC,
            phase_after=Phase.IN_SYNC,
            step=0,
            reason="in sync",
            next_check_at=now,  # look again at once: only the scheduler's rules space the ticks
        )


@pytest.fixture(scope="module")
def specs() -> SpecSet:
    return load_specs(REPO / "specs")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[GatedStore]:
    gated = GatedStore(open_store(f"sqlite:///{tmp_path / 'state.db'}"))
    yield gated
    gated.close()


def _jobs(engine: _Engine, store: GatedStore, *, tick_timeout: float) -> tuple[TickJobs, DaemonState]:
    config = DaemonConfig(
        specs=REPO / "specs",
        state_url=store.url,
        tick_timeout=tick_timeout,
        jitter=0.0,
        max_interval=1.0,  # the interval trigger fires every second, during a tick too
        tuning=Tuning(api_timeout=timedelta(seconds=0.5), active_interval=timedelta(seconds=30)),
    )
    state = DaemonState(
        holder="test",
        specs=SpecsStatus(path="specs"),
        started_at=datetime.now(UTC),
        lease_period=1,
        watch_period=1,
    )
    jobs = TickJobs(
        config,
        state,
        DaemonMetrics(),
        store,
        engine=lambda: engine,  # type: ignore[arg-type,return-value]  # a stand-in with the engine's tick()
        active=lambda: True,
        stopping=lambda: False,
    )
    return jobs, state


async def test_a_server_is_never_ticked_twice_at_once(specs: SpecSet, store: GatedStore) -> None:
    engine = _Engine({"sepm-west-01": 1.6})
    jobs, state = _jobs(engine, store, tick_timeout=30)
    jobs.start()
    try:
        jobs.add(specs.servers["sepm-west-01"])
        async with asyncio.timeout(60):  # the interval fires during every tick; wait for three of them to end
            while state.servers["sepm-west-01"].ticks < 3:  # noqa: ASYNC110 - the scheduler's jobs count them
                await asyncio.sleep(0.05)
    finally:
        jobs.shutdown()
    assert engine.calls["sepm-west-01"] >= 2  # it did tick again, after each tick ended
    assert engine.peak["sepm-west-01"] == 1
    assert state.servers["sepm-west-01"].ticks >= 2


async def test_a_hung_tick_is_cut_off_by_its_timeout_and_holds_only_its_own_server(
    specs: SpecSet, store: GatedStore
) -> None:
    engine = _Engine({"sepm-dmz-01": None, "sepm-west-01": 0.05})
    jobs, state = _jobs(engine, store, tick_timeout=0.5)
    jobs.start()
    try:
        jobs.add(specs.servers["sepm-dmz-01"])
        jobs.add(specs.servers["sepm-west-01"])
        dmz = state.servers["sepm-dmz-01"]
        assert dmz.timeout == 1.0  # --tick-timeout 0.5 s plus the 0.5 s API timeout (it runs no hook)
        west = state.servers["sepm-west-01"]
        async with asyncio.timeout(60):  # the hung tick is cut off, and the other server ticks meanwhile
            while dmz.last_outcome is None or west.ticks < 3:  # noqa: ASYNC110 - the scheduler's jobs set them
                await asyncio.sleep(0.05)
    finally:
        jobs.shutdown()
        for task in list(jobs.inflight.values()):
            task.cancel()
    assert dmz.last_outcome == "timeout", dmz
    assert dmz.last_error is not None and "did not finish within" in dmz.last_error
    assert dmz.last_duration is not None and 0.9 <= dmz.last_duration < 30  # its timeout, not its 1 h
    assert engine.running["sepm-dmz-01"] == 0  # the hung tick was cancelled, not left behind
    assert state.servers["sepm-west-01"].ticks >= 3  # the other server kept ticking meanwhile
