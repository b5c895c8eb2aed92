"""SEPM policy serial numbers: ``718B-09/04/2023 12:56:58 775``.

The first four hex digits come from the group id; the rest is the time of the group's last policy change, in GMT,
``MM/DD/YYYY HH:MM:SS`` then milliseconds. A client's ``profileSerialNo`` is the serial of the policy it last
applied, so "this client has our change" is "the time in its serial is at or after our change time".

Parsing is cached: a fleet of 100,000 clients carries only a handful of distinct serials.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import lru_cache

__all__ = ["parse_policy_serial", "serial_epoch_ms"]

_SERIAL = re.compile(
    r"^\s*(?P<prefix>[0-9A-Fa-f]{4})-(?P<month>\d{1,2})/(?P<day>\d{1,2})/(?P<year>\d{4})"
    r" (?P<hour>\d{1,2}):(?P<minute>\d{2}):(?P<second>\d{2})(?: (?P<ms>\d{1,3}))?\s*$"
)


@lru_cache(maxsize=8192)
def parse_policy_serial(serial: str) -> datetime | None:
    """The GMT time carried by a policy serial number, or ``None`` when it is not in the vendor's format."""
    match = _SERIAL.match(serial)
    if match is None:
        return None
    try:
        return datetime(
            int(match["year"]),
            int(match["month"]),
            int(match["day"]),
            int(match["hour"]),
            int(match["minute"]),
            int(match["second"]),
            int(match["ms"] or 0) * 1000,
            tzinfo=UTC,
        )
    except ValueError:  # 13/45/2023 and the like: the shape matched, the calendar did not
        return None


@lru_cache(maxsize=8192)
def serial_epoch_ms(serial: str) -> int | None:
    """:func:`parse_policy_serial` as epoch milliseconds (what the client ledger stores)."""
    parsed = parse_policy_serial(serial)
    if parsed is None:
        return None
    return int(parsed.timestamp()) * 1000 + parsed.microsecond // 1000
