"""When the client ledger pages everything and when it asks only for what changed (scripted manager, real HTTPS).

The simulator-backed incremental test (test_observe_sim.py) shows the counts stay exact; these cover the decisions
the simulator cannot provoke on cue: computers deleted on the manager, and a scan that fails half-way.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import BuiltinFunctionType, FunctionType, MethodType, ModuleType
from typing import Any

import pytest

from reconciler.errors import TemporaryError
from reconciler.sepm import ClientLedger, RetryPolicy, SepmClient
from tests.sepm.scripted import Recorded, Reply, ScriptedServer, auth_reply

API = "/sepm/api/v1"
T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


class Manager:
    """Computers with a change time; ``GET computers`` honours pageIndex/pageSize/lastUpdate like SEPM."""

    def __init__(self, count: int) -> None:
        self.computers = {f"U{i:04d}": _ms(T0) - 60_000 for i in range(count)}
        self.fail_after_pages: int | None = None
        self.served_pages = 0

    def reply(self, request: Recorded) -> Reply:
        index, size = int(request.query["pageIndex"][0]), int(request.query["pageSize"][0])
        since = int(request.query.get("lastUpdate", ["-1"])[0])
        if self.fail_after_pages is not None and self.served_pages >= self.fail_after_pages and size > 1:
            return Reply(500, {"errorMessage": "database unavailable"})
        self.served_pages += size > 1
        chosen = sorted(uid for uid, changed in self.computers.items() if changed > since)
        items = [self.computer(uid) for uid in chosen[(index - 1) * size : index * size]]
        pages = max(1, -(-len(chosen) // size))
        body = {"content": items, "lastPage": index >= pages, "numberOfElements": len(items)}
        return Reply(200, {**body, "totalElements": len(chosen), "totalPages": pages, "size": size})

    def computer(self, uid: str) -> dict[str, Any]:
        return {
            "uniqueId": uid,
            "computerName": f"PC-{uid}",
            "profileSerialNo": "718B-12/01/2026 07:00:00 000",
            "lastUpdateTime": self.computers[uid],
            "onlineStatus": 1,
            "agentVersion": "14.3.9816.7000",
            "group": {"id": "718B0000"},
        }


@pytest.fixture
def manager(server: ScriptedServer) -> Manager:
    fake = Manager(25)
    server.on("POST", f"{API}/identity/authenticate", auth_reply())
    server.on("GET", f"{API}/computers", fake.reply)
    return fake


async def test_a_cold_ledger_pages_everything_then_asks_only_for_changes(
    server: ScriptedServer, manager: Manager, make_client: Callable[..., SepmClient]
) -> None:
    ledger = ClientLedger(page_size=10)
    async with make_client(server.url) as client:
        first = await ledger.refresh(client, manager_time=T0, change_time=None, now=NOW)
        manager.computers["U0003"] = _ms(T0) + 1_000
        manager.computers["U0017"] = _ms(T0) + 2_000
        server.requests.clear()
        second = await ledger.refresh(
            client, manager_time=T0 + timedelta(minutes=5), change_time=None, now=NOW
        )
    assert (first.full, first.reason, first.pages, first.fetched) == (True, "cold ledger", 3, 25)
    assert (second.full, second.reason, second.fetched) == (False, "incremental", 2)
    scans = [r.query for r in server.requests if r.query.get("pageSize") == ["10"]]
    assert [(s["pageIndex"], s["pageSize"]) for s in scans] == [(["1"], ["10"])]
    # from the manager's time before the first scan's listing of changes (its serverTime carried forward: this
    # scripted manager sends no Date header), less the 2 s overlap
    assert _ms(T0) - 2_000 <= int(scans[0]["lastUpdate"][0]) < _ms(T0) - 1_000
    entry = ledger.get("U0003")
    assert entry is not None and entry.last_update_ms == _ms(T0) + 1_000
    assert len(ledger) == 25


async def test_computers_deleted_on_the_manager_trigger_a_full_rescan_that_forgets_them(
    server: ScriptedServer, manager: Manager, make_client: Callable[..., SepmClient]
) -> None:
    ledger = ClientLedger(page_size=10)
    async with make_client(server.url) as client:
        await ledger.refresh(client, manager_time=T0, change_time=None, now=NOW)
        del manager.computers["U0004"], manager.computers["U0005"]
        stats = await ledger.refresh(client, manager_time=T0, change_time=None, now=NOW)
    assert stats.full and stats.reason == "the manager counts 23 computers, the ledger 25"
    assert len(ledger) == 23 and ledger.get("U0004") is None


@pytest.mark.parametrize(
    ("change_time", "now", "reason"),
    [
        (T0, NOW, "the change time moved"),
        (None, NOW + timedelta(hours=6), "last full scan older than 6:00:00"),
    ],
    ids=["change-time-moved", "full-scan-too-old"],
)
async def test_a_warm_ledger_still_rescans_everything_when_it_must(
    server: ScriptedServer,
    manager: Manager,
    make_client: Callable[..., SepmClient],
    change_time: datetime | None,
    now: datetime,
    reason: str,
) -> None:
    ledger = ClientLedger(page_size=10)
    async with make_client(server.url) as client:
        await ledger.refresh(client, manager_time=T0, change_time=None, now=NOW)
        stats = await ledger.refresh(client, manager_time=T0, change_time=change_time, now=now)
    assert stats.full and stats.reason == reason and stats.fetched == 25


async def test_a_scan_that_fails_half_way_is_followed_by_a_full_one(
    server: ScriptedServer, manager: Manager, make_client: Callable[..., SepmClient]
) -> None:
    ledger = ClientLedger(page_size=10)
    retry = RetryPolicy(attempts=2, base_delay=0.001, max_delay=0.001)
    async with make_client(server.url, retry=retry) as client:
        await ledger.refresh(client, manager_time=T0, change_time=None, now=NOW)
        manager.computers.update(dict.fromkeys(list(manager.computers)[:15], _ms(T0) + 5))
        manager.fail_after_pages, manager.served_pages = 1, 0
        with pytest.raises(TemporaryError, match="HTTP 500"):
            await ledger.refresh(client, manager_time=T0, change_time=None, now=NOW)
        assert not ledger.warm
        manager.fail_after_pages = None
        stats = await ledger.refresh(client, manager_time=T0, change_time=None, now=NOW)
    assert stats.full and stats.reason == "cold ledger" and len(ledger) == 25


def _reachable_bytes(root: object) -> int:
    """The size of every object reachable from ``root`` (not classes, modules or functions)."""
    skip = (type, ModuleType, FunctionType, BuiltinFunctionType, MethodType)
    seen: set[int] = set()
    total = 0
    stack = [root]
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, skip):
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        stack.extend(gc.get_referents(obj))
        if isinstance(obj, dict):
            stack.extend(obj)  # keys that are all strings are not among a dict's referents
    return total


async def test_the_ledger_keeps_a_few_hundred_bytes_per_client_and_nothing_of_the_rows_it_read(
    server: ScriptedServer, make_client: Callable[..., SepmClient]
) -> None:
    # 1M clients in one daemon (benchmarks/fleet.py, RSS ≤ 1 GB): an entry of a tuple, two ints and a name held 300
    # bytes per client here, the packed entry 182 (the uniqueId of 32 hex digits, its key, is 81 of them).
    fake = Manager(0)
    fake.computers = {f"{i:032X}": _ms(T0) - 60_000 - i for i in range(2000)}
    rich = fake.computer

    def computer(
        uid: str,
    ) -> dict[str, Any]:  # a row as long as SEPM's: many fields the ledger has no use for
        row = rich(uid)
        row["computerName"] = f"LAPTOP-{uid[-8:]}"
        row.update({f"field{n}": f"value {n} of {uid}" for n in range(30)})
        return row

    fake.computer = computer  # type: ignore[method-assign]
    server.on("POST", f"{API}/identity/authenticate", auth_reply())
    server.on("GET", f"{API}/computers", fake.reply)
    ledger = ClientLedger(page_size=1000)
    async with make_client(server.url) as client:
        stats = await ledger.refresh(client, manager_time=T0, change_time=None, now=NOW)
    assert stats.full and len(ledger) == 2000
    per_client = _reachable_bytes(ledger) / len(ledger)
    assert per_client < 230, f"{per_client:.0f} bytes kept per client"
    entry = ledger.get(f"{7:032X}")
    assert entry is not None and entry.name == "LAPTOP-00000007" and entry.online is True
    assert (entry.agent_version, entry.group_id, entry.bad_serial) == ("14.3.9816.7000", "718B0000", False)
    assert entry.last_update_ms == _ms(T0) - 60_007 and entry.serial_ms == _ms(
        datetime(2026, 12, 1, 7, tzinfo=UTC)
    )
