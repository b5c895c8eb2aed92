"""Clients a certificate swap may have orphaned: one pure detection, reused wherever a swap is judged.

A swap orphans a client that still verified the server certificate when it changed: it can no longer talk to its
manager, so it stops checking in — and nothing else shows it (it is not "offline" in any sense the manager knows).
The only trace is silence. So, on the manager's clock:

* the **cohort** of a swap is every client seen (``lastUpdateTime``) within one heartbeat before the swap began
  (``swap_from − heartbeat``) — it was talking to the manager regularly;
* a cohort client whose last check-in is at or after the moment the change was first seen (``swap_seen``) has
  **returned**: it talks to the manager since the change;
* one that has not returned ``heartbeats`` heartbeats after ``swap_seen`` is **silent**: *probably orphaned*. It is
  named, and blocks completion until it returns or a person accepts it at risk;
* before that it is **awaited**.

A client whose last check-in is unknown counts in the cohort (unknown is never a smaller fleet).

Separately, the clients **eligible at the swap** — seen since ``swap_seen − excludeOfflineFor`` — stay in the
denominator of every wait after the swap, whatever their silence afterwards (:attr:`SwapWindow.eligible_from` is the
fixed cut-off): a client orphaned by the swap can never fall out of "eligible" by staying silent.

The adapter classifies each client with :func:`classify_ms` while it counts acknowledgements (integer milliseconds,
no allocation per client) and :func:`summarise` turns the counts into a :class:`SwapAnalysis`. The procedure's check
(``steps.no_suspected_orphans``) reads that analysis; a canary analysis after each swap reads the same.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import IntEnum

__all__ = [
    "DEFAULT_RETURN_HEARTBEATS",
    "NAMES_LIMIT",
    "Seen",
    "SwapAnalysis",
    "SwapWindow",
    "analyse",
    "classify_ms",
    "merge_analyses",
    "summarise",
]

DEFAULT_RETURN_HEARTBEATS = 3
NAMES_LIMIT = 100


class Seen(IntEnum):
    """Where one client stands towards a swap."""

    OUTSIDE = 0  # not seen within a heartbeat before the swap: not in the cohort
    RETURNED = 1  # seen since the change
    AWAITED = 2  # in the cohort, not back yet, still within its heartbeats
    SILENT = 3  # in the cohort, not back after its heartbeats: probably orphaned


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


@dataclass(frozen=True, slots=True)
class SwapWindow:
    """The moments (manager clock) a swap is judged against."""

    swap_from: datetime  # when the swap step began
    swap_seen: datetime  # when a port was first seen presenting another certificate
    heartbeat: timedelta
    exclude_offline_for: timedelta
    heartbeats: int = DEFAULT_RETURN_HEARTBEATS

    @property
    def cohort_from(self) -> datetime:
        return self.swap_from - self.heartbeat

    @property
    def return_by(self) -> datetime:
        return self.swap_seen + self.heartbeat * self.heartbeats

    @property
    def eligible_from(self) -> datetime:
        """A client seen since then was eligible at the swap and stays in every later denominator."""
        return self.swap_seen - self.exclude_offline_for

    def in_ms(self) -> tuple[int, int, int]:
        """``(cohort_from, swap_seen, return_by)`` in epoch milliseconds, for :func:`classify_ms`."""
        return _ms(self.cohort_from), _ms(self.swap_seen), _ms(self.return_by)


def classify_ms(last_seen_ms: int | None, window_ms: tuple[int, int, int], manager_ms: int) -> Seen:
    """Where a client whose last check-in is ``last_seen_ms`` (None: unknown) stands at ``manager_ms``."""
    cohort_from, swap_seen, return_by = window_ms
    if last_seen_ms is not None:
        if last_seen_ms >= swap_seen:
            return Seen.RETURNED
        if last_seen_ms < cohort_from:
            return Seen.OUTSIDE
    return Seen.SILENT if manager_ms >= return_by else Seen.AWAITED


@dataclass(frozen=True, slots=True)
class SwapAnalysis:
    """The cohort of a swap and what became of it. ``silent_names``: the first 100 by name."""

    swap_seen: datetime
    return_by: datetime
    cohort: int
    returned: int
    awaited: int
    silent: int
    silent_names: tuple[str, ...] = ()

    @property
    def return_ratio(self) -> float:
        """returned / cohort (1.0 for an empty cohort)."""
        return 1.0 if self.cohort == 0 else self.returned / self.cohort

    @property
    def suspected(self) -> bool:
        return self.silent > 0


def summarise(window: SwapWindow, counts: dict[Seen, int], silent_names: Iterable[str]) -> SwapAnalysis:
    """The analysis from per-client classifications (``counts`` by :class:`Seen`; the names of the silent ones)."""
    returned, awaited, silent = (
        counts.get(Seen.RETURNED, 0),
        counts.get(Seen.AWAITED, 0),
        counts.get(Seen.SILENT, 0),
    )
    return SwapAnalysis(
        swap_seen=window.swap_seen,
        return_by=window.return_by,
        cohort=returned + awaited + silent,
        returned=returned,
        awaited=awaited,
        silent=silent,
        silent_names=tuple(heapq.nsmallest(NAMES_LIMIT, silent_names)),
    )


def analyse(
    clients: Iterable[tuple[str, datetime | None]], window: SwapWindow, manager_time: datetime
) -> SwapAnalysis:
    """The whole detection over ``(name, last check-in)`` pairs (the adapter does the same client by client)."""
    window_ms, now_ms = window.in_ms(), _ms(manager_time)
    counts: dict[Seen, int] = {}
    silent: list[str] = []
    for name, last_seen in clients:
        seen = classify_ms(None if last_seen is None else _ms(last_seen), window_ms, now_ms)
        counts[seen] = counts.get(seen, 0) + 1
        if seen is Seen.SILENT:
            silent.append(name)
    return summarise(window, counts, silent)


def merge_analyses(parts: tuple[SwapAnalysis, ...]) -> SwapAnalysis | None:
    """One analysis of several (the domains of one manager, judged against one swap); None for none."""
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    return SwapAnalysis(
        swap_seen=parts[0].swap_seen,
        return_by=parts[0].return_by,
        cohort=sum(p.cohort for p in parts),
        returned=sum(p.returned for p in parts),
        awaited=sum(p.awaited for p in parts),
        silent=sum(p.silent for p in parts),
        silent_names=tuple(heapq.nsmallest(NAMES_LIMIT, (n for p in parts for n in p.silent_names))),
    )
