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

from reconciler.core.events import Event
from reconciler.core.record import RolloutRecord
from reconciler.store.base import Fence, Store
from reconciler.store.delegating import DelegatingStore

__all__ = ["FencedStore"]


class FencedStore(DelegatingStore[Store]):
    """See the module docstring. Thread-safe."""

    def __init__(self, inner: Store, fence: Fence) -> None:
        super().__init__(inner)
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

    # --- the writes carry the fence --------------------------------------------------------------------------------

    def save(
        self, record: RolloutRecord, events: Sequence[Event] = (), *, fence: Fence | None = None
    ) -> RolloutRecord:
        return self.inner.save(record, events, fence=fence or self.fence)

    def append(self, events: Sequence[Event], *, fence: Fence | None = None) -> None:
        self.inner.append(events, fence=fence or self.fence)
