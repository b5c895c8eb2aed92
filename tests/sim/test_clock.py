"""The fleet's virtual clock: it runs at ``speed``, jumps forward on request, and never goes back."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from reconciler.sim import Simulator
from reconciler.sim.clock import VirtualClock, iso
from tests.sim.conftest import Client, one_manager

START = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def test_a_frozen_clock_moves_only_when_advanced_or_set() -> None:
    clock = VirtualClock(START, speed=0)
    assert clock.now() == START
    assert clock.advance(90.5) == int((START + timedelta(seconds=90.5)).timestamp() * 1000)
    later = START + timedelta(days=2)
    clock.set(later)
    assert clock.now() == later and iso(clock.now_ms()) == "2026-12-03T08:00:00.000Z"


def test_a_running_clock_goes_speed_times_faster_than_real_time() -> None:
    clock = VirtualClock(START, speed=3600)
    time.sleep(0.05)
    elapsed = clock.now() - START
    assert timedelta(seconds=150) <= elapsed < timedelta(seconds=3600)  # 0.05 s real ≈ 3 simulated minutes


@pytest.mark.parametrize(
    ("move", "message"),
    [
        (lambda c: c.advance(-1), "the clock only moves forward: seconds must be ≥ 0"),
        (lambda c: c.set(START - timedelta(seconds=1)), "that time is in the simulated past"),
        (lambda c: c.set(datetime(2026, 12, 2)), "the time needs a zone"),  # naive on purpose
    ],
    ids=["negative-advance", "set-in-the-past", "naive-time"],
)
def test_the_clock_refuses_to_go_back(move: Callable[[VirtualClock], object], message: str) -> None:
    clock = VirtualClock(START, speed=0)
    with pytest.raises(ValueError, match=message):
        move(clock)
    assert clock.now() == START


async def test_the_admin_api_sets_the_clock_forward_only_and_the_api_shows_it(
    http: httpx.AsyncClient,
) -> None:
    async with Simulator(one_manager(count=5)) as sim:
        east = Client(sim, "sepm-east", http)
        assert await east.admin("/clock/set", {"time": "2026-12-08T08:00:00Z"}) == {
            "clock": "2026-12-08T08:00:00.000Z"
        }
        refused = await east.admin("/clock/set", {"time": "2026-12-01T08:00:00Z"}, expect=400)
        assert "simulated past" in refused["errorMessage"]
        token = await east.login()
        assert token["serverTime"] == int(datetime(2026, 12, 8, 8, 0, tzinfo=UTC).timestamp() * 1000)
