"""What every format says the same way: marks, port cells, the header and summary sentences."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.core import wording
from reconciler.core.drift import Severity
from reconciler.core.events import Event
from reconciler.report.model import History, Report, ServerReport, Status

__all__ = [
    "EVENTS_SHOWN",
    "EXIT_MEANING",
    "MARK",
    "event_title",
    "header",
    "header_parts",
    "history_of",
    "history_summary",
    "observed",
    "port_cell",
    "recent_events",
    "status_tone",
    "summary",
]

EVENTS_SHOWN = 20
"""Events per server that text and Markdown show with ``--since`` (JSON and HTML have all of them)."""

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


def domain_counts(server: ServerReport) -> list[tuple[str, str]]:
    """Per domain of the manager, ``(name, "1,500 eligible · 1,498 acknowledged · 2 at risk")`` — shown when the
    manager has several domains or one the spec names is not visible; empty otherwise."""
    seen = server.seen
    if seen is None or not seen.domains:
        return []
    missing = any(c.get("eligible") is None for c in seen.domains.values())
    if len(seen.domains) < 2 and not missing:
        return []
    out = []
    for name, counts in seen.domains.items():
        eligible, acked, at_risk = counts.get("eligible"), counts.get("acknowledged"), counts.get("at_risk")
        if eligible is None or acked is None:
            out.append((name, "not visible to the credentials, or not counted (DomainNotVisible)"))
        elif server.record is None or server.record.rollout_id is None:  # no change to acknowledge
            out.append((name, f"{wording.count(eligible)} eligible"))
        else:
            out.append(
                (
                    name,
                    f"{wording.count(eligible)} eligible · {wording.count(acked)} acknowledged · "
                    f"{wording.count(at_risk or 0)} at risk",
                )
            )
    return out


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


def history_of(server: ServerReport) -> History | None:
    """The server's ``--since`` history, or None when there is nothing to show (no events, no drift)."""
    history = server.history
    if history is None or (not history.events and history.drift_began is None):
        return None
    return history


def history_summary(history: History) -> str:
    """``"drift began 2026-11-28 08:00 UTC; 3 event(s) since 2026-11-24 08:00 UTC"``."""
    began = (
        f"drift began {wording.when(history.drift_began)}"
        if history.drift_began
        else "no drift in the event log"
    )
    return f"{began}; {len(history.events)} event(s) since {wording.when(history.cutoff)}"


def recent_events(history: History) -> tuple[int, tuple[Event, ...]]:
    """(how many earlier events are left out, the last :data:`EVENTS_SHOWN` events)."""
    events = history.events
    hidden = max(0, len(events) - EVENTS_SHOWN)
    return hidden, events[hidden:]


def event_title(event: Event) -> str:
    """``"transition in_sync → drifted"`` for a move, the event's kind (``"approval_needed"``) otherwise."""
    source, dest = event.from_phase, event.to_phase
    if source is None or dest is None or source is dest:
        return event.kind.value
    return f"{event.kind.value} {source.value} → {dest.value}"
