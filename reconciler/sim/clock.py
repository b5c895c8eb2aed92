"""The fleet's virtual clock: ``speed`` simulated seconds pass per real second; it can be advanced or set forward.

Every timestamp the simulator shows (``serverTime``, ``policyDate``, ``lastUpdateTime``, serials, replication times)
comes from here. The clock never goes backwards: client schedules are computed lazily up to "now" and cannot be
un-computed, so :meth:`set` refuses a time in the past.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

__all__ = ["VirtualClock", "iso", "ms_to_datetime"]


def ms_to_datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def iso(ms: int) -> str:
    """``2026-12-01T08:00:00.000Z``."""
    return ms_to_datetime(ms).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


class VirtualClock:
    """Thread-safe virtual time, in integer milliseconds since the epoch. ``speed`` 0 freezes it between advances."""

    def __init__(self, start: datetime, speed: float) -> None:
        if start.tzinfo is None:
            raise ValueError("the start time must be timezone-aware")
        self._lock = threading.Lock()
        self._base_ms = int(start.timestamp() * 1000)
        self._base_mono = time.monotonic()
        self.speed = float(speed)

    def now_ms(self) -> int:
        with self._lock:
            return self._base_ms + int((time.monotonic() - self._base_mono) * self.speed * 1000)

    def now(self) -> datetime:
        return ms_to_datetime(self.now_ms())

    def advance(self, seconds: float) -> int:
        """Jump ``seconds`` (≥ 0) ahead; returns the new time in ms."""
        if seconds < 0:
            raise ValueError("the clock only moves forward: seconds must be ≥ 0")
        with self._lock:
            self._base_ms += round(seconds * 1000)
        return self.now_ms()

    def set(self, when: datetime) -> int:
        """Jump to ``when`` (timezone-aware, not in the past); returns the new time in ms."""
        if when.tzinfo is None:
            raise ValueError("the time needs a zone (e.g. 2026-12-02T08:00:00Z)")
        target = int(when.timestamp() * 1000)
        with self._lock:
            current = self._base_ms + int((time.monotonic() - self._base_mono) * self.speed * 1000)
            if target < current:
                raise ValueError("the clock only moves forward: that time is in the simulated past")
            self._base_ms, self._base_mono = target, time.monotonic()
        return target
