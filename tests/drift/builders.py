"""Builders for the drift-check tables: a spec, what was seen, a record — each with defaults a test overrides."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from reconciler.core.drift import ClientsSeen, DriftInput, Finding, PortSeen, Reason, Seen, Severity
from reconciler.core.observation import PortOutcome as Outcome
from reconciler.core.observation import ServedCertificate
from reconciler.core.procedure import Phase
from reconciler.core.record import Facts, RolloutRecord, Stall
from reconciler.core.spec import ManagedServer

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
OLD = "sha256:" + "a1" * 32
NEW = "sha256:" + "b2" * 32
ROGUE = "sha256:" + "d4" * 32
PORTS = {"clients": 443, "console": 8443, "api": 8446}
SKEW = timedelta(minutes=3)  # the manager's clock runs 3 minutes ahead of the reconciler's


def make_spec(
    name: str = "sepm-east",
    *,
    partners: tuple[str, ...] = ("Site West",),
    mode: str = "enforce",
    approvals: tuple[int, ...] = (),
    window: dict[str, Any] | None = None,
    min_soak: str = "24h",
    expiry_warning: str = "30d",
    lists: dict[str, Any] | None = None,
) -> ManagedServer:
    rollout: dict[str, Any] = {"mode": mode, "approvals": list(approvals), "clients": {"minSoak": min_soak}}
    if window is not None:
        rollout["window"] = window
    if lists is not None:
        rollout["managementServerList"] = lists
    return ManagedServer.model_validate(
        {
            "apiVersion": "sepm-reconciler/v1",
            "kind": "ManagedServer",
            "metadata": {"name": name},
            "spec": {
                "server": {
                    "apiUrl": f"https://{name}.corp.example:8446/sepm/api/v1",
                    "site": "Site East",
                    "credentials": {"username": "admin", "password": {"env": "SEPM_PASSWORD"}},
                },
                "certificate": {"fingerprint": NEW, "expiryWarning": expiry_warning},
                "replication": {"partners": list(partners)},
                "rollout": rollout,
            },
        }
    )


def certificate(
    fingerprint: str, *, expires_in: timedelta = timedelta(days=365), cn: str = "sepm-east"
) -> ServedCertificate:
    return ServedCertificate(
        fingerprint=fingerprint,
        subject=f"CN={cn}.corp.example",
        issuer="CN=Corp Root CA",
        sans=(f"{cn}.corp.example",),
        serial="1a2b",
        not_before=NOW - timedelta(days=30),
        not_after=NOW + expires_in,
    )


def port(
    name: str,
    fingerprint: str | None = OLD,
    outcome: Outcome = Outcome.PRESENTED,
    *,
    expires_in: timedelta = timedelta(days=365),
    facts: bool = True,
    error: str | None = None,
) -> PortSeen:
    if outcome is not Outcome.PRESENTED:
        return PortSeen(name, PORTS[name], outcome, error=error or outcome.value.replace("_", " "))
    cert = certificate(fingerprint, expires_in=expires_in) if facts and fingerprint else None
    return PortSeen(name, PORTS[name], outcome, fingerprint, cert)


def ports(fingerprint: str = OLD, **overrides: PortSeen) -> tuple[PortSeen, ...]:
    """All three ports presenting ``fingerprint``, except those given by name."""
    return tuple(overrides.get(name, port(name, fingerprint)) for name in PORTS)


def clients(**overrides: Any) -> ClientsSeen:
    values: dict[str, Any] = {
        "change_time": None,
        "eligible": 1900,
        "acknowledged": 0,
        "at_risk_count": 1950,
        "at_risk_names": ("EAST-PC000001", "EAST-PC000002", "EAST-PC000003"),
        "pending_online": 1834,
        "pending_offline": 66,
        "excluded_offline": 50,
        "legacy_agents": 0,
        "stopped_checking_in": 0,
        "longest_unseen": timedelta(days=3),
    }
    values.update(overrides)
    return ClientsSeen(**values)


def seen(served: tuple[PortSeen, ...] | None = None, **overrides: Any) -> Seen:
    values: dict[str, Any] = {
        "observed_at": NOW,
        "live": True,
        "api_reachable": True,
        "api_version": "14.3.9816.7000",
        "manager_time": NOW + SKEW,
        "ports": ports() if served is None else served,
        "verification_on": 2,
        "verification_off": 0,
        "partners": {"Site West": "SUCCEEDED"},
        "clients": clients(),
    }
    values.update(overrides)
    return Seen(**values)


def record(phase: Phase = Phase.IN_SYNC, **overrides: Any) -> RolloutRecord:
    values: dict[str, Any] = {
        "server": "sepm-east",
        "phase": phase,
        "entered_at": NOW - timedelta(hours=2),
        "updated_at": NOW - timedelta(minutes=5),
        "next_check_at": NOW + timedelta(minutes=5),
        "reason": "in sync: every port presents sha256:b2b2b2b2b2b2…",
        "desired_fingerprint": NEW,
    }
    if phase not in (Phase.IN_SYNC, Phase.NEW):
        values.update(
            rollout_id="r-20261130T0600Z-1a2b3c4d",
            target_fingerprint=NEW,
            started_at=NOW - timedelta(days=1),
            procedure_version=1,
            reason=f"{phase.value}: waiting",
        )
    values.update(overrides)
    return RolloutRecord(**values)


def stalled(step_phase: Phase, code: str = "MaxSoakExceeded") -> RolloutRecord:
    return record(
        Phase.STALLED,
        stalled_from=step_phase,
        stall=Stall(
            code,
            "step 3: clients did not acknowledge within maxSoak",
            "raise maxSoak",
            NOW - timedelta(hours=1),
        ),
    )


def facts(**values: Any) -> Facts:
    return Facts(**values)


def given(**overrides: Any) -> DriftInput:
    """A managed server in sync by default: spec, desired NEW, every port presenting NEW, record in sync."""
    values: dict[str, Any] = {
        "name": "sepm-east",
        "now": NOW,
        "spec": make_spec(),
        "desired": NEW,
        "seen": seen(ports(NEW)),
        "record": record(),
    }
    values.update(overrides)
    return DriftInput(**values)


def with_seen(base: DriftInput, **overrides: Any) -> DriftInput:
    assert base.seen is not None
    return replace(base, seen=replace(base.seen, **overrides))


def check_findings(
    findings: list[Finding], expected: list[tuple[Reason, Severity]], fragments: tuple[str, ...]
) -> None:
    """``findings`` are exactly ``expected`` (reason, severity), in order, and their messages say every fragment."""
    assert [(f.reason, f.severity) for f in findings] == expected
    text = " | ".join(f.message for f in findings)
    for fragment in fragments:
        assert fragment in text, f"{fragment!r} not in {text!r}"
