"""The REST throttle (behaviour ``throttle``): the shipped 50 calls per minute, on the virtual clock, and by default
no ``Retry-After`` — a client that backs off for a second gives up; one that waits the window out succeeds."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from reconciler.sim import Simulator
from tests.sim.conftest import Client, fleet, manager, one_manager


async def burn(east: Client, calls: int) -> list[int]:
    return [(await east.get("/groups")).status_code for _ in range(calls)]


async def scan_with_short_backoff(east: Client, pages: int) -> int:
    """A client with ~1 s of real backoff in total (as the adapter had): returns the pages read before giving up."""
    for page in range(1, pages + 1):
        for delay in (0.05, 0.1, 0.2, 0.4, 0.25):
            r = await east.get("/computers", pageIndex=page, pageSize=10)
            if r.status_code != 429:
                break
            await asyncio.sleep(delay)
        else:
            return page - 1
    return pages


async def test_the_shipped_threshold_refuses_the_51st_call_of_a_minute_without_retry_after(
    http: httpx.AsyncClient,
) -> None:
    async with Simulator(one_manager(count=200)) as sim:  # strict: 50 a minute, no Retry-After; frozen clock
        east = Client(sim, "sepm-east", http)
        await east.login()  # the login counts too
        assert await burn(east, 49) == [200] * 49
        refused = await east.get("/groups")
        assert refused.status_code == 429 and "Retry-After" not in refused.headers
        assert refused.json()["appErrorCode"] == "THROTTLED"
        assert (await east.admin("/state", None, expect=None)) is not None  # /_sim is never throttled

        # ~1 s of real backoff: the virtual window (frozen here) does not end, the scan gives up
        assert await scan_with_short_backoff(east, 3) == 0
        # waiting the window out (on the manager's clock) is what works
        await east.advance(60)
        assert await scan_with_short_backoff(east, 3) == 3
        assert east.truth()["throttle"]["refused"] >= 6


async def test_the_window_runs_on_the_virtual_clock_so_an_accelerated_fleet_is_not_slowed(
    http: httpx.AsyncClient,
) -> None:
    # 1 real second = 1 simulated hour: a one-minute window lasts about 17 real milliseconds.
    fast = fleet(
        manager("sepm-east", "Site East", count=50, behaviours={"throttle": {"threshold": 5}}), speed=3600
    )
    async with Simulator(fast) as sim:
        east = Client(sim, "sepm-east", http)
        await east.login()
        statuses = await burn(east, 200)
        assert statuses.count(429) < len(statuses)  # the windows keep reopening in real time
        assert await scan_with_short_backoff(east, 5) == 5


@pytest.mark.parametrize(
    ("throttle", "header"),
    [({"threshold": 3, "windowMinutes": 2, "retryAfter": True}, "120"), (False, None)],
    ids=["retry-after-on", "lenient-no-throttle"],
)
async def test_retry_after_says_how_long_the_window_lasts_and_lenient_has_no_throttle(
    http: httpx.AsyncClient, throttle: Any, header: str | None
) -> None:
    async with Simulator(one_manager(count=20, behaviours={"throttle": throttle})) as sim:
        east = Client(sim, "sepm-east", http)
        await east.login()
        statuses = await burn(east, 60)
        if header is None:
            assert statuses == [200] * 60
            return
        assert statuses[:2] == [200, 200] and statuses[2] == 429
        refused = await east.get("/groups")
        assert refused.headers["Retry-After"] == header  # a frozen clock: the window's virtual seconds
        await east.advance(119)
        assert refused.headers["Retry-After"] == header and (await east.get("/groups")).status_code == 429
        await east.advance(1)
        assert (await east.get("/groups")).status_code == 200


async def test_the_throttle_can_be_switched_at_run_time(http: httpx.AsyncClient) -> None:
    async with Simulator(one_manager(count=20)) as sim:
        east = Client(sim, "sepm-east", http)
        await east.login()
        assert (await east.behave(throttle=False))["throttle"] is False
        assert await burn(east, 80) == [200] * 80
        shown = await east.behave(throttle={"threshold": 10, "retryAfter": True})  # a new window starts
        assert shown["throttle"] == {"threshold": 10, "windowMinutes": 1.0, "retryAfter": True}
        assert (await burn(east, 12)).count(429) == 2
