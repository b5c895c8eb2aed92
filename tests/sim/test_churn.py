"""Churn on the virtual clock: machines added, removed and re-imaged between any two API calls; removed and
re-imaged records listed with ``deleted: 1`` (``deletedRows``). A scan by offset across churn loses or repeats
rows unless it reconciles."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from reconciler.sim import Simulator
from tests.sim.conftest import Client, one_manager

CHURN = {"addPerDay": 48, "removePerDay": 48, "reimagePerDay": 48}


def churn_fleet(**behaviours: Any) -> dict[str, Any]:
    clients = {"count": 200, "heartbeat": "5m", "churn": CHURN}
    return one_manager(clients=clients, behaviours={"throttle": False, **behaviours})


async def test_churn_adds_removes_and_reimages_on_the_virtual_clock(http: httpx.AsyncClient) -> None:
    async with Simulator(churn_fleet()) as sim:
        east = Client(sim, "sepm-east", http)
        await east.login()
        before = {c["uniqueId"]: c for c in await east.all_computers(page_size=1000)}
        assert len(before) == 200 and east.truth()["clients"]["deleted"] == 0
        await east.advance(1799)  # 48 a day: none yet in the first half hour
        assert len(await east.all_computers(page_size=1000)) == 200
        await east.advance(86400 - 1799)  # a day
        rows = await east.all_computers(page_size=1000)
        live = [c for c in rows if c["deleted"] == 0]
        deleted = [c for c in rows if c["deleted"] == 1]
        assert len(rows) == 200 + 48 + 48 and len(live) == 200 and len(deleted) == 96
        assert all(c["onlineStatus"] == 0 for c in deleted)
        reimaged = {c["computerName"] for c in deleted} & {c["computerName"] for c in live}
        assert len(reimaged) == 48  # same name, a new uniqueId, the same hardware key
        for name in reimaged:
            old, new = (next(c for c in group if c["computerName"] == name) for group in (deleted, live))
            assert old["uniqueId"] != new["uniqueId"] and old["hardwareKey"] == new["hardwareKey"]
            assert new["creationTime"] > old["creationTime"]
        added = [c for c in live if c["uniqueId"] not in before and c["computerName"] not in reimaged]
        assert len(added) == 48 and all("-A" in c["computerName"] for c in added)
        names = [c["computerName"] for c in rows]
        assert names == sorted(names)  # new machines sort among the others, not at the end
        assert names.index(added[0]["computerName"]) < len(names) - 48
        truth = east.truth()["clients"]
        assert (truth["total"], truth["deleted"], truth["orphaned"]) == (200, 96, 0)


async def test_without_deleted_rows_removed_machines_vanish(http: httpx.AsyncClient) -> None:
    async with Simulator(churn_fleet(deletedRows=False)) as sim:
        east = Client(sim, "sepm-east", http)
        await east.login()
        await east.advance(86400)
        rows = await east.all_computers(page_size=1000)
        assert len(rows) == 200 and {c["deleted"] for c in rows} == {0}
        assert len({c["computerName"] for c in rows}) == 200


async def naive_scan(
    east: Client, page_size: int, *, churn_between_pages: float
) -> tuple[list[dict[str, Any]], set[int]]:
    """Offset paging as a careless client does it, while time passes between pages; returns the rows and every
    totalElements seen."""
    rows: list[dict[str, Any]] = []
    totals: set[int] = set()
    page = 1
    while True:
        body = (await east.get("/computers", pageIndex=page, pageSize=page_size)).json()
        rows += body["content"]
        totals.add(body["totalElements"])
        if body["lastPage"]:
            return rows, totals
        page += 1
        await east.advance(churn_between_pages)


@pytest.mark.parametrize("deleted_rows", [True, False], ids=["strict-deleted-rows", "lenient"])
async def test_a_scan_across_churn_loses_or_repeats_a_row_unless_it_reconciles(
    http: httpx.AsyncClient, deleted_rows: bool
) -> None:
    async with Simulator(churn_fleet(deletedRows=deleted_rows)) as sim:
        east = Client(sim, "sepm-east", http)
        await east.login()
        rows, totals = await naive_scan(east, 25, churn_between_pages=3600)
        truth_rows = sim.state(clients=True)["managers"]["sepm-east"]["client_rows"]
        live_now = {r["uniqueId"] for r in truth_rows}
        scanned = [c["uniqueId"] for c in rows if c["deleted"] == 0]
        repeated = len(scanned) - len(set(scanned))
        lost = live_now - set(scanned)
        assert repeated or lost, "offset paging over a changing fleet skipped or repeated nothing"
        if deleted_rows:
            assert len(totals) > 1  # deleted records linger: totalElements grows between pages
        else:
            assert totals == {200}  # as many added as removed: the total alone does not show the drift

        # Reconciling: drift was seen, so scan again while nothing changes (no time passes), dedupe by uniqueId and
        # drop deleted rows: exactly the live fleet.
        again, totals = await naive_scan(east, 25, churn_between_pages=0)
        assert len(totals) == 1
        live = {c["uniqueId"] for c in again if c["deleted"] == 0}
        assert live == live_now and len(live) == sum(1 for c in again if c["deleted"] == 0)
