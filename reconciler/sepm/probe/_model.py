"""What a probe reports: one :class:`Check` per probed row of the inventory, and the rows verified at run time."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from reconciler.errors import Error
from reconciler.sepm.client import ApiError
from reconciler.sepm.probe.inventory import INVENTORY, PROBE_CHECKS, RUN_TIME

__all__ = ["NOT_CHECKED", "Check", "Checks", "ProbeReport", "Status"]

_STATEMENTS = {a.id: a.statement for a in INVENTORY}

NOT_CHECKED: tuple[str, ...] = tuple(f"{a.statement} [{a.id}] — {a.how}" for a in RUN_TIME)
"""The inventory's rows a read-only probe cannot check, each with how the run time verifies it."""


class Status(StrEnum):
    PASS = "pass"  # noqa: S105 - a check status, not a password
    FAIL = "fail"
    UNKNOWN = "unknown"

    @property
    def symbol(self) -> str:
        return {"pass": "✓", "fail": "✗", "unknown": "?"}[self.value]


@dataclass(frozen=True, slots=True)
class Check:
    id: str  # stable, e.g. "auth.token_lifetime"
    title: str  # what is assumed (the inventory's statement)
    status: Status
    seen: str  # what was observed, for a person
    details: dict[str, Any] = field(default_factory=dict)  # JSON-safe

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "status": self.status.value,
            "seen": self.seen,
            "details": dict(self.details),
        }


@dataclass(frozen=True, slots=True)
class ProbeReport:
    server: str
    api_url: str
    checks: tuple[Check, ...]
    not_checked: tuple[str, ...] = NOT_CHECKED

    @property
    def passed(self) -> bool:
        return all(c.status is Status.PASS for c in self.checks)

    def count(self, status: Status) -> int:
        return sum(1 for c in self.checks if c.status is status)

    def to_json(self) -> dict[str, Any]:
        return {
            "server": self.server,
            "api_url": self.api_url,
            "passed": self.passed,
            "summary": {s.value: self.count(s) for s in Status},
            "checks": [c.to_json() for c in self.checks],
            "not_checked": list(self.not_checked),
            "run_time": [{"id": a.id, "assumption": a.statement, "verified_by": a.how} for a in RUN_TIME],
        }


class Checks:
    """The checks made so far; every id is one of the inventory's probed rows (:data:`PROBE_CHECKS`)."""

    def __init__(self) -> None:
        self._checks: dict[str, Check] = {}

    def add(self, cid: str, status: Status, seen: str, **details: Any) -> None:
        if cid not in _STATEMENTS or cid not in PROBE_CHECKS:
            raise ValueError(f"{cid} is not a probed row of the assumption inventory")
        self._checks[cid] = Check(cid, _STATEMENTS[cid], status, seen, details)

    def failed(self, cid: str, exc: Error) -> None:
        """A call failed: a missing endpoint (404/405/410) fails the check, anything else leaves it unknown."""
        missing = isinstance(exc, ApiError) and exc.status in (404, 405, 410)
        self.add(cid, Status.FAIL if missing else Status.UNKNOWN, str(exc))

    async def attempt(self, cid: str, work: Callable[[], Awaitable[None]]) -> None:
        """Run one check; an error it did not handle is recorded by :meth:`failed`."""
        try:
            await work()
        except Error as exc:
            self.failed(cid, exc)

    def has(self, cid: str) -> bool:
        return cid in self._checks

    def complete_so_far(self) -> tuple[Check, ...]:
        return tuple(self._checks.values())

    def complete(self, why_missing: str) -> tuple[Check, ...]:
        """Every probed row in inventory order; those not reached are unknown, saying ``why_missing``."""
        for cid in PROBE_CHECKS:
            if cid not in self._checks:
                self.add(cid, Status.UNKNOWN, f"not checked: {why_missing}")
        return tuple(self._checks[cid] for cid in PROBE_CHECKS)


def missing_fields(items: Sequence[dict[str, Any]], fields: Sequence[str]) -> dict[str, int]:
    """field (dotted) -> how many items lack it (absent or null)."""

    def get(item: dict[str, Any], dotted: str) -> Any:
        node: Any = item
        for key in dotted.split("."):
            if not isinstance(node, dict) or key not in node:
                return None
            node = node[key]
        return node

    counts = {f: sum(1 for item in items if get(item, f) is None) for f in fields}
    return {f: n for f, n in counts.items() if n}
