"""How reasons read: numbers, ratios, times and durations written for a person, the same way everywhere."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

__all__ = ["count", "fingerprint", "names", "percent", "ports", "span", "when"]


def count(value: int) -> str:
    """``1834`` → ``"1,834"``."""
    return f"{value:,}"


def percent(ratio: float) -> str:
    """``0.9652`` → ``"96.5%"``; whole percentages without decimals (``"100%"``), never rounded up to 100%."""
    value = ratio * 100
    if value == int(value):
        return f"{int(value)}%"
    text = f"{value:.1f}"
    if text == "100.0":  # 99.96% must not read as "100%"
        text = "99.9"
    return f"{text}%"


def when(moment: datetime) -> str:
    """``"2026-12-02 08:00 UTC"`` (seconds shown only when not zero)."""
    moment = moment.astimezone(UTC)
    if moment.second:
        return moment.strftime("%Y-%m-%d %H:%M:%S UTC")
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def span(delta: timedelta) -> str:
    """A duration in the two largest units: ``"3 days"``, ``"1 day 4 h"``, ``"5 h 20 min"``, ``"45 s"``."""
    seconds = int(abs(delta).total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        text = f"{days} day{'s' if days != 1 else ''}"
        return f"{text} {hours} h" if hours else text
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} min"
    return f"{secs} s"


def fingerprint(value: str | None) -> str:
    """A fingerprint shortened for sentences: ``"sha256:3f2a9b1c0d4e…"``; the full value is in JSON outputs."""
    if value is None:
        return "nothing"
    return value[:19] + "…" if len(value) > 19 else value


def names(items: list[str] | tuple[str, ...], *, limit: int = 5) -> str:
    """``"a, b, c and 12 more"``."""
    shown = list(items[:limit])
    rest = len(items) - len(shown)
    text = ", ".join(shown)
    return f"{text} and {count(rest)} more" if rest > 0 else text


def ports(items: list[str], *, of: int = 0) -> str:
    """``"all ports"`` when ``items`` covers all ``of`` ports, else ``"the clients and api ports"``."""
    if of and len(items) == of and of > 1:
        return "all ports"
    if len(items) == 1:
        return f"the {items[0]} port"
    return f"the {', '.join(items[:-1])} and {items[-1]} ports"
