"""Named findings: a stable code, a severity and a sentence a person can act on."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Finding", "Severity"]


class Severity(StrEnum):
    """How bad a finding is. ``error`` makes a spec invalid; ``warning`` and ``info`` do not."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True, slots=True)
class Finding:
    """One check's result. ``code`` is stable (scripts match on it); ``message`` never contains a secret."""

    code: str
    severity: Severity
    message: str
