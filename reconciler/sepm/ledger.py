"""What the adapter remembers of a manager's clients between ticks, and how it refreshes it.

A :class:`ClientLedger` keeps one compact entry per live client (``uniqueId`` → name, applied-serial time, last
check-in, online, agent version, group) and the ``uniqueId`` of every deleted record the manager still lists. An
entry is one ``bytes`` object (the fields packed, agent versions and groups as indexes into tables of their distinct
values), nothing else of the row it was read from: a million clients must fit in one daemon
(``benchmarks/fleet.py``); :meth:`ClientLedger.entries` unpacks them as :class:`ClientEntry` on the way out.
Records are keyed by ``uniqueId`` (names repeat after a re-imaging); a record listed with ``deleted: 1`` removes its
client from the ledger. The daemon keeps one ledger per manager (and domain) between ticks, so that a steady-state
tick asks ``GET computers?lastUpdate=T`` for the records whose status changed since the previous scan instead of
paging the whole fleet again.

A tick pages the *whole* fleet again (:mod:`reconciler.sepm.scan`: checked for drift between pages, read again
until consistent, resumable) when:

* the ledger is cold (first tick, or the previous scan did not finish — a full scan cut short continues from the
  page it reached, while it is younger than ``resume_within``);
* the change time being measured moved (a step began: the first count after it is authoritative);
* the last full scan is older than ``full_scan_every`` (clients deleted on the manager without a trace);
* after an incremental scan, the manager's count of records differs from the ledger's (live and deleted), or the
  listing of changes shrank between its pages.

The cursor of the next incremental scan is the manager's time before the last listing of changes, minus a small
overlap: a client that checks in while the pages are read is fetched again next time, never missed.
"""

from __future__ import annotations

import asyncio
import struct
import sys
from collections.abc import Iterator, KeysView
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from reconciler.sepm._aio import discard
from reconciler.sepm._clock import EARLIEST, LATEST, plausible_ms
from reconciler.sepm.client import SepmClient
from reconciler.sepm.scan import (
    COMPUTERS,
    Attempt,
    ScanInconsistent,
    overlap_ms,
    read_attempt,
    read_changes,
)
from reconciler.sepm.serials import serial_epoch_ms
from reconciler.sepm.settings import SettingsCache

__all__ = ["ClientEntry", "ClientLedger", "ScanInconsistent", "ScanStats"]

UNKNOWN = -1  # an epoch-ms field the manager did not give (or gave nonsense)
_MS_LO, _MS_HI = int(EARLIEST.timestamp() * 1000), int(LATEST.timestamp() * 1000)


_PACKED = struct.Struct("<qqbBII")  # serial_ms, last_update_ms, online (1/0/-1), bad_serial, version, group
_ONLINE = {1: True, 0: False, -1: None}


class ClientEntry(NamedTuple):
    """One client, compact. Times are epoch milliseconds on the manager's clock; ``-1`` means unknown."""

    name: str
    serial_ms: int  # time in the profileSerialNo of the policy it applied (-1: none or unparseable)
    last_update_ms: int  # lastUpdateTime: its last check-in
    online: bool | None  # onlineStatus 1 / 0 (None: another value)
    agent_version: str
    group_id: str
    bad_serial: bool = False  # a profileSerialNo was given but is not in the vendor's format


class _Table:
    """Distinct strings (agent versions, group ids) and their indexes: an entry keeps the index."""

    __slots__ = ("_index", "values")

    def __init__(self) -> None:
        self.values: list[str] = []
        self._index: dict[str, int] = {}

    def index(self, value: str) -> int:
        found = self._index.get(value)
        if found is None:
            found = self._index[value] = len(self.values)
            self.values.append(value)
        return found


@dataclass(frozen=True, slots=True)
class ScanStats:
    """What the last refresh did (for logs, tests and the benchmark)."""

    full: bool
    reason: str
    pages: (
        int  # pages of the scan (incremental and full), not counting the listing of changes after a full one
    )
    fetched: int
    seconds: float
    attempts: int = 0  # passes over the whole fleet (0: incremental only)
    repeated: int = 0  # rows read twice (records created before their page pushed the rows on)
    dropped: int = 0  # clients of the ledger that a consistent full scan no longer listed
    deleted: int = 0  # deleted records the manager lists
    changes: int = 0  # records read by the listings of changes
    drift: tuple[str, ...] = ()  # why a pass was not trusted and the fleet read again
    resumed_at: int | None = None  # the page a full scan cut short continued from


