"""When the current drift began, read from a server's event log (``report --since``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from reconciler.core.events import Event, EventKind
from reconciler.core.phase import Phase

__all__ = ["drift_began"]


def drift_began(events: Sequence[Event]) -> datetime | None:
    """The first move away from ``in_sync`` (or out of ``new``) since the server was last in sync; None when the
    server is in sync at the end of ``events`` or the log holds no such move. ``events`` are one server's, oldest
    first."""
    moves = [e for e in events if e.kind is EventKind.TRANSITION and e.to_phase is not None]
    began: datetime | None = None
    for move in moves:
        if move.to_phase is Phase.IN_SYNC:
            began = None
        elif began is None:
            began = move.at
    return began
