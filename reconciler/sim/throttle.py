"""SEPM's REST throttle: at most ``threshold`` calls per window of ``windowMinutes`` (``scm.web.service.rest.
throttle.threshold`` / ``…window.mins`` in ``tomcat\\etc\\conf.properties``; shipped 50 per 1 minute).

The window runs on the **virtual clock**: a fleet that compresses days into seconds is not slowed in real time, a
fleet at ``speed: 1`` behaves like a real manager, and on a frozen clock (``speed: 0``) a window ends only when the
clock is advanced. Windows are fixed: the first call after a window ended opens the next one. Every vendor API call
of the manager counts (``/_sim`` never does), whoever makes it; a refused call does not count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from reconciler.sim.behaviours import ThrottleSpec

__all__ = ["Throttle"]


@dataclass(slots=True)
class Throttle:
    window_start: int | None = None  # virtual ms
    calls: int = 0
    refused: int = 0

    def admit(self, spec: ThrottleSpec | None, now_ms: int) -> int | None:
        """Count one call at ``now_ms``; None when admitted, else the virtual ms left in the window."""
        if spec is None:
            return None
        window_ms = round(spec.window_minutes * 60_000)
        if self.window_start is None or now_ms >= self.window_start + window_ms:
            self.window_start, self.calls = now_ms, 0
        if self.calls >= spec.threshold:
            self.refused += 1
            return self.window_start + window_ms - now_ms
        self.calls += 1
        return None

    @staticmethod
    def retry_after(left_ms: int, speed: float) -> int:
        """``Retry-After`` in real seconds for ``left_ms`` virtual ms at clock ``speed`` (virtual seconds when the
        clock is frozen: the window ends only when it is advanced)."""
        seconds = left_ms / 1000 / (speed if speed > 0 else 1)
        return max(0, math.ceil(seconds))
