"""The throttle and the API budget against the simulator: a scan without ``Retry-After`` waits the window out and
completes; a scan cut short resumes at the page it reached; the manager's clock follows its ``Date`` header without a
new session; a steady-state tick of a 20,000-client manager with 50 groups stays far inside 50 calls a minute."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from reconciler.sepm import ClientLedger, RetryPolicy, ThrottledError, observe
from reconciler.sim.simulator import Simulator
from tests.sepm.pki import Issued
from tests.sepm.simkit import Admin, RecordingTransport, client_for, fleet, manager, spec_for

EAST = "sepm-east"
NOW = datetime(2026, 12, 1, 9, tzinfo=UTC)


def live_ids(sim: Simulator) -> set[str]:
    return {row["uniqueId"] for row in sim.state(clients=True)["managers"][EAST]["client_rows"]}


async def test_a_throttled_scan_without_retry_after_waits_the_window_out_and_completes(
    pki: dict[str, Issued],
) -> None:
    throttle = {"threshold": 10, "windowMinutes": 1, "retryAfter": False}
    # a virtual minute lasts a real second; the client knows its window is one second
    async with Simulator(fleet(manager(EAST, "Site East", pki["east"], clients=600), speed=60,
                               behaviours={"throttle": throttle})) as sim:  # fmt: skip
        retry = RetryPolicy(
            attempts=3, base_delay=0.01, max_delay=5.0, throttle_window=1.0, throttle_budget=20.0
        )
        async with client_for(sim, EAST, pki["ca"], retry=retry) as client:
            ledger = ClientLedger(page_size=50)
            manager_time = await client.manager_time()
            assert manager_time is not None
            stats = await ledger.refresh(client, manager_time=manager_time, change_time=None, now=NOW)
            expected = live_ids(sim)
        refused = sim.state()["managers"][EAST]["throttle"]["refused"]
    assert stats.full and stats.attempts >= 1 and len(ledger) == len(expected)
    assert set(ledger.unique_ids()) == expected
    assert client.throttle.refusals > 0 and client.throttle.retry_after_seen == 0 and refused > 0


async def test_a_full_scan_cut_short_by_the_throttle_resumes_at_the_page_it_reached(
    pki: dict[str, Issued],
) -> None:
    throttle = {"threshold": 8, "windowMinutes": 1, "retryAfter": False}
    # a frozen clock: a window ends only when the test moves time on
    async with Simulator(fleet(manager(EAST, "Site East", pki["east"], clients=500),
                               behaviours={"throttle": throttle})) as sim:  # fmt: skip
        recorder: list[RecordingTransport] = []
        retry = RetryPolicy(
            attempts=3, base_delay=0.01, max_delay=5.0, throttle_window=0.2, throttle_budget=0.3
        )
        async with client_for(sim, EAST, pki["ca"], retry=retry, recorder=recorder) as client:
            ledger = ClientLedger(page_size=50)
            manager_time = await client.manager_time()  # one call: the authentication
            assert manager_time is not None
            try:
                await ledger.refresh(client, manager_time=manager_time, change_time=None, now=NOW)
            except ThrottledError as exc:
                cut = exc
            else:
                raise AssertionError("the scan was not throttled")
            assert "no Retry-After" in str(cut) and not ledger.warm
            first = [
                int(s.params["pageIndex"])
                for s in recorder[0].seen
                if s.status == 200 and "pageSize" in s.params
            ]
            await Admin(sim, EAST, pki["ca"]).advance(60)  # the window ends
            recorder[0].seen.clear()
            stats = await ledger.refresh(client, manager_time=manager_time, change_time=None, now=NOW)
            second = [
                int(s.params["pageIndex"])
                for s in recorder[0].seen
                if s.status == 200 and "pageSize" in s.params and "lastUpdate" not in s.params
            ]
        expected = live_ids(sim)
    assert first == list(range(1, len(first) + 1)) and len(first) >= 5  # pages 1.. until the throttle
    assert stats.resumed_at == len(first) + 1 and second[0] == len(first) + 1  # from where it stopped
    assert second == list(range(len(first) + 1, 11)), "every page read once in all: 500 clients, 50 a page"
    assert "resumed at page" in stats.reason and set(ledger.unique_ids()) == expected


async def test_the_managers_clock_follows_its_date_header_without_a_new_session(
    pki: dict[str, Issued],
) -> None:
    simulated = Simulator(fleet(manager(EAST, "Site East", pki["east"], clients=50)))
    async with simulated as sim, client_for(sim, EAST, pki["ca"]) as client:
        first = await client.manager_time()
        await Admin(sim, EAST, pki["ca"]).advance(3600)
        await client.get_json("version", authenticated=False)
        later = await client.manager_time()
        assert client.authentications == 1
    assert first == datetime(2026, 12, 1, 8, tzinfo=UTC)
    assert later == first + timedelta(hours=1)


def fifty_groups() -> list[dict[str, Any]]:
    return [{"name": "My Company", "inherits": False}] + [
        {"name": f"My Company\\Branch {i:02d}", "inherits": False} for i in range(1, 50)
    ]


async def test_a_steady_state_tick_of_20k_clients_and_50_groups_stays_far_inside_the_throttle(
    pki: dict[str, Issued],
) -> None:
    east = manager(EAST, "Site East", pki["east"], clients=20_000, groups=fifty_groups())
    async with Simulator(fleet(east)) as sim:  # strict, its throttle off: the calls are counted instead
        spec = spec_for(sim, EAST, pki["ca"])
        admin = Admin(sim, EAST, pki["ca"])
        ledger = ClientLedger()
        ticks: list[Counter[str]] = []
        async with client_for(sim, EAST, pki["ca"]) as client:
            for advance in (0, 60, 60, 300):
                await admin.advance(advance)
                before = Counter(client.calls)
                observation = await observe(spec, client, ledger=ledger)
                assert observation.errors == (), observation.errors
                ticks.append(Counter(client.calls) - before)
            assert client.authentications == 1
    cold, one_minute, again, five_minutes = (sum(t.values()) for t in ticks)
    print(f"calls: cold {cold}, a minute later {one_minute} and {again}, five minutes later {five_minutes}; "
          f"steady tick: {dict(ticks[2])}")  # fmt: skip
    assert ticks[0]["groups/{id}/locations/{id}/settings"] == 50
    assert all(t["groups/{id}/locations/{id}/settings"] == 0 for t in ticks[1:]), "settings reused"
    assert all(t["identity/authenticate"] == 0 for t in ticks[1:]), "one session"
    assert one_minute <= 12 and again <= 12, ticks  # about 20% of the fleet checked in: 4 pages of 1,000
    assert five_minutes <= 30, ticks  # the whole fleet checked in: 20 pages
