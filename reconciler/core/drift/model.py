"""The vocabulary of drift findings: stable reason codes, severities, the finding itself, and the exit-code rule."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType

__all__ = ["EXIT_BY_SEVERITY", "SEVERITY_ORDER", "Finding", "Reason", "Severity", "exit_code", "worst"]


class Reason(StrEnum):
    """Stable machine reasons (scripts and dashboards match on them). Never rename one; add new ones."""

    IN_SYNC = "InSync"
    CERTIFICATE_MISMATCH = "CertificateMismatch"
    PARTIAL_ROLLOUT = "PartialRollout"
    UNREACHABLE = "Unreachable"
    HANDSHAKE_FAILED = "HandshakeFailed"
    EXPIRED = "Expired"
    EXPIRING_SOON = "ExpiringSoon"
    ROLLOUT_MUST_START_BY = "RolloutMustStartBy"
    VERIFICATION_DISABLED = "VerificationDisabled"
    REPLICATION_BROKEN = "ReplicationBroken"
    ROLLOUT_IN_PROGRESS = "RolloutInProgress"
    ROLLOUT_STALLED = "RolloutStalled"
    AT_RISK_CLIENTS = "AtRiskClients"
    SUSPECTED_ORPHANS = "SuspectedOrphans"
    LEGACY_AGENTS = "LegacyAgents"
    LIST_SWITCH_SKIPPED = "ListSwitchSkipped"
    DUPLICATE_LIST = "DuplicateManagementServerList"
    UNMANAGED_SERVER = "UnmanagedServer"
    SPEC_INVALID = "SpecInvalid"


class Severity(StrEnum):
    """How a finding weighs on the exit code (see :data:`EXIT_BY_SEVERITY`).

    * ``error`` — broken, unknown, or a human must act now (unreachable, expired, stalled, invalid spec);
    * ``warning`` — not where the spec wants it yet, or will break if nobody acts (drift, a rollout in progress,
      expiring soon, clients at risk);
    * ``info`` — worth knowing, nothing to do (in sync, verification off because a rollout turned it off).
    """

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


SEVERITY_ORDER: Mapping[Severity, int] = MappingProxyType(
    {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}
)
"""Worst first: the order findings are listed in."""

EXIT_BY_SEVERITY: Mapping[Severity, int] = MappingProxyType(
    {Severity.ERROR: 1, Severity.WARNING: 2, Severity.INFO: 0}
)
"""The exit-code contract of ``sepm-reconciler report``: the worst finding decides (error 1 beats warning 2 beats
info 0). 0 therefore means every server is in sync with nothing to do; 2 drift or a rollout in progress; 1 an error,
including an unreachable manager."""


@dataclass(frozen=True, slots=True)
class Finding:
    """One named check's result about one server. ``message`` is for people and never contains a secret.

    ``since`` is when the condition began and ``until`` the deadline or end it is measured against (an expiry, the
    latest start of a rollout, the end of a soak), when known — both on the reconciler's clock.
    """

    reason: Reason
    severity: Severity
    message: str
    since: datetime | None = None
    until: datetime | None = None


def worst(findings: Iterable[Finding]) -> Severity | None:
    """The most severe severity among ``findings`` (None when there are none)."""
    severities = [f.severity for f in findings]
    return min(severities, key=SEVERITY_ORDER.__getitem__) if severities else None


def exit_code(findings: Iterable[Finding]) -> int:
    """0, 1 or 2 by :data:`EXIT_BY_SEVERITY`; no finding at all is 0."""
    severity = worst(findings)
    return 0 if severity is None else EXIT_BY_SEVERITY[severity]
