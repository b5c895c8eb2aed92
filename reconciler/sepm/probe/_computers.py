"""Probe checks of the computers: paging, fields, online status, serials, the lastUpdate filter, page sizes, a stable
listing order, uniqueIds and deleted records, and the online counts."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from reconciler.core.spec import ManagedServer
from reconciler.errors import Error
from reconciler.sepm.client import ApiError, SepmClient
from reconciler.sepm.paging import Page, fetch_page, first_page
from reconciler.sepm.probe._model import Checks, Status, missing_fields
from reconciler.sepm.scan import is_deleted
from reconciler.sepm.serials import parse_policy_serial

__all__ = ["COMPUTER_FIELDS", "PAGE_SIZES_TRIED", "computers", "online_stats"]

COMPUTER_FIELDS = (
    "uniqueId",
    "computerName",
    "profileSerialNo",
    "onlineStatus",
    "lastUpdateTime",
    "creationTime",
    "deleted",
    "agentVersion",
    "group.id",
)
PAGE_SIZES_TRIED = (1000, 2000, 5000)


async def computers(
    checks: Checks, client: SepmClient, server: ManagedServer, server_time: datetime | None
) -> None:
    size = server.spec.server.api.page_size
    try:
        page = await first_page(client, "computers", {}, size)
    except Error as exc:
        checks.failed("endpoint.computers", exc)
        return
    items = page.content
    total = page.total_elements
    checks.add("endpoint.computers", Status.PASS, f"{total} computers", total=total)
    missing = missing_fields(items, COMPUTER_FIELDS)
    checks.add(
        "fields.computer",
        Status.FAIL if missing else Status.PASS if items else Status.UNKNOWN,
        f"missing on some of the first {len(items)}: {missing}"
        if missing
        else f"all present on the first {len(items)}",
        missing=missing,
    )
    values = sorted({i.get("onlineStatus") for i in items}, key=repr)
    checks.add(
        "computers.online_status",
        Status.UNKNOWN if not items else Status.PASS if set(values) <= {0, 1} else Status.FAIL,
        f"values seen on the first {len(items)}: {values}",
        values=values,
    )
    live = [i for i in items if not is_deleted(i)]
    bad = [
        i.get("profileSerialNo")
        for i in live
        if parse_policy_serial(str(i.get("profileSerialNo") or "")) is None
    ]
    checks.add(
        "serials.client",
        Status.UNKNOWN if not live else Status.FAIL if bad else Status.PASS,
        f"{len(bad)} of {len(live)} do not parse, e.g. {bad[:3]}" if bad else f"all {len(live)} parse",
    )
    _records(checks, items)
    await checks.attempt("paging.stable", lambda: _stable(checks, client, page))
    if server_time is None:
        return
    await checks.attempt(
        "computers.last_update", lambda: _last_update(checks, client, server_time, total, page.size)
    )
    await checks.attempt("paging.page_size", lambda: _page_sizes(checks, client, server_time, size))


def _records(checks: Checks, items: list[dict[str, Any]]) -> None:
    uids = Counter(str(i.get("uniqueId")) for i in items)
    repeated = sorted(u for u, n in uids.items() if n > 1)
    flags = {repr(i.get("deleted")) for i in items}
    odd_flags = sorted(f for f in flags if f not in ("0", "1", "True", "False"))
    names = Counter(str(i.get("computerName")).casefold() for i in items)
    live_names = Counter(str(i.get("computerName")).casefold() for i in items if not is_deleted(i))
    shared = sum(1 for n in names.values() if n > 1)
    live_shared = sorted(name for name, n in live_names.items() if n > 1)
    deleted = sum(1 for i in items if is_deleted(i))
    seen = (
        f"on the first {len(items)}: {deleted} deleted record(s), {shared} name(s) listed more than once"
        + (
            f", {len(live_shared)} of them by more than one live record (e.g. {live_shared[:3]})"
            if live_shared
            else ""
        )
    )
    if repeated:
        status, seen = (
            Status.FAIL,
            f"uniqueId repeated within one page: {repeated[:3]} — records cannot be told apart",
        )
    elif odd_flags:
        status, seen = (
            Status.FAIL,
            f"deleted holds {odd_flags}, not 0/1: deleted records cannot be told apart",
        )
    else:
        status = Status.PASS if items else Status.UNKNOWN
    checks.add(
        "computers.records",
        status,
        seen,
        deleted=deleted,
        names_repeated=shared,
        live_names_repeated=len(live_shared),
    )


async def _stable(checks: Checks, client: SepmClient, page: Page) -> None:
    again = await fetch_page(client, "computers", {}, 1, page.size)
    first = [str(i.get("uniqueId")) for i in page.content]
    second = [str(i.get("uniqueId")) for i in again.content]
    common = set(first) & set(second)
    order_first = [u for u in first if u in common]
    order_second = [u for u in second if u in common]
    changed = len(set(first) ^ set(second))
    if order_first != order_second:
        checks.add(
            "paging.stable",
            Status.FAIL,
            "page 1 read twice lists the same records in another order: offset paging cannot be relied on (a scan "
            "would skip and repeat records at random)",
        )
        return
    checks.add(
        "paging.stable",
        Status.PASS,
        "page 1 read twice: the same order"
        + (
            f" ({changed} record(s) came or went in between: the fleet changes, scans check for it)"
            if changed
            else ""
        ),
        changed=changed,
    )


async def _last_update(
    checks: Checks, client: SepmClient, server_time: datetime, total: Any, size: int
) -> None:
    since = server_time - timedelta(hours=1)
    since_ms = int(since.timestamp() * 1000)
    data = await client.get_json(
        "computers", params={"pageIndex": 1, "pageSize": size, "lastUpdate": since_ms}
    )
    content = data.get("content", []) if isinstance(data, dict) else []
    # a record whose status changed (a check-in, going offline, deletion…): only online ones must have checked in
    older = [
        i.get("computerName")
        for i in content
        if isinstance(i, dict)
        and i.get("onlineStatus") == 1
        and not is_deleted(i)
        and isinstance(i.get("lastUpdateTime"), int)
        and i["lastUpdateTime"] < since_ms
    ]
    filtered = data.get("totalElements") if isinstance(data, dict) else None
    ok = not older and (not isinstance(total, int) or not isinstance(filtered, int) or filtered <= total)
    checks.add(
        "computers.last_update",
        Status.PASS if ok else Status.FAIL,
        f"{filtered} of {total} changed in the last hour (manager time)"
        + (
            f"; but {len(older)} online ones returned last checked in before, e.g. {older[:3]}"
            if older
            else ""
        ),
    )


async def _page_sizes(checks: Checks, client: SepmClient, server_time: datetime, wanted: int) -> None:
    recent = int(server_time.timestamp() * 1000)  # few results: cheap, whatever the page size
    accepted: list[int] = []
    refused: dict[int, str] = {}
    for size in sorted({wanted, *PAGE_SIZES_TRIED}):
        try:
            data = await client.get_json(
                "computers", params={"pageIndex": 1, "pageSize": size, "lastUpdate": recent}
            )
        except ApiError as exc:
            refused[size] = f"HTTP {exc.status}"
            continue
        echoed = data.get("size") if isinstance(data, dict) else None
        if isinstance(echoed, int) and echoed < size:
            refused[size] = f"capped to {echoed}"
        else:
            accepted.append(size)
    checks.add(
        "paging.page_size",
        Status.PASS if wanted in accepted else Status.FAIL,
        f"accepted {accepted or 'none'} of {sorted({wanted, *PAGE_SIZES_TRIED})}"
        + (f"; refused {refused}" if refused else "")
        + (
            ""
            if wanted in accepted
            else f" (spec.server.api.pageSize is {wanted}: the scans fall back by themselves)"
        ),
        largest_accepted=max(accepted) if accepted else None,
    )


async def online_stats(checks: Checks, client: SepmClient) -> None:
    data = await client.get_json("stats/client/onlinestatus")
    stats = data.get("clientCountStatsList") if isinstance(data, dict) else None
    if not isinstance(stats, list):
        checks.add("endpoint.online_stats", Status.FAIL, "no clientCountStatsList")
        return
    seen = ", ".join(f"{s.get('status')}: {s.get('clientsCount')}" for s in stats if isinstance(s, dict))
    checks.add("endpoint.online_stats", Status.PASS, seen or "empty")
