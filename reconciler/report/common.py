"""What every format says the same way: marks, port cells, the header and summary sentences."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.core import wording
from reconciler.core.drift import Severity
from reconciler.report.model import Report, ServerReport, Status

__all__ = [
    "EXIT_MEANING",
    "MARK",
    "header",
    "header_parts",
    "observed",
    "port_cell",
    "status_tone",
    "summary",
]

MARK: Mapping[Severity, str] = {Severity.ERROR: "✗", Severity.WARNING: "!", Severity.INFO: "·"}

EXIT_MEANING: Mapping[int, str] = {
    0: "every server in sync",
    1: "error",
    2: "drift or a rollout in progress",
}


def status_tone(status: str) -> str:
    """``ok`` / ``busy`` / ``warn`` / ``bad`` / ``muted``: how a status is coloured in every format."""
    if status in (Status.STALLED, Status.ERROR):
        return "bad"
    if status.startswith(Status.ROTATING) or status == Status.ROLLING_BACK:
        return "busy"
    if status in (Status.DRIFT, Status.WARNINGS):
        return "warn"
    if status == Status.IN_SYNC:
        return "ok"
    return "muted"


def port_cell(facts: Mapping[str, Any], *, short: bool = False) -> str:
    """``"desired"``, a shortened fingerprint (``short``: 12 hex digits without ``sha256:``), or how the look
    ended (``"refused"``)."""
    if facts.get("fingerprint"):
        if facts.get("matchesDesired"):
            return "desired"
        fingerprint = str(facts["fingerprint"])
        return fingerprint.removeprefix("sha256:")[:12] + "…" if short else wording.fingerprint(fingerprint)
    return str(facts.get("outcome", "unknown")).replace("_", " ")


def header_parts(report: Report) -> list[str]:
    """``["live observation, 2026-12-01 08:00 UTC", "specs at revision 3f2a9b1c0d4e", "state sqlite:///…"]``."""
    mode = "live observation" if report.live else "offline, from the state"
    parts = [
        f"{mode}, {wording.when(report.generated_at)}",
        f"{report.specs_path} at revision {wording.fingerprint(report.revision)}",
    ]
    parts.append(f"state {report.state_url}" if report.state_url else "no state")
    if report.since is not None:
        parts.append(f"history since {wording.when(report.since)}")
    return parts


def header(report: Report) -> str:
    """The parts of :func:`header_parts` on one line."""
    return " · ".join(header_parts(report))


def observed(server: ServerReport, report: Report) -> str | None:
    """``"observed 2026-12-01 05:00 UTC (3 h ago, from the state)"`` — said when the observation is not fresh."""
    seen = server.seen
    if seen is None:
        return None
    if seen.live and report.live:
        return None
    age = report.generated_at - seen.observed_at
    return f"observed {wording.when(seen.observed_at)} ({wording.span(age)} ago, from the state)"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def summary(report: Report) -> str:
    """``"3 servers: 1 in sync, 1 with warnings, 1 with errors — exit code 1 (error)"``."""
    counts = report.counts()
    parts = [f"{counts['in_sync']} in sync"]
    if counts["warnings"]:
        parts.append(f"{counts['warnings']} with warnings")
    if counts["errors"]:
        parts.append(f"{counts['errors']} with errors")
    if report.spec_errors:
        parts.append(_plural(len(report.spec_errors), "spec error"))
    code = report.exit_code
    return f"{_plural(counts['servers'], 'server')}: {', '.join(parts)} — exit code {code} ({EXIT_MEANING[code]})"
