"""Waiting out SEPM's REST throttle: ``threshold`` calls per fixed window (``scm.web.service.rest.throttle.threshold``
per ``…window.mins`` in ``tomcat\\etc\\conf.properties``, shipped 50 per minute).

A 429 with ``Retry-After`` says how long: that is waited (up to the client's ``max_delay``; longer ends the call
with a :class:`ThrottledError` carrying the delay, so the daemon comes back then). Without it, the window's end is
estimated: the first call admitted after a throttled spell opened a window, which ends ``window`` later; until such
a call was seen, the wait grows from a quarter of the window to the whole window. Every call of the client waits
behind a throttled spell instead of hammering the manager. One call waits at most ``budget`` in all; past it the
call ends with a :class:`ThrottledError`, and a scan keeps its place to resume at the next tick.
"""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.errors import TemporaryError

__all__ = ["ThrottleGate", "ThrottledError"]

_WAKE_MARGIN = 0.05  # of the window, after the estimated reset
_FIRST_WAIT = 0.25  # of the window, the first wait when nothing is known about the window


class ThrottledError(TemporaryError):
    """The manager throttled the call (HTTP 429) longer than this call may wait; ``delay`` says when to come back."""


@dataclass(slots=True)
class ThrottleGate:
    """What one client knows about the manager's throttle window (times on our monotonic clock)."""

    window: float = 60.0
    budget: float = 180.0
    blocked_until: float = 0.0  # no call is sent before this
    asked: bool = False  # the block is the manager's Retry-After (not an estimate of the window)
    window_opened_at: float | None = None  # the first call admitted after the last throttled spell
    throttled: bool = False  # inside a throttled spell (a 429 since the last admitted call)
    streak: int = 0  # consecutive 429s without a known window
    refusals: int = 0  # 429s seen, for the probe and the logs
    retry_after_seen: int = 0  # … of which carried a Retry-After
    waited: float = 0.0  # seconds waited for the throttle in all

    def admitted(self, now: float) -> None:
        """A call got an answer other than 429."""
        if self.throttled:
            self.window_opened_at = now
        self.throttled = False
        self.streak = 0

    def refused(self, now: float, retry_after: float | None) -> float:
        """A call got a 429 at ``now``: how long to wait before the next try (and block the others as long)."""
        self.refusals += 1
        if retry_after is not None:
            self.retry_after_seen += 1
            wait = retry_after
        elif self.window_opened_at is not None and not self.throttled:
            # the window opened by the first admitted call ends a window later
            reset = self.window_opened_at + self.window * (1 + _WAKE_MARGIN)
            wait = reset - now if reset > now else self.window * _FIRST_WAIT
        else:
            wait = min(self.window, self.window * _FIRST_WAIT * 2.0**self.streak)
            self.streak += 1
        self.throttled = True
        if now + wait >= self.blocked_until:
            self.blocked_until, self.asked = now + wait, retry_after is not None
        wait = max(0.0, wait)
        self.waited += wait
        return wait

    def wait_before_send(self, now: float) -> float:
        """How long a call must wait before it is sent (0 when the manager is not known to be throttling)."""
        return max(0.0, self.blocked_until - now)

    def estimated_reset(self, now: float) -> float:
        """Seconds until the current window presumably ends (for the delay of a :class:`ThrottledError`)."""
        if self.window_opened_at is not None:
            reset = self.window_opened_at + self.window - now
            if reset > 0:
                return reset
        return self.window
