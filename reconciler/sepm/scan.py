"""A full scan of ``GET computers`` that cannot lose a client to a fleet changing under it.

SEPM pages by offset, over the fleet *as it is at each call*. A record created between two pages pushes the rows
after it one place on (a row is read twice: harmless, rows are keyed by ``uniqueId``); a record that **vanishes**
between two pages pulls them one place back, and the row at the page boundary is never read — a live client lost
while the page counts still add up. Deleted records that stay listed (``deleted: 1``) shift nothing; records purged
(or removed by a manager that does not keep them) do.

So a scan is an :class:`Attempt` checked afterwards:

* every page's ``totalElements`` is kept; a total that falls between two pages is drift;
* the records created while the pages were read are fetched (``GET computers?lastUpdate=`` from the first page's
  time, which also brings every record changed meanwhile up to date) and counted by their ``creationTime``: with
  ``T₁`` the first page's total, ``Tₙ`` the last one's and ``C`` those created in between, ``T₁ + C − Tₙ`` records
  vanished during the scan; when that is above zero a row may have been skipped;
* on drift the fleet is read again (up to ``max_attempts`` in all) and the ledger is used only after an attempt
  without drift. An attempt without drift saw every record that existed throughout it, so a client of the previous
  scan that it did not see is gone. Never consistent: :class:`ScanInconsistent` — the observation of the clients is
  unknown (a hold), never a smaller fleet.

Counting creations errs on the side of more (a creation time unknown counts as "created now" when the row was not
read by the pages); vanishings are then never under-counted. An attempt keeps its place: when a page cannot be read
(the throttle budget spent, a timeout) the next refresh continues from that page, within ``resume_within``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from reconciler.errors import TemporaryError
from reconciler.sepm._clock import plausible_ms
from reconciler.sepm.client import SepmClient
from reconciler.sepm.paging import Page, iter_pages

__all__ = [
    "COMPUTERS",
    "Attempt",
    "Change",
    "Row",
    "ScanInconsistent",
    "is_deleted",
    "overlap_ms",
    "read_attempt",
    "read_changes",
]

COMPUTERS = "computers"
_SLACK_MS = 1_000  # a Date header is the floor of a second


class ScanInconsistent(TemporaryError):
    """The fleet kept changing under the scan: which clients exist is unknown this time."""


Row = dict[str, Any]
# merges one row (deleted or not) into the ledger: its uniqueId, or None for a row without one
Merge = Callable[[Row, bool], str | None]
Change = tuple[str, Any]  # (uniqueId, creationTime) of a record that changed during the scan


def is_deleted(item: Row) -> bool:
    """``deleted`` is 1 (or true) on the records of removed and re-imaged machines."""
    value = item.get("deleted")
    return value is True or value == 1 or value == "1" or value == "true"


def _ms(moment: datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp() * 1000)


@dataclass(slots=True)
class Attempt:
    """One pass over every page of ``GET computers`` (resumable), and what it saw."""

    number: int
    started_ms: int  # the manager's time when the scan began (the cursor of what changed during it)
    page_size: int
    params: dict[str, Any] = field(default_factory=dict)
    next_index: int = 1
    first_ms: int | None = None  # the manager's time of the first page's answer
    last_ms: int | None = None  # … of the last page's answer
    first_total: int | None = None
    last_total: int | None = None
    fell: list[str] = field(default_factory=list)  # totals that fell between pages
    live: set[str] = field(default_factory=set)  # uniqueIds of the live records read
    deleted: set[str] = field(default_factory=set)  # … of the deleted records read
    repeated: int = 0
    pages: int = 0
    fetched: int = 0
    resumed_at: int | None = None

    def take(self, page: Page, merge: Merge) -> None:
        """Record one page: its total, and each row merged into the ledger."""
        self.pages += 1
        self.fetched += len(page.content)
        total = page.total_elements
        if page.index == 1 or self.first_total is None:
            self.first_total = total
            self.first_ms = _ms(page.server_time)
        elif total is not None and self.last_total is not None and total < self.last_total:
            self.fell.append(f"totalElements fell from {self.last_total} to {total} before page {page.index}")
        self.last_total = total
        self.last_ms = _ms(page.server_time)
        live, deleted = self.live, self.deleted
        repeated = 0
        for item in page.content:  # hot: once per record of the fleet
            gone = is_deleted(item)
            uid = merge(item, gone)
            if uid is None:
                continue
            if uid in live or uid in deleted:
                repeated += 1
            if gone:
                deleted.add(uid)
                live.discard(uid)
            else:
                live.add(uid)
        self.repeated += repeated
        self.next_index = page.index + 1

    def drift(self, changes: Iterable[Change], *, verify_fell: bool, now_ms: int | None) -> list[str]:
        """Why this attempt cannot be trusted (empty: it saw every record that existed throughout it).

        Records created in the very second of the first page's answer may already be in its total (its ``Date``
        has whole seconds): when only those make the totals look short, the attempt is trusted. A record vanishing
        during the scan could then hide behind one created *after* the first page in that same second — the one
        case this check cannot see."""
        reasons = list(self.fell)
        if verify_fell:
            reasons.append("the listing of what changed during the scan shrank between its pages")
        if self.first_total is None or self.last_total is None:
            if self.pages > 1:
                reasons.append("the manager gives no totalElements, so a shifted page cannot be ruled out")
            return reasons
        lo = self.first_ms if self.first_ms is not None else self.started_ms
        hi = (self.last_ms if self.last_ms is not None else now_ms) or None
        created = first_second = 0
        for uid, when in changes:
            if plausible_ms(when):
                if when >= lo and (hi is None or when <= hi + _SLACK_MS):
                    created += 1
                    first_second += when < lo + _SLACK_MS
            elif uid not in self.live and uid not in self.deleted:
                created += 1  # unknown creation time, not read by the pages: count it as created
        vanished = self.first_total + created - self.last_total
        if self.first_ms is not None and vanished <= first_second:
            vanished = 0  # only creations of the first page's own second: counted in its total already
        if vanished > 0 and self.pages > 1:
            reasons.append(
                f"{vanished} record(s) vanished while the pages were read (totalElements {self.first_total} at "
                f"page 1, {self.last_total} at page {self.next_index - 1}, {created} created meanwhile): a row at a "
                "page boundary may have been skipped"
            )
        return reasons


async def read_attempt(client: SepmClient, attempt: Attempt, merge: Merge) -> None:
    """Read the pages of ``attempt`` from where it stands to the last one. On a failure the attempt keeps its place
    (``next_index``) and the error propagates."""
    start = attempt.next_index
    if start > 1 and attempt.resumed_at is None:
        attempt.resumed_at = start
    async with contextlib.aclosing(
        iter_pages(client, COMPUTERS, params=attempt.params, page_size=attempt.page_size, start=start)
    ) as pages:
        async for page in pages:
            if page.index == 1:
                attempt.page_size = page.size
            attempt.take(page, merge)


async def read_changes(
    client: SepmClient, params: dict[str, Any], since_ms: int, page_size: int, merge: Merge
) -> tuple[list[Change], int, bool]:
    """Every record changed after ``since_ms`` (``lastUpdate``), merged: (their uniqueIds and creation times, pages
    read, whether the listing shrank between its pages — a sign that a row may have been skipped)."""
    rows: list[Change] = []
    pages = 0
    last_total: int | None = None
    fell = False
    query = {**params, "lastUpdate": max(0, since_ms)}
    async with contextlib.aclosing(
        iter_pages(client, COMPUTERS, params=query, page_size=page_size)
    ) as stream:
        async for page in stream:
            pages += 1
            if (
                last_total is not None
                and page.total_elements is not None
                and page.total_elements < last_total
            ):
                fell = True
            last_total = page.total_elements
            for item in page.content:
                uid = merge(item, is_deleted(item))
                if uid is not None:
                    rows.append((uid, item.get("creationTime")))
    return rows, pages, fell


def overlap_ms(overlap: timedelta) -> int:
    return int(overlap.total_seconds() * 1000)
