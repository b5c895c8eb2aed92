"""The report: per server, the findings of the drift chain plus the facts a reader needs to act on them.

Plain data, built by :mod:`reconciler.report.assemble` and turned into text, JSON, Markdown or HTML by the
renderers. :meth:`Report.to_json` is the documented ``--output json`` document (``schemaVersion`` 1).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from reconciler.core._storage import iso, iso_or_none
from reconciler.core.drift import EXIT_BY_SEVERITY, ClientsSeen, Finding, Reason, Seen, Severity, worst
from reconciler.core.events import Event
from reconciler.core.record import RolloutRecord
from reconciler.core.spec import ClientPolicy
from reconciler.specs import SpecIssue

__all__ = ["SCHEMA_VERSION", "TIMELINE_EVENTS", "History", "Report", "ServerReport", "Status"]

TIMELINE_EVENTS = 300
"""Recent events read per server to draw its rollout's timeline (HTML)."""

SCHEMA_VERSION = 1
"""Bumped only for incompatible changes of the JSON document (a key removed, renamed or retyped); new keys are
added without a bump. See docs/report.md."""


class Status:
    """The one-word state shown first for a server (worst wins)."""

    STALLED = "stalled"
    ERROR = "error"
    ROTATING = "rotating"
    ROLLING_BACK = "rolling back"
    DRIFT = "drift"
    WARNINGS = "in sync, warnings"
    IN_SYNC = "in sync"
    UNMANAGED = "unmanaged"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class History:
    """``--since``: when the current drift began, and the events of the period (oldest first)."""

    cutoff: datetime
    drift_began: datetime | None
    events: tuple[Event, ...]


@dataclass(frozen=True, slots=True)
class ServerReport:
    """One server. ``desired`` and ``served`` are JSON-ready certificate facts (see :mod:`reconciler.report.facts`)."""

    name: str
    findings: tuple[Finding, ...]
    desired: Mapping[str, Any]
    served: Mapping[str, Mapping[str, Any]]
    seen: Seen | None = None
    record: RolloutRecord | None = None
    managed: bool = True
    history: History | None = None
    timeline: tuple[Event, ...] = ()  # recent events of the server, for its rollout's timeline (HTML)
    policy: ClientPolicy | None = None  # spec.rollout.clients: the soaks the acknowledgement chart marks

    @property
    def reasons(self) -> frozenset[Reason]:
        return frozenset(f.reason for f in self.findings)

    @property
    def severity(self) -> Severity | None:
        return worst(self.findings)

    @property
    def in_sync(self) -> bool:
        """Every port presents the desired certificate and no rollout is under way (``InSync``)."""
        return Reason.IN_SYNC in self.reasons

    @property
    def exit_code(self) -> int:
        severity = self.severity
        return 0 if severity is None else EXIT_BY_SEVERITY[severity]

    @property
    def status(self) -> str:
        reasons, severity = self.reasons, self.severity
        if Reason.ROLLOUT_STALLED in reasons:
            return Status.STALLED
        if severity is Severity.ERROR:
            return Status.ERROR
        if Reason.ROLLOUT_IN_PROGRESS in reasons and self.record is not None:
            return f"{Status.ROTATING} {self.record.step}/7" if self.record.step else Status.ROLLING_BACK
        if not self.managed:
            return Status.UNMANAGED
        if reasons & {Reason.CERTIFICATE_MISMATCH, Reason.PARTIAL_ROLLOUT}:
            return Status.DRIFT
        if self.in_sync:
            return Status.WARNINGS if severity is Severity.WARNING else Status.IN_SYNC
        return Status.DRIFT if severity is Severity.WARNING else Status.UNKNOWN

    def to_json(self) -> dict[str, Any]:
        seen, record = self.seen, self.record
        entry: dict[str, Any] = {
            "name": self.name,
            "in_sync": self.in_sync,
            "findings": [finding_json(f) for f in self.findings],
            "desired": dict(self.desired),
            "served": {port: dict(facts) for port, facts in self.served.items()},
            # extras
            "status": self.status,
            "severity": None if self.severity is None else self.severity.value,
            "managed": self.managed,
            "observed_at": iso_or_none(seen.observed_at) if seen else None,
            "observed_live": seen.live if seen else None,
            "manager_time": iso_or_none(seen.manager_time) if seen else None,
            "observation_errors": list(seen.errors) if seen else [],
            "clients": None if seen is None or seen.clients is None else _clients_json(seen.clients),
            "rollout": None if record is None else _rollout_json(record),
            "domains": {} if seen is None else {name: dict(c) for name, c in seen.domains.items()},
        }
        if self.history is not None:
            entry["since"] = {
                "cutoff": iso(self.history.cutoff),
                "drift_began": iso_or_none(self.history.drift_began),
                "events": [event_json(e) for e in self.history.events],
            }
        return entry


