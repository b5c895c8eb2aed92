"""The store interface the engine, the daemon and the CLI use; backends implement it (SQLite, PostgreSQL).

Guarantees every backend gives:

* ``save`` is one transaction: the record and its events are written together or not at all;
* compare-and-set: ``save`` writes only if the stored version still equals ``record.version`` (the version it was
  read at; 0 = not stored yet) and raises :class:`~reconciler.errors.ConflictError` otherwise — two processes
  cannot both advance a server, whatever they believe about leadership;
* the event log is append-only, ordered and gapless: ``Event.id`` counts 1, 2, 3… in commit order, so a reader that
  remembers the last id it saw never misses an event that commits later;
* leases: one holder at a time per name, with an expiry and an **epoch** that grows by one each time the lease
  changes hands (it never goes back, even after a release);
* **fencing**: ``save``/``append`` given a :class:`Fence` check, in the same transaction as the write, that the
  fence's holder still holds the lease at the fence's epoch, and raise :class:`~reconciler.errors.FencedError`
  (nothing written) otherwise — a daemon paused past its lease cannot write once another one took over. A lease is
  not a fence; a lease *with an epoch checked in the writing transaction* is;
* backend failures surface as :class:`~reconciler.errors.StateError` (locked, corrupt, unreachable, newer schema)
  with the underlying exception chained.

The interface is synchronous. Async callers use ``asyncio.to_thread``; implementations are safe to call from several
threads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import TracebackType
from typing import Protocol, Self

from reconciler.core.events import Event
from reconciler.core.record import RolloutRecord

__all__ = ["Fence", "Lease", "Store"]


@dataclass(frozen=True, slots=True)
class Lease:
    """``holder`` owns ``name`` until ``expires_at`` unless it renews; ``epoch`` counts the hand-overs (from 1)."""

    name: str
    holder: str
    acquired_at: datetime
    renewed_at: datetime
    expires_at: datetime
    epoch: int = 1

    def valid_at(self, now: datetime) -> bool:
        return now < self.expires_at

    @property
    def fence(self) -> Fence:
        return Fence(self.name, self.holder, self.epoch)


@dataclass(frozen=True, slots=True)
class Fence:
    """A write is allowed only while ``holder`` holds lease ``name`` at ``epoch`` (checked by the store)."""

    name: str
    holder: str
    epoch: int

    def __str__(self) -> str:
        return f"lease {self.name} epoch {self.epoch} held by {self.holder}"


class Store(Protocol):
    """Rollout records, the event log and leases."""

    @property
    def url(self) -> str:
        """Where the state lives, with any password removed (safe to print)."""
        ...

    def schema_version(self) -> int:
        """The highest schema migration applied to this state."""
        ...

    def get(self, server: str) -> RolloutRecord | None:
        """The stored record of ``server`` (``version`` = its stored version), or None."""
        ...

    def all(self) -> list[RolloutRecord]:
        """Every stored record, by server name."""
        ...

    def save(
        self, record: RolloutRecord, events: Sequence[Event] = (), *, fence: Fence | None = None
    ) -> RolloutRecord:
        """Write ``record`` and append ``events`` in one transaction if the stored version is still
        ``record.version`` (and ``fence``, if given, still holds); return the record with its new version. Raise
        ``ConflictError`` (``FencedError`` for the fence) otherwise."""
        ...

    def append(self, events: Sequence[Event], *, fence: Fence | None = None) -> None:
        """Append events that do not change a record (one transaction; fenced like ``save``)."""
        ...

    def events(
        self,
        server: str | None = None,
        *,
        since: datetime | None = None,
        limit: int | None = None,
        after_id: int | None = None,
    ) -> list[Event]:
        """Events (of ``server``, at or after ``since``, with an id above ``after_id``) oldest first; ``limit``
        keeps the most recent ones."""
        ...

    def acquire_lease(self, name: str, holder: str, *, ttl: timedelta, now: datetime) -> Lease | None:
        """Take ``name`` if it is free, expired or already ``holder``'s (then it is renewed); None if held.
        Taking it from another holder (or after a release) starts a new epoch."""
        ...

    def renew_lease(self, name: str, holder: str, *, ttl: timedelta, now: datetime) -> Lease:
        """Extend ``holder``'s lease; ``FencedError`` if it was taken by another holder, or released."""
        ...

    def release_lease(self, name: str, holder: str) -> bool:
        """Give the lease up (only its holder can); True if it was held. The epoch is kept."""
        ...

    def lease(self, name: str) -> Lease | None:
        """The current lease of ``name`` (possibly expired), or None when free."""
        ...

    def last_lease(self, name: str) -> Lease | None:
        """The lease of ``name`` held or not: once released its ``holder`` is ``""`` and its ``expires_at`` is
        when it was released (``status`` says "no daemon holds the lease since …"); None when never taken."""
        ...

    def check_fence(self, fence: Fence) -> None:
        """Raise ``FencedError`` unless ``fence`` still holds (one read; used right before an action starts)."""
        ...

    def verify(self) -> None:
        """Raise ``StateError`` saying what is wrong when the state under this open store is no longer usable:
        the file replaced, unlinked, truncated or unreadable; the database unreachable."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...
