"""Client scans across a fleet that changes between their pages: not one client lost, in 1,000 scans.

The strict simulator's churn (machines added, removed and re-imaged on the virtual clock) runs between any two API
calls; here the clock is moved on *between the pages of a scan* (by a transport that advances it before some
``GET computers``), with the amounts Hypothesis draws. After every refresh of the ledger, each client that was live
both before and after the refresh must be in the ledger, and the ledger must hold no client the manager did not have
at one of the two moments. A refresh may end with :class:`ScanInconsistent` (the fleet changed under every pass: the
observation is unknown, a hold) — never with a client missing. Both ways removed machines leave the listing are
covered: kept as ``deleted: 1`` (strict) and vanishing (which shifts offset pages back and skips rows).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.sepm import ClientLedger, ScanInconsistent
from reconciler.sim.simulator import Simulator
from tests.sepm.pki import Issued
from tests.sepm.simkit import client_for, fleet, manager

EAST = "sepm-east"
CHURN = {"addPerDay": 300, "removePerDay": 300, "reimagePerDay": 300}
REFRESHES = 10  # per example
EXAMPLES = 50  # per way of removing: 2 x 50 x 10 = 1,000 scans

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


@dataclass
class Churner:
    """Moves the simulator's clock before the ``GET computers`` of a refresh, by the amounts scheduled for it."""

    sim: Simulator
    schedule: list[int] = field(default_factory=list)
    moved: int = 0

    def __call__(self, request: httpx.Request) -> httpx.Response | None:
        if request.method == "GET" and request.url.path.endswith("/computers") and self.schedule:
            seconds = self.schedule.pop(0)
            if seconds:
                with self.sim.world.lock:
                    self.sim.world.clock.advance(seconds)
                self.moved += seconds
        return None  # the real simulator answers


def live(sim: Simulator) -> set[str]:
    return {row["uniqueId"] for row in sim.state(clients=True)["managers"][EAST]["client_rows"]}


@dataclass
class Tally:
    scans: int = 0
    inconsistent: int = 0
    full: int = 0
    repeated: int = 0
    drift: int = 0
    dropped: int = 0


async def _example(
    pki: dict[str, Issued], deleted_rows: bool, refreshes: list[tuple[bool, list[int]]], tally: Tally
) -> None:
    east = manager(EAST, "Site East", pki["east"], clients=150)
    east["clients"]["churn"] = CHURN
    behaviours = {"throttle": False, "deletedRows": deleted_rows}
    async with Simulator(fleet(east, behaviours=behaviours)) as sim:
        churner = Churner(sim)
        ledger = ClientLedger(page_size=20, full_scan_every=timedelta(hours=3))
        now = datetime(2026, 12, 1, 8, tzinfo=UTC)
        async with client_for(sim, EAST, pki["ca"], override=churner) as client:
            for force, schedule in refreshes:
                now += timedelta(hours=1)
                churner.schedule = list(schedule)
                before = live(sim)
                manager_time = await client.manager_time()
                assert manager_time is not None
                try:
                    stats = await ledger.refresh(
                        client, manager_time=manager_time, change_time=None, now=now, force_full=force
                    )
                except ScanInconsistent:
                    tally.inconsistent += 1
                    tally.scans += 1
                    continue
                after = live(sim)
                held = set(ledger.unique_ids())
                lost = (before & after) - held
                invented = held - before - after
                assert not lost, f"clients lost: {sorted(lost)[:5]} ({stats})"
                assert not invented, f"clients the manager never had: {sorted(invented)[:5]} ({stats})"
                tally.scans += 1
                tally.full += stats.full
                tally.repeated += stats.repeated
                tally.drift += len(stats.drift)
                tally.dropped += stats.dropped


refresh = st.tuples(st.booleans(), st.lists(st.sampled_from([0, 0, 30, 120, 600]), max_size=8))


def _property(pki: dict[str, Issued], deleted_rows: bool, tally: Tally) -> Callable[..., None]:
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(st.lists(refresh, min_size=REFRESHES, max_size=REFRESHES))
    def check(refreshes: list[tuple[bool, list[int]]]) -> None:
        asyncio.run(_example(pki, deleted_rows, refreshes, tally))

    return check


@pytest.mark.parametrize(
    "deleted_rows", [True, False], ids=["strict-deleted-rows-kept", "deleted-rows-vanish"]
)
def test_no_client_is_lost_across_churned_scans(pki: dict[str, Issued], deleted_rows: bool) -> None:
    tally = Tally()
    _property(pki, deleted_rows, tally)()
    assert tally.scans == EXAMPLES * REFRESHES
    # the scans did meet a changing fleet, and mostly came out consistent
    assert tally.full > 0, tally
    assert tally.inconsistent <= tally.scans // 20, tally
    if deleted_rows:
        assert tally.repeated > 0, tally  # records created before their page pushed rows on: read twice
    else:
        assert tally.drift > 0, tally  # vanishing records pulled rows back: seen, and the fleet read again
        assert tally.dropped > 0, tally  # the vanished ones left the ledger
    print(f"{'deleted rows kept' if deleted_rows else 'deleted rows vanish'}: {tally}")
