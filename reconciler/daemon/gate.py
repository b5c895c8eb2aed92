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

from reconciler.core.events import Event
from reconciler.core.record import Attempt, AttemptOutcome, RolloutRecord
from reconciler.errors import ConflictError
from reconciler.store import Fence, FencedStore
from reconciler.store.delegating import DelegatingStore

__all__ = ["GatedStore"]


def _key(a: Attempt) -> tuple[str, int, str, int, str]:
    return (a.rollout_id, a.step, a.kind.value, a.number, a.subject)


class GatedStore(DelegatingStore[FencedStore]):
    """Delegates to ``inner`` (the daemon's fenced store); while :meth:`shut` is in effect, a save that adds a
    pending attempt raises :class:`ConflictError` and the server is remembered in :attr:`refused` (the daemon
    reports the tick as abandoned). The fence (in ``inner``) refuses every write once another daemon holds the
    lease; this gate adds the refusals only this process knows about: stopping, or not trusting its lease."""

    def __init__(self, inner: FencedStore) -> None:
        super().__init__(inner)
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

    # --- the write that would start an action ----------------------------------------------------------------------

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
