"""What the adapter remembers of a manager's clients between ticks, and how it refreshes it.

A :class:`ClientLedger` keeps one compact entry per client (``uniqueId`` → name, applied-serial time, last check-in,
online, agent version, group). The daemon keeps one ledger per manager between ticks, so that a steady-state tick
asks ``GET computers?lastUpdate=T`` for the clients whose status changed since the previous scan instead of paging
the whole fleet again.

A tick scans the *whole* fleet again when:

* the ledger is cold (first tick, or the previous full scan did not finish);
* the change time being measured moved (a step began: the first count after it is authoritative);
* the last full scan is older than ``full_scan_every`` (clients deleted on the manager leave no trace in an
  incremental scan);
* after an incremental scan, the ledger's size differs from the manager's count of computers.

The cursor of the next incremental scan is the manager's time at the start of this one, minus a small overlap: a
client that checks in while the pages are read is fetched again next time, never missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import ValuesView
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from reconciler.sepm._aio import discard
from reconciler.sepm.client import SepmClient
from reconciler.sepm.paging import iter_pages
from reconciler.sepm.serials import serial_epoch_ms

__all__ = ["ClientEntry", "ClientLedger", "ScanStats"]

COMPUTERS = "computers"
UNKNOWN = -1  # an epoch-ms field the manager did not give


class ClientEntry(NamedTuple):
    """One client, compact. Times are epoch milliseconds on the manager's clock; ``-1`` means unknown."""

    name: str
    serial_ms: int  # time in the profileSerialNo of the policy it applied (-1: none or unparseable)
    last_update_ms: int  # lastUpdateTime: its last check-in
    online: bool | None  # onlineStatus 1 / 0 (None: another value)
    agent_version: str
    group_id: str
    bad_serial: bool = False  # a profileSerialNo was given but is not in the vendor's format


@dataclass(frozen=True, slots=True)
class ScanStats:
    """What the last refresh did (for logs, tests and the benchmark)."""

    full: bool
    reason: str
    pages: int
    fetched: int
    seconds: float


