"""Time as an input. The core never reads a clock: callers pass ``now``; tests drive a :class:`FakeClock`.

The real clock lives with the entry points (``datetime.now(UTC)``); anything that needs one takes a :class:`Clock`.
All times are timezone-aware UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "FakeClock", "require_aware"]


@runtime_checkable
class Clock(Protocol):
    """Something that says what time it is (UTC, timezone-aware)."""

    def now(self) -> datetime: ...


def require_aware(value: datetime, what: str = "time") -> datetime:
    """Return ``value`` in UTC; refuse naive datetimes (they are always a bug here)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware (got naive {value.isoformat()})")
    return value.astimezone(UTC)


class FakeClock:
    """A clock that only moves when told to: ``FakeClock(start)``, ``advance(timedelta)``, ``set(datetime)``."""

    def __init__(self, start: datetime) -> None:
        self._now = require_aware(start, "start")

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        if delta < timedelta(0):
            raise ValueError("a clock does not go backwards; use set() to model a clock jump")
        self._now += delta
        return self._now

    def set(self, value: datetime) -> datetime:
        self._now = require_aware(value, "value")
        return self._now