@dataclass(frozen=True, slots=True)
class Report:
    """The whole report. ``spec_errors`` are the spec problems no server could be named for."""

    generated_at: datetime
    live: bool
    specs_path: str
    revision: str
    servers: tuple[ServerReport, ...]
    spec_errors: tuple[SpecIssue, ...] = ()
    state_url: str | None = None
    since: datetime | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    sites: Mapping[str, str] = field(default_factory=dict)  # server name → spec.server.site

    @property
    def shared_sites(self) -> bool:
        """Some site is served by several of the reported servers: the overviews show (and group by) the site."""
        values = [self.sites[s.name] for s in self.servers if s.name in self.sites]
        return len(values) != len(set(values))

    def site_of(self, name: str) -> str:
        return self.sites.get(name, "")

    @property
    def exit_code(self) -> int:
        """1 when any finding is an error or the specs have errors, else 2 when any is a warning, else 0."""
        codes = {s.exit_code for s in self.servers}
        if self.spec_errors or 1 in codes:
            return 1
        return 2 if 2 in codes else 0

    def counts(self) -> dict[str, int]:
        return {
            "servers": len(self.servers),
            "in_sync": sum(s.in_sync for s in self.servers),
            "errors": sum(s.severity is Severity.ERROR for s in self.servers),
            "warnings": sum(s.severity is Severity.WARNING for s in self.servers),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "schemaVersion": SCHEMA_VERSION,
            "generatedAt": iso(self.generated_at),
            "mode": "live" if self.live else "offline",
            "specs": {
                "path": self.specs_path,
                "revision": self.revision,
                "errors": [issue.to_json() for issue in self.spec_errors],
            },
            "state": self.state_url,
            "since": iso_or_none(self.since),
            "summary": {**self.counts(), "exitCode": self.exit_code},
            "notes": list(self.notes),
            "servers": [s.to_json() for s in self.servers],
        }


def finding_json(finding: Finding) -> dict[str, Any]:
    return {
        "reason": finding.reason.value,
        "severity": finding.severity.value,
        "message": finding.message,
        "since": iso_or_none(finding.since),
        "until": iso_or_none(finding.until),
    }


def event_json(event: Event) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": event.id, **event.to_storage()}
    del entry["server"]
    return entry


def _clients_json(clients: ClientsSeen) -> dict[str, Any]:
    return {
        "eligible": clients.eligible,
        "acknowledged": clients.acknowledged,
        "at_risk_count": clients.at_risk_count,
        "at_risk_names": list(clients.at_risk_names),
        "pending_online": clients.pending_online,
        "pending_offline": clients.pending_offline,
        "excluded_offline": clients.excluded_offline,
        "legacy_agents": clients.legacy_agents,
        "stopped_checking_in": clients.stopped_checking_in,
    }


def _rollout_json(record: RolloutRecord) -> dict[str, Any]:
    return {
        "phase": record.phase.value,
        "step": record.step,
        "rollout_id": record.rollout_id,
        "target_fingerprint": record.target_fingerprint,
        "reason": record.reason,
        "stalled": record.stalled,
        "remedy": record.stall.remedy if record.stall else None,
        "suspended": record.suspended,
        "started_at": iso_or_none(record.started_at),
        "entered_at": iso(record.entered_at),
        "updated_at": iso(record.updated_at),
        "next_check_at": iso(record.next_check_at),
    }
