"""Maintenance windows for the disruptive step (step 4), evaluated in the window's own time zone.

A window opens on each listed day at ``start`` (local wall time) and closes at ``end``; an ``end`` earlier than
``start`` means the next day (``sat 22:00`` → ``sun 04:00``). ``days`` are the days the window *opens*. On a
daylight-saving change day a wall time that does not exist (or exists twice) is read with the offset in force before
the change, as :mod:`zoneinfo` does with ``fold=0``.

What a window gates: starting the step-4 update (the first attempt, every retry, and showing manual instructions).
An update already started when the window closes is not interrupted — killing a certificate swap half-way is worse
than finishing it — and the step is completed by observation whenever the new certificate is seen.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from reconciler.core.clock import require_aware
from reconciler.core.spec import Weekday, Window

__all__ = ["WindowState", "describe", "first_open", "last_open", "window_state"]

_WEEKDAYS = (Weekday.MON, Weekday.TUE, Weekday.WED, Weekday.THU, Weekday.FRI, Weekday.SAT, Weekday.SUN)


@dataclass(frozen=True, slots=True)
class WindowState:
    """Whether the window is open at a moment, and when that changes (UTC). ``error`` explains an unusable window."""

    open: bool
    closes_at: datetime | None = None  # when open: the end of the current opening
    next_opens_at: datetime | None = None  # when closed: the start of the next opening
    error: str | None = None


ALWAYS_OPEN = WindowState(open=True)


def _hhmm(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def _zone(window: Window) -> ZoneInfo:
    try:
        return ZoneInfo(window.timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(
            f"unknown time zone {window.timezone!r} in spec.rollout.window.timezone "
            "(use an IANA name such as Europe/Madrid or UTC)"
        ) from exc


def _openings(
    window: Window, zone: ZoneInfo, around: date, offsets: range = range(-1, 9)
) -> list[tuple[datetime, datetime]]:
    """The openings (UTC) of the days ``around + offset``. The default looks forward: yesterday's opening may still
    run, and every weekday recurs within a week."""
    start, end = _hhmm(window.start), _hhmm(window.end)
    spans_midnight = end <= start
    openings = []
    for offset in offsets:
        day = around + timedelta(days=offset)
        if _WEEKDAYS[day.weekday()] not in window.days:
            continue
        opens = datetime.combine(day, start, tzinfo=zone).astimezone(UTC)
        closes_day = day + timedelta(days=1) if spans_midnight else day
        closes = datetime.combine(closes_day, end, tzinfo=zone).astimezone(UTC)
        openings.append((opens, closes))
    return openings


def window_state(window: Window | None, at: datetime) -> WindowState:
    """Is ``window`` open at ``at``? No window means always open. Never raises: a bad time zone is an ``error``."""
    if window is None:
        return ALWAYS_OPEN
    at = require_aware(at, "at")
    try:
        zone = _zone(window)
    except ValueError as exc:
        return WindowState(open=False, error=str(exc))
    openings = _openings(window, zone, at.astimezone(zone).date())
    for opens, closes in openings:
        if opens <= at < closes:
            return WindowState(open=True, closes_at=closes)
    upcoming = [opens for opens, _ in openings if opens > at]
    return WindowState(open=False, next_opens_at=min(upcoming) if upcoming else None)


def first_open(window: Window | None, at: datetime) -> datetime | None:
    """The first moment at or after ``at`` when ``window`` is open (``at`` itself without a window); None when the
    window is unusable."""
    state = window_state(window, at)
    if state.error:
        return None
    return at if state.open else state.next_opens_at


_MINUTE = timedelta(minutes=1)


def last_open(window: Window | None, at: datetime) -> datetime | None:
    """The last moment (to the minute) at or before ``at`` when ``window`` is open; None when it was not open in
    the week before, or is unusable."""
    state = window_state(window, at)
    if state.error:
        return None
    if state.open or window is None:
        return at
    zone = _zone(window)
    # Every weekday recurs within a week, and the opening of the day before may span midnight.
    openings = _openings(window, zone, at.astimezone(zone).date(), range(-8, 1))
    ends = [closes - _MINUTE for _, closes in openings if closes <= at]
    return max(ends) if ends else None


def describe(window: Window | None) -> str:
    """``"sat, sun 22:00–04:00 Europe/Madrid"``; ``"any time"`` without a window."""
    if window is None:
        return "any time"
    days = ", ".join(day.value for day in _WEEKDAYS if day in window.days)
    return f"{days} {window.start}–{window.end} {window.timezone}"
