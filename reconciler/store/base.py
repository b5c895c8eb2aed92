"""The store interface the engine, the daemon and the CLI use; backends implement it (SQLite now, PostgreSQL later).

Guarantees every backend gives:

* ``save`` is one transaction: the record and its events are written together or not at all;
* compare-and-set: ``save`` writes only if the stored version still equals ``record.version`` (the version it was
  read at; 0 = not stored yet) and raises :class:`~reconciler.errors.ConflictError` otherwise — two processes
  cannot both advance a server, whatever they believe about leadership;
* the event log is append-only and ordered (``Event.id`` ascending);
* leases: one holder at a time per name, with an expiry; a lease is not a fence (use ``save``'s compare-and-set to
  guard actions) but tells a standby daemon to wait;
* backend failures surface as :class:`~reconciler.errors.StateError` (locked, corrupt, newer schema) with the
  underlying exception chained.

The interface is synchronous: SQLite is local and fast. Async callers use ``asyncio.to_thread``; implementations are
safe to call from several threads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import TracebackType
from typing import Protocol, Self

from reconciler.core.events import Event
from reconciler.core.record import RolloutRecord

__all__ = ["Lease", "Store"]


@dataclass(frozen=True, slots=True)
class Lease:
    """``holder`` owns ``name`` until ``expires_at`` unless it renews."""

    name: str
    holder: str
    acquired_at: datetime
    renewed_at: datetime
    expires_at: datetime

    def valid_at(self, now: datetime) -> bool:
        return now < self.expires_at


class Store(Protocol):
    """Rollout records, the event log and leases."""

    @property
    def url(self) -> str:
        """Where the state lives, with any password removed (safe to print)."""
        ...

    def get(self, server: str) -> RolloutRecord | None:
        """The stored record of ``server`` (``version`` = its stored version), or None."""
        ...

    def all(self) -> list[RolloutRecord]:
        """Every stored record, by server name."""
        ...

    def save(self, record: RolloutRecord, events: Sequence[Event] = ()) -> RolloutRecord:
        """Write ``record`` and append ``events`` in one transaction if the stored version is still
        ``record.version``; return the record with its new version. Raise ``ConflictError`` otherwise."""
        ...

    def append(self, events: Sequence[Event]) -> None:
        """Append events that do not change a record (one transaction)."""
        ...

    def events(
        self, server: str | None = None, *, since: datetime | None = None, limit: int | None = None
    ) -> list[Event]:
        """Events (of ``server``, at or after ``since``) oldest first; ``limit`` keeps the most recent ones."""
        ...

    def acquire_lease(self, name: str, holder: str, *, ttl: timedelta, now: datetime) -> Lease | None:
        """Take ``name`` if it is free, expired or already ``holder``'s (then it is renewed); None if held."""
        ...

    def renew_lease(self, name: str, holder: str, *, ttl: timedelta, now: datetime) -> Lease:
        """Extend ``holder``'s lease; ``ConflictError`` if it expired and was taken, or was released."""
        ...

    def release_lease(self, name: str, holder: str) -> bool:
        """Give the lease up (only its holder can); True if it was held."""
        ...

    def lease(self, name: str) -> Lease | None:
        """The current lease of ``name`` (possibly expired), or None."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...
