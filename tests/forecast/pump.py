"""The real daemon (``sepm-reconciler run``'s run loop, in this process) on a fleet whose clock the test moves: a
step of the managers' clock only once every server has had a tick since the last one and none is running — so
what the daemon does, measured on the managers' clock, does not depend on how loaded the machine is."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from reconciler.core.decide import Tuning
from reconciler.daemon.config import DaemonConfig
from reconciler.daemon.loop import Daemon
from reconciler.errors import StateError
from reconciler.forecast.track import Track
from reconciler.sim import Simulator

QUICK = Tuning(
    active_interval=timedelta(seconds=0.2),
    waiting_interval=timedelta(seconds=0.2),
    idle_interval=timedelta(seconds=1),
    after_move=timedelta(seconds=0.1),
    api_timeout=timedelta(seconds=30),
    api_max_attempts=5,
    effect_grace=timedelta(seconds=30),
    retry_base=timedelta(seconds=1),
    retry_max=timedelta(seconds=5),
)


def _advance(sim: Simulator, step: timedelta) -> None:
    world = sim.world
    with world.lock:
        world.clock.advance(step.total_seconds())
        world.advance()


async def _sample(
    daemon: Daemon, sim: Simulator, tracks: dict[str, Track], seen: dict[str, tuple[object, ...]]
) -> None:
    try:
        records = await daemon.records()
    except StateError:
        return
    now = sim.world.clock.now()
    for record in records:
        track = tracks.get(record.server)
        key = (record.phase, record.code, record.version)
        if track is not None and seen.get(record.server) != key:
            seen[record.server] = key
            track.add(now, record)


async def run_pumped(
    sim: Simulator,
    specs: Path,
    state: Path,
    names: Sequence[str],
    *,
    step: timedelta = timedelta(minutes=30),
    horizon: timedelta = timedelta(days=10),
    round_within: float = 600.0,
) -> dict[str, Track]:
    """Run the daemon until every server of ``names`` is in sync after its rollout (or stalled, or ``horizon`` of
    the managers' clock passed); the tracks of what it did, sampled on the managers' clock."""
    config = DaemonConfig(
        specs=specs,
        state_url=f"sqlite:///{state}",
        host="127.0.0.1",
        port=0,
        tick_timeout=60,
        lease_ttl=10,
        watch_period=1,
        jitter=0.0,
        max_interval=0.2,
        health_grace=60,
        tuning=QUICK,
    )
    daemon = Daemon(config)
    runner = asyncio.create_task(daemon.run())
    start = sim.world.clock.now()
    tracks = {name: Track(name, start) for name in names}
    seen: dict[str, tuple[object, ...]] = {}
    try:
        while True:
            mark = datetime.now(UTC)
            async with asyncio.timeout(round_within):
                while True:
                    assert not runner.done(), f"the daemon stopped: {runner.result()}"
                    await _sample(daemon, sim, tracks, seen)
                    runtimes = [daemon.state.servers.get(n) for n in names]
                    if all(
                        rt is not None
                        and rt.last_started is not None
                        and rt.last_started > mark
                        and rt.running_since is None
                        for rt in runtimes
                    ):
                        break
                    await asyncio.sleep(0.02)
            await _sample(daemon, sim, tracks, seen)
            if all(
                t.finished_at is not None or (t.samples and t.samples[-1].phase.value == "stalled")
                for t in tracks.values()
            ):
                break
            if sim.world.clock.now() - start > horizon:
                break
            _advance(sim, step)
    finally:
        daemon.request_stop()
        await asyncio.wait_for(runner, 60)
    return tracks
