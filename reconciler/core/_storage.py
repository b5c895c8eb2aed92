"""Helpers for the explicit, JSON-safe storage form of records and events (never pickle)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

from reconciler.errors import StateError

__all__ = ["Reader", "iso", "iso_or_none"]

E = TypeVar("E", bound=StrEnum)


def iso(moment: datetime) -> str:
    """``2026-12-02T08:00:00Z``: UTC, ISO 8601, sortable as text."""
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment.isoformat()} cannot be stored")
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def iso_or_none(moment: datetime | None) -> str | None:
    return None if moment is None else iso(moment)


class Reader:
    """Typed access to a stored mapping; anything unexpected is a :class:`~reconciler.errors.StateError` naming
    the field, so a damaged row is reported precisely instead of crashing a tick."""

    def __init__(self, data: object, where: str) -> None:
        if not isinstance(data, Mapping):
            raise StateError(f"corrupt state: {where} should be an object, got {type(data).__name__}")
        self.data: Mapping[str, Any] = data
        self.where = where

    def fail(self, key: str, expected: str) -> StateError:
        got = self.data.get(key, "<missing>")
        return StateError(f"corrupt state: {self.where}.{key} should be {expected}, got {got!r:.80}")

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def text(self, key: str) -> str:
        value = self.data.get(key)
        if not isinstance(value, str):
            raise self.fail(key, "a string")
        return value

    def opt_text(self, key: str) -> str | None:
        return self.text(key) if self.has(key) else None

    def integer(self, key: str) -> int:
        value = self.data.get(key)
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.fail(key, "an integer")
        return value

    def opt_integer(self, key: str) -> int | None:
        return self.integer(key) if self.has(key) else None

    def number(self, key: str) -> float:
        value = self.data.get(key)
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise self.fail(key, "a number")
        return float(value)

    def opt_number(self, key: str) -> float | None:
        return self.number(key) if self.has(key) else None

    def flag(self, key: str, default: bool | None = None) -> bool:
        value = self.data.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(key, "true or false")
        return value

    def opt_flag(self, key: str) -> bool | None:
        return self.flag(key) if self.has(key) else None

    def moment(self, key: str) -> datetime:
        text = self.text(key)
        try:
            moment = datetime.fromisoformat(text)
        except ValueError as exc:
            raise self.fail(key, "an ISO 8601 time") from exc
        if moment.tzinfo is None:
            raise self.fail(key, "a time with a UTC offset")
        return moment.astimezone(UTC)

    def opt_moment(self, key: str) -> datetime | None:
        return self.moment(key) if self.has(key) else None

    def enum(self, key: str, kind: type[E]) -> E:
        text = self.text(key)
        try:
            return kind(text)
        except ValueError as exc:
            raise self.fail(key, f"one of {', '.join(m.value for m in kind)}") from exc

    def opt_enum(self, key: str, kind: type[E]) -> E | None:
        return self.enum(key, kind) if self.has(key) else None

    def items(self, key: str) -> list[Any]:
        value = self.data.get(key, [])
        if not isinstance(value, list):
            raise self.fail(key, "a list")
        return value

    def texts(self, key: str) -> tuple[str, ...]:
        items = self.items(key)
        if not all(isinstance(item, str) for item in items):
            raise self.fail(key, "a list of strings")
        return tuple(items)

    def mapping(self, key: str) -> Mapping[str, Any]:
        value = self.data.get(key, {})
        if not isinstance(value, Mapping):
            raise self.fail(key, "an object")
        return value

    def optional_texts(self, key: str) -> dict[str, str | None]:
        """An object of strings or null (absent: empty)."""
        values = self.mapping(key)
        if not all(v is None or isinstance(v, str) for v in values.values()):
            raise self.fail(key, "an object of strings or null")
        return dict(values)

    def optional_flags(self, key: str) -> dict[str, bool | None]:
        """An object of true/false/null (absent: empty)."""
        values = self.mapping(key)
        if not all(v is None or isinstance(v, bool) for v in values.values()):
            raise self.fail(key, "an object of true/false/null")
        return dict(values)

    def moments(self, key: str) -> dict[str, datetime]:
        """An object of ISO 8601 times (absent: empty)."""
        child = self.child(key) if self.has(key) else Reader({}, f"{self.where}.{key}")
        return {name: child.moment(name) for name in child.data}

    def child(self, key: str) -> Reader:
        return Reader(self.data.get(key), f"{self.where}.{key}")

    def opt_child(self, key: str) -> Reader | None:
        return self.child(key) if self.has(key) else None
