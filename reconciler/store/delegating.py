"""A :class:`~reconciler.store.base.Store` that hands every call to another one: the base of the wrappers that
change only a write or two (the daemon's fence in :class:`~reconciler.store.FencedStore`, its gate on starting
actions in :class:`reconciler.daemon.gate.GatedStore`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from types import TracebackType
from typing import Generic, Self, TypeVar

from reconciler.core.events import Event
from reconciler.core.record import RolloutRecord
from reconciler.store.base import Fence, Lease, Store

__all__ = ["DelegatingStore"]

S = TypeVar("S", bound=Store)


class DelegatingStore(Generic[S]):
    """Every :class:`Store` call goes to ``inner``; a subclass overrides what it changes. Closing it closes
    ``inner``."""

    def __init__(self, inner: S) -> None:
        self.inner = inner

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
        return self.inner.save(record, events, fence=fence)

    def append(self, events: Sequence[Event], *, fence: Fence | None = None) -> None:
        self.inner.append(events, fence=fence)

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