def _ms(value: Any) -> int:
    if type(value) is int and _MS_LO <= value <= _MS_HI:  # the common case, cheaply
        return value
    return int(value) if plausible_ms(value) else UNKNOWN


def _ms_of(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


class ClientLedger:
    """Per-client state of one manager (one domain when ``domain``, a domain id, is given), refreshed by
    :meth:`refresh` (full or incremental scans).

    Keep one per manager for the life of the daemon, and refresh it from one task at a time (one tick per manager).
    """

    def __init__(
        self,
        *,
        full_scan_every: timedelta = timedelta(hours=6),
        overlap: timedelta = timedelta(seconds=2),
        page_size: int = 1000,
        domain: str | None = None,
        max_attempts: int = 3,
        resume_within: timedelta = timedelta(minutes=15),
    ) -> None:
        self.full_scan_every = full_scan_every
        self.overlap = overlap
        self.page_size = page_size
        self.domain = domain
        self.max_attempts = max(1, max_attempts)
        self.resume_within = resume_within
        self._entries: dict[str, bytes] = {}  # uniqueId → the entry, packed (see _pack)
        self._deleted: set[str] = set()
        self._versions = _Table()
        self._groups = _Table()
        self._cursor_ms: int | None = (
            None  # manager time before the last listing of changes of a complete scan
        )
        self._change_time: datetime | None = None
        self._full_scan_at: datetime | None = None  # reconciler clock
        self._attempt: Attempt | None = None  # a full scan under way (resumable)
        self._attempt_reason = ""
        self.last_scan: ScanStats | None = None
        self.settings = (
            SettingsCache()
        )  # the managed groups' settings, reused while their serials do not move
        self._domains: dict[str, ClientLedger] = {}

    def for_domain(self, domain: str) -> ClientLedger:
        """The ledger of one domain (a domain id) of this manager, kept beside this one between ticks (same
        settings; the settings cache shared)."""
        child = self._domains.get(domain)
        if child is None:
            child = ClientLedger(
                full_scan_every=self.full_scan_every,
                overlap=self.overlap,
                page_size=self.page_size,
                domain=domain,
                max_attempts=self.max_attempts,
                resume_within=self.resume_within,
            )
            child.settings = self.settings
            self._domains[domain] = child
        return child

    def forget_domains(self, keep: set[str]) -> None:
        """Drop the ledgers of the domains not in ``keep`` (gone from the credentials' view)."""
        for domain in set(self._domains) - keep:
            del self._domains[domain]

    def __len__(self) -> int:
        """The clients held (those of the domains' ledgers too)."""
        return len(self._entries) + sum(len(child) for child in self._domains.values())

    @property
    def params(self) -> dict[str, Any]:
        """The query parameters of every listing (the domain, when given)."""
        return {"domain": self.domain} if self.domain else {}

    @property
    def warm(self) -> bool:
        """A complete scan has been done: the next refresh can be incremental."""
        return self._cursor_ms is not None

    @property
    def deleted_count(self) -> int:
        return len(self._deleted)

    def entries(self) -> Iterator[ClientEntry]:
        """The entries, unpacked one at a time (do not refresh the ledger while iterating)."""
        unpack = self._unpack
        for packed in self._entries.values():
            yield unpack(packed)

    def get(self, unique_id: str) -> ClientEntry | None:
        packed = self._entries.get(unique_id)
        return None if packed is None else self._unpack(packed)

    def _unpack(self, packed: bytes) -> ClientEntry:
        serial_ms, last_update_ms, online, bad, version, group = _PACKED.unpack_from(packed)
        return ClientEntry(
            packed[_PACKED.size :].decode("utf-8", "surrogatepass"),
            serial_ms,
            last_update_ms,
            _ONLINE[online],
            self._versions.values[version],
            self._groups.values[group],
            bool(bad),
        )

    def unique_ids(self) -> KeysView[str]:
        """A live, read-only view of the uniqueIds of the clients held."""
        return self._entries.keys()

    def invalidate(self) -> None:
        """Forget the cursor and any scan under way: the next refresh pages the whole fleet from page 1."""
        self._cursor_ms = None
        self._attempt = None

    def approx_bytes(self) -> int:
        """A rough size of what the ledger holds (entries, keys, deleted records; not the small tables of agent
        versions and groups)."""
        total = sys.getsizeof(self._entries) + sys.getsizeof(self._deleted)
        for key, entry in self._entries.items():
            total += sys.getsizeof(key) + sys.getsizeof(entry)
        total += sum(child.approx_bytes() for child in self._domains.values())
        return total + sum(sys.getsizeof(uid) for uid in self._deleted)

    def combine_domain_scans(self) -> None:
        """Set :attr:`last_scan` to what the domains' last refreshes did together."""
        scans = [child.last_scan for child in self._domains.values() if child.last_scan is not None]
        if not scans:
            return
        full = [s for s in scans if s.full]
        self.last_scan = ScanStats(
            full=bool(full),
            reason=full[0].reason if full else scans[0].reason,
            pages=sum(s.pages for s in scans),
            fetched=sum(s.fetched for s in scans),
            seconds=sum(s.seconds for s in scans),
            attempts=sum(s.attempts for s in scans),
            repeated=sum(s.repeated for s in scans),
            dropped=sum(s.dropped for s in scans),
            deleted=sum(s.deleted for s in scans),
            changes=sum(s.changes for s in scans),
            drift=tuple(d for s in scans for d in s.drift),
            resumed_at=next((s.resumed_at for s in scans if s.resumed_at is not None), None),
        )

    def _why_full(self, change_time: datetime | None, now: datetime) -> str | None:
        if self._attempt is not None:
            return self._attempt_reason or "a full scan is under way"
        if self._cursor_ms is None:
            return "cold ledger"
        if change_time != self._change_time:
            return "the change time moved"
        if self._full_scan_at is None or now - self._full_scan_at >= self.full_scan_every:
            return f"last full scan older than {self.full_scan_every}"
        return None

    def _merge(self, item: dict[str, Any], deleted: bool) -> str | None:
        """One record of a page into the ledger; its uniqueId (None when it has none). Hot path: once per record."""
        uid = item.get("uniqueId")
        if not isinstance(uid, str) or not uid:
            return None
        if deleted:
            self._entries.pop(uid, None)
            self._deleted.add(uid)
            return uid
        serial = item.get("profileSerialNo")
        serial_ms = serial_epoch_ms(serial) if isinstance(serial, str) and serial else None
        status = item.get("onlineStatus")
        group = item.get("group")
        group_id = group.get("id") if isinstance(group, dict) else None
        name = item.get("computerName")
        version = item.get("agentVersion")
        self._entries[uid] = _PACKED.pack(
            UNKNOWN if serial_ms is None else serial_ms,
            _ms(item.get("lastUpdateTime")),
            1 if status == 1 else 0 if status == 0 else -1,
            serial_ms is None and isinstance(serial, str) and bool(serial),
            self._versions.index(version if isinstance(version, str) else ""),
            self._groups.index(group_id if isinstance(group_id, str) else ""),
        ) + (name if isinstance(name, str) else uid).encode("utf-8", "surrogatepass")
        return uid

    async def _count(self, client: SepmClient) -> int | None:
        data = await client.get_json(COMPUTERS, params={**self.params, "pageIndex": 1, "pageSize": 1})
        total = data.get("totalElements") if isinstance(data, dict) else None
        return total if isinstance(total, int) and not isinstance(total, bool) else None

    def _count_mismatch(self, total: int | None) -> str | None:
        live, deleted = len(self._entries), len(self._deleted)
        if total is None or total == live + deleted:
            return None
        if deleted:
            return f"the manager lists {total} computers, the ledger {live} live and {deleted} deleted"
        return f"the manager counts {total} computers, the ledger {live}"

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

        ``manager_time`` is the manager's clock at the start of the refresh; ``now`` the reconciler's. Raises the
        client's errors (a full scan cut short keeps its place for the next refresh), and
        :class:`~reconciler.sepm.scan.ScanInconsistent` when the fleet kept changing under every pass.
        """
        loop = asyncio.get_running_loop()
        started = loop.time()
        reason = "forced" if force_full else self._why_full(change_time, now)
        start_ms = _ms_of(manager_time)
        pages = fetched = changes = 0
        if reason is None:
            since = (self._cursor_ms or 0) - overlap_ms(self.overlap)
            count_task = asyncio.ensure_future(self._count(client))
            try:
                rows, pages, fell = await read_changes(
                    client, self.params, since, self.page_size, self._merge
                )
                total = await count_task
            except BaseException:
                discard(count_task)
                self._cursor_ms = None
                raise
            fetched = len(rows)
            if fell:
                reason = "the listing of changes shrank between its pages"
            else:
                reason = self._count_mismatch(total)
            cursor = start_ms
        full = reason is not None
        attempts = repeated = dropped = 0
        drift: tuple[str, ...] = ()
        resumed_at: int | None = None
        if reason is not None:
            self._cursor_ms = None  # until this full scan completes
            attempt, cursor, changes, dropped, drift, reason = await self._full(client, start_ms, reason)
            pages, fetched = pages + attempt.pages, fetched + attempt.fetched
            attempts, repeated, resumed_at = attempt.number, attempt.repeated, attempt.resumed_at
            self._full_scan_at = now
        self._cursor_ms = cursor
        self._change_time = change_time
        self.last_scan = ScanStats(
            full=full,
            reason=reason or "incremental",
            pages=pages,
            fetched=fetched,
            seconds=loop.time() - started,
            attempts=attempts,
            repeated=repeated,
            dropped=dropped,
            deleted=len(self._deleted),
            changes=changes,
            drift=drift,
            resumed_at=resumed_at,
        )
        return self.last_scan

    def _current_attempt(self, start_ms: int, reason: str) -> tuple[Attempt, str]:
        attempt = self._attempt
        if attempt is not None and (
            start_ms - attempt.started_ms > overlap_ms(self.resume_within) or attempt.params != self.params
        ):
            attempt = None  # too old to continue: the fleet has moved on
        if attempt is None:
            attempt = Attempt(1, start_ms, self.page_size, self.params)
            self._attempt, self._attempt_reason = attempt, reason
            return attempt, reason
        return attempt, f"{self._attempt_reason}; resumed at page {attempt.next_index}"

    async def _full(
        self, client: SepmClient, start_ms: int, reason: str
    ) -> tuple[Attempt, int, int, int, tuple[str, ...], str]:
        """Page the whole fleet until a pass without drift: (that pass, the next cursor, records read by the
        listings of changes, clients dropped, the drift of earlier passes, the reason shown)."""
        attempt, reason = self._current_attempt(start_ms, reason)
        drift: list[str] = []
        changes = 0
        while True:
            await read_attempt(client, attempt, self._merge)
            before = client.manager_now()
            cursor = _ms_of(before) if before is not None else attempt.started_ms
            since = (attempt.first_ms if attempt.first_ms is not None else attempt.started_ms) - overlap_ms(
                self.overlap
            )
            rows, _, fell = await read_changes(client, self.params, since, self.page_size, self._merge)
            changes += len(rows)
            after = client.manager_now()
            reasons = attempt.drift(
                rows, verify_fell=fell, now_ms=_ms_of(after) if after is not None else None
            )
            if not reasons:
                break
            drift += [f"pass {attempt.number}: {r}" for r in reasons]
            if attempt.number >= self.max_attempts:
                self._attempt = None
                raise ScanInconsistent(
                    f"GET {COMPUTERS}: the fleet changed under each of {attempt.number} passes ("
                    + "; ".join(drift)
                    + "): which clients exist is unknown this time"
                )
            attempt = Attempt(attempt.number + 1, cursor, self.page_size, self.params)
            self._attempt = attempt
        self._attempt = None
        changed = {uid for uid, _ in rows}
        keep = attempt.live | changed
        gone = [uid for uid in self._entries if uid not in keep]
        for uid in gone:
            del self._entries[uid]
        self._deleted &= attempt.deleted | changed  # deleted records no longer listed were purged
        return attempt, cursor, changes, len(gone), tuple(drift), reason
