"""The manager's clock, and the manager's times in epoch milliseconds, checked for sanity.

Every time the manager gives is epoch **milliseconds** on its own clock (``serverTime``, ``lastUpdateTime``,
``policyDate``, replication times). A value outside 2000-2100 is not a time this reconciler can measure with: a
:class:`~reconciler.errors.ProtocolError` naming the field, and the unit it would be in if it made sense (a manager
answering seconds where milliseconds are documented would otherwise read as "55 years behind"). Values inside the
range are trusted as milliseconds.

:class:`ManagerClock` keeps the latest time the manager stamped on an answer: the ``serverTime`` of an
authentication (millisecond precision), then the ``Date`` header of every later answer (whole seconds, the same
clock on a real manager: Tomcat and Apache set it). It is a **lower bound** of the manager's time, never an
extrapolation from ours: a time measured too early makes soaks longer, lists more clients at risk and overlaps the
incremental cursor more — all on the safe side — while a time run ahead of the manager's (a paused VM, a simulator's
virtual clock) would make a policy saved after a step began look older than the step. Only when the manager sends no
``Date`` header is ``serverTime`` carried forward by our monotonic clock, for at most ``extrapolate_for``; after
that the session is renewed to read ``serverTime`` again.
"""

from __future__ import annotations

import email.utils
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from reconciler.errors import ProtocolError

__all__ = ["EARLIEST", "LATEST", "ManagerClock", "epoch_ms", "epoch_ms_or_none", "plausible_ms"]

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
_MS_LO = int(EARLIEST.timestamp() * 1000)
_MS_HI = int(LATEST.timestamp() * 1000)
_UNITS = ((1000.0, "seconds"), (1e-3, "microseconds"), (1e-6, "nanoseconds"))


def plausible_ms(value: Any) -> bool:
    """An epoch-millisecond number between 2000 and 2100 (booleans and non-finite numbers are not)."""
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and _MS_LO <= value <= _MS_HI
    )


def _unit_hint(value: float) -> str:
    for factor, unit in _UNITS:
        scaled = value * factor
        if _MS_LO <= scaled <= _MS_HI:
            when = datetime.fromtimestamp(scaled / 1000, UTC)
            return f"as {unit} it would be {when:%Y-%m-%d %H:%M} UTC: the manager may be using the wrong unit"
    return "outside the years 2000-2100 in any unit"


def epoch_ms(value: Any, where: str) -> datetime:
    """``value`` (epoch milliseconds) as a UTC datetime, or a :class:`ProtocolError` naming ``where``."""
    if plausible_ms(value):
        return datetime.fromtimestamp(float(value) / 1000, UTC)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ProtocolError(f"{where}: {str(value)[:40]!r} is not a time in epoch milliseconds")
    raise ProtocolError(
        f"{where}: {value:g} is not a plausible time in epoch milliseconds ({_unit_hint(float(value))}); "
        "nothing measured on the manager's clock can be trusted"
    )


def epoch_ms_or_none(value: Any, where: str) -> datetime | None:
    """:func:`epoch_ms`, with 0, negative values and absence meaning "never" (None)."""
    if value is None or (isinstance(value, int | float) and not isinstance(value, bool) and value <= 0):
        return None
    return epoch_ms(value, where)


def parse_http_date(value: str | None) -> datetime | None:
    """An HTTP ``Date`` header (RFC 9110 IMF-fixdate and the older forms) as UTC, or None when unreadable."""
    if not value:
        return None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    when = when.astimezone(UTC)
    return when if EARLIEST <= when <= LATEST else None


@dataclass(slots=True)
class ManagerClock:
    """The latest time the manager stamped on an answer (see the module docstring)."""

    extrapolate_for: float = 600.0  # seconds serverTime may be carried forward when no Date header is sent
    reading: datetime | None = None
    read_at: float = 0.0  # our monotonic clock when ``reading`` was received
    from_date_header: bool = False
    dates_seen: int = 0
    jumped: bool = False  # the manager's clock went backwards by more than a second (re-read serverTime)

    def set_server_time(self, value: datetime, received_at: float) -> None:
        """The ``serverTime`` of an authentication answer received at ``received_at`` (monotonic)."""
        self.reading, self.read_at, self.from_date_header, self.jumped = value, received_at, False, False

    def note_date(self, header: str | None, received_at: float) -> None:
        """The ``Date`` header of an answer received at ``received_at`` (monotonic)."""
        date = parse_http_date(header)
        if date is None:
            return
        self.dates_seen += 1
        if self.reading is None or date > self.reading:
            self.reading, self.read_at, self.from_date_header = date, received_at, True
        elif date + timedelta(seconds=2) < self.reading:  # floor of a second, plus a second of slack
            self.reading, self.read_at, self.from_date_header, self.jumped = date, received_at, True, True
        elif received_at > self.read_at and self.from_date_header:
            self.read_at = received_at  # the same second seen again: the reading is still current

    def now(self, monotonic: float) -> datetime | None:
        """The manager's time now (a lower bound), or None when it must be read again (no reading, a clock that
        jumped back, or ``serverTime`` carried forward for longer than ``extrapolate_for``)."""
        if self.reading is None or self.jumped:
            return None
        if self.dates_seen:
            return self.reading
        elapsed = monotonic - self.read_at
        if elapsed > self.extrapolate_for:
            return None
        return self.reading + timedelta(seconds=max(0.0, elapsed))
