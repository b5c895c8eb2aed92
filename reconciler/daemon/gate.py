"""The daemon's gate on starting actions: a :class:`~reconciler.store.Store` that refuses to persist a decision
which would start a new action while the gate is closed (the daemon is stopping, or lost its lease).

The engine persists a decision — whose record carries the new *pending* attempt — before it runs a hook or an API
call, and drops the tick without acting when that save fails with :class:`~reconciler.errors.ConflictError`.
Refusing exactly that save is therefore the last moment a tick can be abandoned *before any action*, with nothing
written: the record stays as it was, and the next tick (of this daemon after a restart, or of the new leader)
decides again from what it observes. Saves that do not start an action — a hold, a move, an attempt's result — go
through, so state stays consistent while in-flight actions finish.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime, timedelta
from types import TracebackType
from typing import Self

from reconciler.core.events import Event
from reconciler.core.record import Attempt, AttemptOutcome, RolloutRecord
from reconciler.errors import ConflictError
from reconciler.store import Fence, FencedStore, Lease

__all__ = ["GatedStore"]


def _key(a: Attempt) -> tuple[str, int, str, int, str]:
    return (a.rollout_id, a.step, a.kind.value, a.number, a.subject)


class GatedStore:
    """Delegates to ``inner`` (the daemon's fenced store); while :meth:`shut` is in effect, a save that adds a
    pending attempt raises :class:`ConflictError` and the server is remembered in :attr:`refused` (the daemon
    reports the tick as abandoned). The fence (in ``inner``) refuses every write once another daemon holds the
    lease; this gate adds the refusals only this process knows about: stopping, or not trusting its lease."""

    def __init__(self, inner: FencedStore) -> None:
        self.inner = inner
        self._lock = threading.Lock()
        self._closed: str | None = None
        self._refused: set[str] = set()

    # --- the gate --------------------------------------------------------------------------------------------------

    def shut(self, reason: str) -> None:
        """From now on, refuse to start actions (``reason`` ends up in the refusal's message)."""
        with self._lock:
            self._closed = reason

    def reopen(self) -> None:
        with self._lock:
            self._closed = None

    @property
    def shut_reason(self) -> str | None:
        return self._closed

    def take_refused(self, server: str) -> bool:
        """Whether a save of ``server`` was refused since the last call (and forget it)."""
        with self._lock:
            if server in self._refused:
                self._refused.discard(server)
                return True
            return False

    def _starts_action(self, record: RolloutRecord) -> Attempt | None:
        pending = [a for a in record.attempts if a.outcome is AttemptOutcome.PENDING]
        if not pending:
            return None
        stored = self.inner.get(record.server)
        known = {_key(a) for a in stored.attempts} if stored is not None else set()
        return next((a for a in pending if _key(a) not in known), None)

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
        reason = self._closed
        if reason is not None:
            attempt = self._starts_action(record)
            if attempt is not None:
                with self._lock:
                    self._refused.add(record.server)
                raise ConflictError(
                    f"{record.server}: {attempt.kind.value} (step {attempt.step}, attempt {attempt.number}) not "
                    f"started: {reason}"
                )
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
        self.inner.close()
