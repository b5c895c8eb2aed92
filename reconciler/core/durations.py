"""Durations as users write them in specs: ``30s``, ``15m``, ``24h``, ``7d`` (and combinations such as ``1d12h``)."""

from __future__ import annotations

import re
from datetime import timedelta

__all__ = ["format_duration", "parse_duration"]

_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_PART = re.compile(r"(\d+)([dhms])")
_WHOLE = re.compile(r"^(?:\d+[dhms])+$")
_MAX = timedelta(days=36500)  # a century: anything longer is a typo, and timedelta overflows not far beyond


def parse_duration(text: str) -> timedelta:
    """Parse ``30s``/``15m``/``24h``/``7d`` (or ``1d12h``). Raises :class:`ValueError` with a helpful message."""
    value = text.strip()
    if not _WHOLE.match(value):
        raise ValueError(
            f"invalid duration {text!r}: use a number and a unit s, m, h or d, e.g. 30s, 15m, 24h, 7d"
        )
    units = [u for _, u in _PART.findall(value)]
    if len(set(units)) != len(units):
        raise ValueError(f"invalid duration {text!r}: each unit may appear once, e.g. 1d12h")
    seconds = sum(int(n) * _UNITS[u] for n, u in _PART.findall(value))
    if seconds > _MAX.total_seconds():
        raise ValueError(f"invalid duration {text!r}: longer than 36500d (a century)")
    return timedelta(seconds=seconds)


def format_duration(delta: timedelta) -> str:
    """The shortest spec form of ``delta`` (whole seconds): ``timedelta(days=1, hours=12)`` → ``1d12h``."""
    total = int(delta.total_seconds())
    if total < 0:
        raise ValueError("durations are never negative")
    if total == 0:
        return "0s"
    parts = []
    for unit, size in _UNITS.items():
        count, total = divmod(total, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)
