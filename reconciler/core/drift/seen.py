"""What the checks look at: one manager as last seen — live (a ``ServerObservation``) or remembered (the record's
``ObservedSummary``, for ``report --offline``). The remembered form knows less (no group names, no per-client
detail; certificate facts and the legacy-agent count only in records written since 0.1.0): those fields are None or
empty there, and the checks that need them stay silent."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from reconciler.core.observation import PORT_NAMES, PortOutcome, ServedCertificate, ServerObservation
from reconciler.core.observed import ObservedSummary
from reconciler.core.spec import ManagedServer

__all__ = ["ClientsSeen", "PortSeen", "Seen"]

_API = "api: "  # the observation's errors about the REST API as a whole ("api version: …" is another part)


@dataclass(frozen=True, slots=True)
class PortSeen:
    """One TLS port. ``outcome`` None: not observed at all; ``certificate`` None offline (only its fingerprint is
    remembered) or when nothing was presented."""

    name: str
    port: int | None
    outcome: PortOutcome | None
    fingerprint: str | None = None
    certificate: ServedCertificate | None = None
    error: str | None = None

    @property
    def presented(self) -> bool:
        return self.outcome is PortOutcome.PRESENTED and self.fingerprint is not None

    def label(self) -> str:
        """``"clients port 443"``."""
        return f"{self.name} port {self.port}" if self.port is not None else f"{self.name} port"


@dataclass(frozen=True, slots=True)
class ClientsSeen:
    """Client acknowledgement (see :class:`~reconciler.core.observation.ClientAcknowledgement`); None = unknown."""

    change_time: datetime | None
    eligible: int
    acknowledged: int
    at_risk_count: int
    at_risk_names: tuple[str, ...] = ()
    pending_online: int | None = None
    pending_offline: int | None = None
    excluded_offline: int | None = None
    legacy_agents: int | None = None
    stopped_checking_in: int | None = None
    stopped_names: tuple[str, ...] = ()
    longest_unseen: timedelta | None = None
    suspected_orphans: int | None = None  # after a swap: silent since it, probably orphaned
    suspected_names: tuple[str, ...] = ()

    @property
    def total(self) -> int | None:
        return None if self.excluded_offline is None else self.eligible + self.excluded_offline


@dataclass(frozen=True, slots=True)
class Seen:
    """One manager as seen at ``observed_at`` (reconciler clock); ``live`` False when read back from the store."""

    observed_at: datetime
    live: bool
    api_reachable: bool
    api_error: str | None = None  # why the REST API could not be used although it answered (login refused…)
    api_version: str | None = None
    manager_time: datetime | None = None
    ports: tuple[PortSeen, ...] = ()
    verification_on: int | None = None  # managed groups reading on
    verification_off: int | None = None  # managed groups reading off
    groups_off: tuple[str, ...] = ()  # their paths (live only)
    off_unchanged_since: datetime | None = None  # (manager) oldest last policy change among them (live only)
    partners: Mapping[str, str | None] | None = None  # replication partner site → status code; None = unknown
    clients: ClientsSeen | None = None
    errors: tuple[str, ...] = field(default_factory=tuple)
    group_lists: Mapping[str, str | None] = field(
        default_factory=dict
    )  # managed group → list it reads (None: hidden)
    # per counted domain {"eligible", "acknowledged", "at_risk"} (a named domain not visible: None counts)
    domains: Mapping[str, Mapping[str, int | None]] = field(default_factory=dict)

    def port(self, name: str) -> PortSeen | None:
        return next((p for p in self.ports if p.name == name), None)

    def presented(self) -> dict[str, str]:
        """``{port name: fingerprint}`` of the ports that completed a handshake."""
        return {p.name: p.fingerprint for p in self.ports if p.presented and p.fingerprint is not None}

    @classmethod
    def from_observation(cls, obs: ServerObservation, spec: ManagedServer | None = None) -> Seen:
        numbers = _port_numbers(spec)
        ports = []
        for name in _port_order(spec, obs.ports):
            port = obs.ports.get(name)
            if port is None:
                ports.append(PortSeen(name, numbers.get(name), None, error="not observed"))
            else:
                ports.append(
                    PortSeen(name, port.port, port.outcome, port.fingerprint, port.certificate, port.error)
                )
        groups = obs.managed_groups if obs.groups is not None else None
        off = tuple(g for g in groups or () if g.secure_communications is False)
        off_times = [g.policy_time for g in off if g.policy_time is not None]
        ack = obs.clients
        clients = None
        if ack is not None:
            clients = ClientsSeen(
                change_time=ack.change_time,
                eligible=ack.eligible,
                acknowledged=ack.acknowledged,
                at_risk_count=ack.at_risk_count,
                at_risk_names=ack.at_risk_names,
                pending_online=ack.pending_online,
                pending_offline=ack.pending_offline,
                excluded_offline=ack.excluded_offline,
                legacy_agents=ack.legacy_agents,
                stopped_checking_in=max(ack.stopped_checking_in_count, len(ack.stopped_checking_in)),
                stopped_names=ack.stopped_checking_in,
                longest_unseen=ack.longest_unseen,
                suspected_orphans=None if ack.swap is None else ack.swap.silent,
                suspected_names=() if ack.swap is None else ack.swap.silent_names,
            )
        replication = obs.replication
        return cls(
            observed_at=obs.observed_at,
            live=True,
            api_reachable=obs.api_reachable,
            api_error=_api_error(obs.errors),
            api_version=obs.api_version,
            manager_time=obs.manager_time,
            ports=tuple(ports),
            verification_on=None if groups is None else sum(g.secure_communications is True for g in groups),
            verification_off=None if groups is None else len(off),
            groups_off=tuple(g.full_path_name for g in off),
            off_unchanged_since=min(off_times) if off_times and len(off_times) == len(off) else None,
            partners=None if replication is None else {p.name: p.status_code for p in replication.partners},
            clients=clients,
            errors=obs.errors,
            group_lists={g.full_path_name: g.list_name for g in groups or ()},
            domains=_domains(
                {
                    d.name: {"eligible": d.eligible, "acknowledged": d.acknowledged, "at_risk": d.at_risk}
                    for d in obs.domains or ()
                    if d.counted
                },
                obs.domains_missing,
            ),
        )

    @classmethod
    def from_summary(cls, summary: ObservedSummary, spec: ManagedServer | None = None) -> Seen:
        numbers = _port_numbers(spec)
        ports = []
        for name in _port_order(spec, {**summary.port_outcomes, **summary.fingerprints}):
            raw = summary.port_outcomes.get(name)
            try:
                outcome = PortOutcome(raw) if raw is not None else None
            except ValueError:
                outcome = None
            fingerprint = summary.fingerprints.get(name)
            ports.append(
                PortSeen(
                    name,
                    numbers.get(name),
                    outcome,
                    fingerprint if outcome is PortOutcome.PRESENTED else None,
                    summary.certificates.get(name) if outcome is PortOutcome.PRESENTED else None,
                    error=None if outcome is not None else "not observed",
                )
            )
        clients = None
        if summary.eligible is not None and summary.acknowledged is not None:
            clients = ClientsSeen(
                change_time=None,
                eligible=summary.eligible,
                acknowledged=summary.acknowledged,
                at_risk_count=summary.at_risk_count or 0,
                at_risk_names=summary.at_risk_names,
                pending_offline=summary.pending_offline,
                excluded_offline=summary.excluded_offline,
                legacy_agents=summary.legacy_agents,
                stopped_checking_in=summary.stopped_checking_in,
                suspected_orphans=summary.suspected_orphans,
                suspected_names=summary.suspected_names,
            )
        replicated_known = summary.replicated is not None or bool(summary.partner_status)
        return cls(
            observed_at=summary.observed_at,
            live=False,
            api_reachable=summary.api_reachable,
            api_error=_api_error(summary.errors),
            manager_time=summary.manager_time,
            ports=tuple(ports),
            verification_on=summary.verification_on,
            verification_off=summary.verification_off,
            partners=dict(summary.partner_status) if replicated_known else None,
            clients=clients,
            errors=summary.errors,
            group_lists=dict(summary.group_lists),
            domains=_domains(summary.domains, summary.domains_missing),
        )


def _domains(
    counted: Mapping[str, Mapping[str, int | None]], missing: tuple[str, ...]
) -> dict[str, dict[str, int | None]]:
    out = {name: dict(counts) for name, counts in counted.items()}
    for name in missing:
        out.setdefault(name, {"eligible": None, "acknowledged": None, "at_risk": None})
    return out


def _api_error(errors: tuple[str, ...]) -> str | None:
    """Why the REST API could not be used: the observation's ``api: …`` error (a refused or failed login, a login
    answer without the manager's clock), without its prefix."""
    return next((e.removeprefix(_API) for e in errors if e.startswith(_API)), None)


def _port_numbers(spec: ManagedServer | None) -> dict[str, int]:
    return dict(spec.spec.server.ports.items()) if spec is not None else {}


def _port_order(spec: ManagedServer | None, observed: Mapping[str, object]) -> list[str]:
    """The spec's ports in their order; without a spec, the known port names seen, then any others."""
    if spec is not None:
        return [name for name, _ in spec.spec.server.ports.items()]
    known = [name for name in PORT_NAMES if name in observed]
    return known + sorted(name for name in observed if name not in PORT_NAMES)
