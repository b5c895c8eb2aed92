"""A store whose every write carries the holder's fence: what a daemon hands to its engine.

``FencedStore(inner, fence)`` delegates everything to ``inner``; ``save`` and ``append`` pass the current
:class:`~reconciler.store.base.Fence`, so the backend refuses them (:class:`~reconciler.errors.FencedError`, nothing
written) once another daemon holds the lease — whatever this process believes. The daemon moves the fence forward
with :meth:`FencedStore.hold` each time it acquires the lease; before that the fence is epoch 0, which no lease has,
so a daemon that never led writes nothing. :meth:`FencedStore.confirm` re-checks the fence with one round trip, right
before an action starts (the save that recorded the attempt was fenced too, but time passes between the two).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime, timedelta
from types import TracebackType
from typing import Self

from reconciler.core.events import Event
from reconciler.core.record import RolloutRecord
from reconciler.store.base import Fence, Lease, Store

__all__ = ["FencedStore"]


class FencedStore:
    """See the module docstring. Thread-safe."""

    def __init__(self, inner: Store, fence: Fence) -> None:
        self.inner = inner
        self._fence = fence
        self._lock = threading.Lock()

    @property
    def fence(self) -> Fence:
        with self._lock:
            return self._fence

    def hold(self, fence: Fence) -> None:
        """Write under ``fence`` from now on (the lease was just acquired at its epoch)."""
        with self._lock:
            self._fence = fence

    def confirm(self) -> None:
        """Raise ``FencedError`` unless this process still holds the lease at its epoch."""
        self.inner.check_fence(self.fence)

    # --- Store -----------------------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return self.inner.url

    def schema_version(self) -> int:
        return self.inner.schema_version()

    def get(self, server: str) -> RolloutRecord | None:
        return self.inner.get(server)

    def all(self) -> list[RolloutRecord]:
        return self.inner.all()

    def save(
        self, record: RolloutRecord, events: Sequence[Event] = (), *, fence: Fence | None = None
    ) -> RolloutRecord:
        return self.inner.save(record, events, fence=fence or self.fence)

    def append(self, events: Sequence[Event], *, fence: Fence | None = None) -> None:
        self.inner.append(events, fence=fence or self.fence)

    def events(
        self,
        server: str | None = None,
        *,
        since: datetime | None = None,
        limit: int | None = None,
        after_id: int | None = None,
    ) -> list[Event]:
        return self.inner.events(server, since=since, limit=limit, after_id=after_id)

    def acquire_lease(self, name: str, holder: str, *, ttl: timedelta, now: datetime) -> Lease | None:
        return self.inner.acquire_lease(name, holder, ttl=ttl, now=now)

    def renew_lease(self, name: str, holder: str, *, ttl: timedelta, now: datetime) -> Lease:
        return self.inner.renew_lease(name, holder, ttl=ttl, now=now)

    def release_lease(self, name: str, holder: str) -> bool:
        return self.inner.release_lease(name, holder)

    def lease(self, name: str) -> Lease | None:
        return self.inner.lease(name)

    def last_lease(self, name: str) -> Lease | None:
        return self.inner.last_lease(name)

    def check_fence(self, fence: Fence) -> None:
        self.inner.check_fence(fence)

    def verify(self) -> None:
        self.inner.verify()

    def close(self) -> None:
        self.inner.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