def _ms(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else UNKNOWN


def _ms_of(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


class ClientLedger:
    """Per-client state of one manager, refreshed by :meth:`refresh` (full or incremental scans).

    Keep one per manager for the life of the daemon, and refresh it from one task at a time (one tick per manager).
    """

    def __init__(
        self,
        *,
        full_scan_every: timedelta = timedelta(hours=6),
        overlap: timedelta = timedelta(seconds=2),
        page_size: int = 1000,
    ) -> None:
        self.full_scan_every = full_scan_every
        self.overlap = overlap
        self.page_size = page_size
        self._entries: dict[str, ClientEntry] = {}
        self._strings: dict[str, str] = {}
        self._cursor_ms: int | None = None  # manager time at the start of the last complete scan
        self._change_time: datetime | None = None
        self._full_scan_at: datetime | None = None  # reconciler clock
        self.last_scan: ScanStats | None = None

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def warm(self) -> bool:
        """A complete scan has been done: the next refresh can be incremental."""
        return self._cursor_ms is not None

    def entries(self) -> ValuesView[ClientEntry]:
        """A live, read-only view of the entries."""
        return self._entries.values()

    def get(self, unique_id: str) -> ClientEntry | None:
        return self._entries.get(unique_id)

    def invalidate(self) -> None:
        """Forget the cursor: the next refresh pages the whole fleet."""
        self._cursor_ms = None

    def approx_bytes(self) -> int:
        """A rough size of what the ledger holds (entries, keys, shared strings)."""
        total = sys.getsizeof(self._entries) + sys.getsizeof(self._strings)
        for key, entry in self._entries.items():
            total += sys.getsizeof(key) + sys.getsizeof(entry) + sys.getsizeof(entry.name)
        return total

    def _why_full(self, change_time: datetime | None, now: datetime) -> str | None:
        if self._cursor_ms is None:
            return "cold ledger"
        if change_time != self._change_time:
            return "the change time moved"
        if self._full_scan_at is None or now - self._full_scan_at >= self.full_scan_every:
            return f"last full scan older than {self.full_scan_every}"
        return None

    def _entry(self, item: dict[str, Any]) -> tuple[str, ClientEntry] | None:
        """One computer of a page, compacted. Hot path: 100,000 calls per full scan."""
        uid = item.get("uniqueId")
        if not isinstance(uid, str) or not uid:
            return None
        serial = item.get("profileSerialNo")
        serial_ms = serial_epoch_ms(serial) if isinstance(serial, str) and serial else None
        status = item.get("onlineStatus")
        group = item.get("group")
        group_id = group.get("id") if isinstance(group, dict) else None
        name = item.get("computerName")
        version = item.get("agentVersion")
        strings = self._strings
        return uid, ClientEntry(
            name if isinstance(name, str) else uid,
            UNKNOWN if serial_ms is None else serial_ms,
            _ms(item.get("lastUpdateTime")),
            True if status == 1 else False if status == 0 else None,
            strings.setdefault(version, version) if isinstance(version, str) else "",
            strings.setdefault(group_id, group_id) if isinstance(group_id, str) else "",
            serial_ms is None and isinstance(serial, str) and bool(serial),
        )

    async def _scan(self, client: SepmClient, params: dict[str, Any]) -> tuple[int, int, set[str]]:
        pages = fetched = 0
        seen: set[str] = set()
        entries = self._entries
        async with contextlib.aclosing(
            iter_pages(client, COMPUTERS, params=params, page_size=self.page_size)
        ) as stream:
            async for page in stream:
                pages += 1
                fetched += len(page.content)
                for item in page.content:
                    parsed = self._entry(item)
                    if parsed is not None:
                        entries[parsed[0]] = parsed[1]
                        seen.add(parsed[0])
        return pages, fetched, seen

    async def _count(self, client: SepmClient) -> int | None:
        data = await client.get_json(COMPUTERS, params={"pageIndex": 1, "pageSize": 1})
        total = data.get("totalElements") if isinstance(data, dict) else None
        return total if isinstance(total, int) and not isinstance(total, bool) else None

    async def refresh(
        self,
        client: SepmClient,
        *,
        manager_time: datetime,
        change_time: datetime | None,
        now: datetime,
        force_full: bool = False,
    ) -> ScanStats:
        """Bring the ledger up to date: an incremental scan when possible, a full one when needed (see module doc).

        ``manager_time`` is the manager's clock at the start of the refresh (``serverTime``); ``now`` the reconciler's.
        Raises the client's errors; after a failure the next refresh is a full scan.
        """
        started = asyncio.get_running_loop().time()
        reason = "forced" if force_full else self._why_full(change_time, now)
        start_ms = _ms_of(manager_time)
        pages = fetched = 0
        if reason is None:
            since = max(0, (self._cursor_ms or 0) - int(self.overlap.total_seconds() * 1000))
            count_task = asyncio.ensure_future(self._count(client))
            try:
                pages, fetched, _ = await self._scan(client, {"lastUpdate": since})
                total = await count_task
            except BaseException:
                discard(count_task)
                self._cursor_ms = None
                raise
            if total is not None and total != len(self._entries):
                reason = f"the manager counts {total} computers, the ledger {len(self._entries)}"
        if reason is not None:
            self._cursor_ms = None  # until this full scan completes
            more_pages, more_fetched, seen = await self._scan(client, {})
            pages, fetched = pages + more_pages, fetched + more_fetched
            for uid in [uid for uid in self._entries if uid not in seen]:
                del self._entries[uid]
            self._full_scan_at = now
        self._cursor_ms = start_ms
        self._change_time = change_time
        self.last_scan = ScanStats(
            full=reason is not None,
            reason=reason or "incremental",
            pages=pages,
            fetched=fetched,
            seconds=asyncio.get_running_loop().time() - started,
        )
        return self.last_scan
