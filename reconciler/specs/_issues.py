"""Located findings: where in which file, which field, what is wrong, how bad."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reconciler.certs import Severity

__all__ = ["Location", "SpecIssue"]


@dataclass(frozen=True, slots=True, order=True)
class Location:
    """A place in a spec file. ``line``/``col`` are 1-based; 0 means "the whole file"."""

    file: str
    line: int = 0
    col: int = 0

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}" if self.line else self.file


@dataclass(frozen=True, slots=True)
class SpecIssue:
    """One finding about the specs, located at ``file:line:col`` and a dotted ``field`` path.

    ``str(issue)`` is the form printed by ``validate``::

        specs/east.yaml:14:7: spec.rollout.clients.minAckRatio: must be between 0 and 1, got 1.5
        specs/east.yaml:20:5: spec.certificate.file: warning: expires on 2026-12-01 …

    ``code`` is stable (documented in docs/spec.md), for scripts; ``message`` is for people and never contains a
    secret.
    """

    file: str
    line: int
    col: int
    field: str | None
    message: str
    severity: Severity = Severity.ERROR
    code: str = "invalid-value"

    @classmethod
    def at(
        cls,
        where: Location,
        field: str | None,
        message: str,
        *,
        code: str,
        severity: Severity = Severity.ERROR,
    ) -> SpecIssue:
        return cls(where.file, where.line, where.col, field, message, severity, code)

    @property
    def location(self) -> Location:
        return Location(self.file, self.line, self.col)

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def sort_key(self) -> tuple[str, int, int, str, str]:
        return (self.file, self.line, self.col, self.field or "", self.message)

    def to_json(self) -> dict[str, Any]:
        """The ``findings[]`` entry of ``validate --output json``."""
        return {
            "file": self.file,
            "line": self.line,
            "column": self.col,
            "field": self.field,
            "code": self.code,
            "severity": str(self.severity),
            "message": self.message,
        }

    def __str__(self) -> str:
        text = f"{self.location}: "
        if self.field:
            text += f"{self.field}: "
        if self.severity is not Severity.ERROR:
            text += f"{self.severity}: "
        return text + self.message
