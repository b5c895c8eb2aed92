"""The real daemon (``sepm-reconciler run``'s run loop, in this process) on a fleet whose clock the test moves: a
step of the managers' clock only once every server has had a tick since the last one, with the daemon's scheduler
paused and no tick running; a step of one second when a server got further in the procedure in that tick (at most
``settle_rounds`` in a row) — so what the daemon does, measured on the managers' clock, does not depend on how loaded
the machine is."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from reconciler.core.codes import Code
from reconciler.core.decide import Tuning
from reconciler.core.phase import Phase
from reconciler.core.procedure.table import STANDARD
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


SWAP_CODES = frozenset({Code.SITE_SWAP_TURN.value, Code.SITE_PEER_DOWN.value})


def _swapping(seen: dict[str, tuple[object, ...]]) -> bool:
    """A certificate is being swapped (4a), or a server of a site waits for its turn to: a swap takes a few ticks,
    each of which would cost a whole step of the clock — the servers of a site swap one after another, and the
    first one's 4b lasts until the last one's 4b is over."""
    return any(key[0] is Phase.UPDATING_CERTIFICATE or key[1] in SWAP_CODES for key in seen.values())


ORDER = [stage.phase for stage in STANDARD.steps] + [Phase.IN_SYNC]


def _rank(phase: object) -> int:
    """How far into the procedure ``phase`` is (-1: outside it, or stalled)."""
    return ORDER.index(phase) if phase in ORDER else -1


async def run_pumped(
    sim: Simulator,
    specs: Path,
    state: Path,
    names: Sequence[str],
    *,
    step: timedelta = timedelta(minutes=30),
    swap_step: timedelta = timedelta(minutes=1),
    settle_rounds: int = 5,
    settle_step: timedelta = timedelta(seconds=1),
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
    while daemon._jobs is None:  # started by run()
        assert not runner.done(), f"the daemon stopped: {runner.result()}"
        await asyncio.sleep(0.01)
    jobs = daemon._jobs
    start = sim.world.clock.now()
    tracks = {name: Track(name, start) for name in names}
    seen: dict[str, tuple[object, ...]] = {}
    reached: dict[
        str, int
    ] = {}  # the furthest stage each server has been in (a step gone back to is not progress)
    settling = 0
    try:
        while True:
            mark = datetime.now(UTC)
            async with asyncio.timeout(round_within):
                # every server has begun a tick since the clock last moved ...
                while not all(
                    (rt := daemon.state.servers.get(n)) is not None
                    and rt.last_started is not None
                    and rt.last_started > mark
                    for n in names
                ):
                    assert not runner.done(), f"the daemon stopped: {runner.result()}"
                    await _sample(daemon, sim, tracks, seen)
                    await asyncio.sleep(0.02)
                # ... then no tick begins, and those under way end, before the clock moves. The servers of one site
                # tick one at a time (one waits for the other's), so on a busy site some tick is always under way:
                # waiting for a moment when none runs, as this harness once did, never ends.
                jobs.pause()
                try:
                    while any(
                        (rt := daemon.state.servers.get(n)) is not None and rt.running_since is not None
                        for n in names
                    ):
                        assert not runner.done(), f"the daemon stopped: {runner.result()}"
                        await asyncio.sleep(0.02)
                    await _sample(daemon, sim, tracks, seen)
                    if all(
                        t.finished_at is not None or (t.samples and t.samples[-1].phase.value == "stalled")
                        for t in tracks.values()
                    ):
                        break
                    if sim.world.clock.now() - start > horizon:
                        break
                    # A round in which a server got further than before is followed by another a second later, so
                    # that a server waiting on another's move (a site's lead held at 5a's gate for its follower's 4b,
                    # a partner at step 7) sees it at once, as a real daemon does within minutes — not a clock step
                    # later. Not at the same time: a policy changed at the very time of the one before keeps its
                    # serial, and a follower whose settings cache is keyed by it would read the flags as they were
                    # (it then goes back to 2b and forward again each tick: no progress, so no further settling).
                    furthest = {n: max(reached.get(n, -1), _rank(key[0])) for n, key in seen.items()}
                    if furthest != reached and settling < settle_rounds:
                        settling += 1
                        _advance(sim, settle_step)
                    else:
                        settling = 0
                        _advance(sim, swap_step if _swapping(seen) else step)
                    reached = furthest
                finally:
                    jobs.resume()
    finally:
        daemon.request_stop()
        await asyncio.wait_for(runner, 60)
    return tracks
