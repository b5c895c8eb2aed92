"""What was observed of one manager at one moment: an immutable snapshot, produced by :mod:`reconciler.sepm`.

``None`` always means *unknown* (could not be observed), never a guess. ``errors`` says what could not be observed
and why; ``api_error`` says, in one sentence, why the REST API could not be used at all (then only the ports were
observed). Times are timezone-aware UTC. ``manager_time`` is the manager's own clock (from ``serverTime``): soaks and
client acknowledgements are measured on it, not on the reconciler's clock.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from reconciler.core.orphans import NAMES_LIMIT, SwapAnalysis, merge_analyses

__all__ = [
    "AT_RISK_LISTED",
    "PORT_NAMES",
    "AtRiskClient",
    "Basis",
    "ClientAcknowledgement",
    "Counting",
    "DomainCounts",
    "GroupObservation",
    "PortObservation",
    "PortOutcome",
    "ReplicationObservation",
    "ReplicationPartner",
    "ServedCertificate",
    "ServerObservation",
    "merge_acknowledgements",
]

PORT_NAMES: tuple[str, ...] = ("clients", "console", "api")


class PortOutcome(StrEnum):
    """How a TLS handshake to one port ended. Each is a distinct, reportable outcome."""

    PRESENTED = "presented"  # handshake completed; ``certificate`` is the leaf the server presented
    REFUSED = "refused"  # connection refused (service down or restarting)
    TIMEOUT = "timeout"  # no answer in time
    HANDSHAKE_FAILED = "handshake_failed"  # TCP connected, TLS failed
    ERROR = "error"  # anything else (DNS failure, unreachable network…); see ``error``


@dataclass(frozen=True, slots=True)
class ServedCertificate:
    """Facts of a certificate as presented on a port (trusted or not: we must see a wrong certificate)."""

    fingerprint: str  # "sha256:" + 64 lowercase hex of the DER
    subject: str  # RFC 4514 string
    issuer: str
    sans: tuple[str, ...]  # DNS names and IP addresses, in certificate order
    serial: str  # hex
    not_before: datetime
    not_after: datetime


@dataclass(frozen=True, slots=True)
class PortObservation:
    name: str  # "clients" | "console" | "api"
    port: int
    outcome: PortOutcome
    certificate: ServedCertificate | None = None
    error: str | None = None  # human-readable detail for outcomes other than PRESENTED

    @property
    def fingerprint(self) -> str | None:
        return self.certificate.fingerprint if self.certificate else None


@dataclass(frozen=True, slots=True)
class ReplicationPartner:
    name: str  # the partner's site name
    status_code: str | None  # SUCCEEDED, FAILED_CONNECT, NEVER_REPLICATED, …
    last_run_time: datetime | None = None
    last_successful_run_time: datetime | None = None
    next_run_time: datetime | None = None


@dataclass(frozen=True, slots=True)
class ReplicationObservation:
    site_name: str | None
    is_replicated: bool | None
    partners: tuple[ReplicationPartner, ...] = ()

    def partner(self, site: str) -> ReplicationPartner | None:
        return next((p for p in self.partners if p.name == site), None)

    @property
    def partner_names(self) -> frozenset[str]:
        return frozenset(p.name for p in self.partners)


@dataclass(frozen=True, slots=True)
class GroupObservation:
    """A client group and its verification flag. ``managed`` groups are the ones the reconciler PATCHes."""

    id: str
    full_path_name: str  # e.g. "My Company\\Laptops"
    inherits: bool  # policyInheritanceEnabled
    managed: bool
    secure_communications: bool | None  # effective flag (resolved through inheritance); None = unknown
    policy_serial: str | None  # policySerialNumber, e.g. "718B-09/04/2023 12:56:58 775"
    policy_time: datetime | None  # the time parsed from the serial (GMT)
    location_id: str | None = None  # the location whose settings are PATCHed (the default location)
    domain: str | None = None
    list_name: str | None = (
        None  # the management server list its settings name (None: the manager does not show it)
    )


class Basis(StrEnum):
    """What counts as a client having a change (see :class:`Counting`)."""

    POLICY = "policy"  # it applied a policy whose serial time is at or after the change (profileSerialNo)
    CHECKIN = (
        "checkin"  # it checked in at or after the change (lastUpdateTime): it fetched what was served then
    )


@dataclass(frozen=True, slots=True)
class Counting:
    """What the adapter counts clients against now (the procedure table says, per stage): ``since`` (manager clock;
    None: no change of ours), by ``basis``; clients unseen for longer than ``exclude_offline_for`` are not waited
    for (None: the spec's ``excludeOfflineFor``); ``everyone_at_risk``: the list every client uses is unknown, so
    each one would be at risk if the certificate changed now, acknowledged or not."""

    since: datetime | None = None
    basis: Basis = Basis.POLICY
    exclude_offline_for: timedelta | None = None
    everyone_at_risk: bool = False


AT_RISK_LISTED = 5000
"""How many at-risk clients are listed by name with their last check-in (the rest are counted)."""


@dataclass(frozen=True, slots=True)
class AtRiskClient:
    """One client that would be orphaned if the certificate changed now: its name, its last check-in
    (``lastUpdateTime``, manager clock; None unknown) and whether it is online (None unknown)."""

    name: str
    last_seen: datetime | None = None
    online: bool | None = None


@dataclass(frozen=True, slots=True)
class ClientAcknowledgement:
    """How many clients applied a policy at or after ``change_time`` (manager clock).

    ``change_time`` None means no change of ours is in progress: ``acknowledged`` is then 0 and every eligible
    client is "not yet". Clients unseen for longer than ``excludeOfflineFor`` are not eligible (not waited for) and are
    counted in ``excluded_offline``; they are listed in ``at_risk_names``.

    ``at_risk`` are the clients that would be orphaned if the served certificate changed now: the not-yet-acknowledged
    clients (online and offline) plus the excluded ones, while verification may still be on for them (every client
    when ``Counting.everyone_at_risk``). ``basis`` says what "acknowledged" meant: a policy applied since
    ``change_time``, or a check-in since then.
    """

    change_time: datetime | None
    total: int
    eligible: int
    acknowledged: int
    pending_online: int
    pending_offline: int
    excluded_offline: int
    at_risk_count: int
    at_risk_names: tuple[str, ...] = ()  # first 100, sorted by name
    legacy_agents: int = 0  # clients on 14.2 / 14.2.1 (no multi-server shortcut)
    longest_unseen: timedelta | None = None  # among pending-offline and excluded clients
    stopped_checking_in: tuple[str, ...] = ()  # first 100 clients whose last check-in precedes change_time
    stopped_checking_in_count: int = 0  # all of them, not only the first 100
    at_risk_clients: tuple[
        AtRiskClient, ...
    ] = ()  # the first AT_RISK_LISTED at risk, by name, with last check-in
    basis: Basis = Basis.POLICY
    swap: SwapAnalysis | None = (
        None  # after a swap: its cohort, who returned, who is silent (probably orphaned)
    )

    @property
    def at_risk_listed(self) -> bool:
        """Every at-risk client is in ``at_risk_clients`` (so they can be told apart by name)."""
        return len(self.at_risk_clients) == self.at_risk_count

    @property
    def ratio(self) -> float:
        """acknowledged / eligible; 1.0 when nobody is eligible (nothing to wait for)."""
        return 1.0 if self.eligible == 0 else self.acknowledged / self.eligible


def merge_acknowledgements(parts: tuple[ClientAcknowledgement, ...]) -> ClientAcknowledgement | None:
    """One count of several domains' counts (made against the same change, by the same rules); None for none."""
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    first = parts[0]
    unseen = [p.longest_unseen for p in parts if p.longest_unseen is not None]
    swaps = tuple(p.swap for p in parts if p.swap is not None)
    return ClientAcknowledgement(
        change_time=first.change_time,
        total=sum(p.total for p in parts),
        eligible=sum(p.eligible for p in parts),
        acknowledged=sum(p.acknowledged for p in parts),
        pending_online=sum(p.pending_online for p in parts),
        pending_offline=sum(p.pending_offline for p in parts),
        excluded_offline=sum(p.excluded_offline for p in parts),
        at_risk_count=sum(p.at_risk_count for p in parts),
        at_risk_names=_first_names(p.at_risk_names for p in parts),
        legacy_agents=sum(p.legacy_agents for p in parts),
        longest_unseen=max(unseen) if unseen else None,
        stopped_checking_in=_first_names(p.stopped_checking_in for p in parts),
        stopped_checking_in_count=sum(p.stopped_checking_in_count for p in parts),
        at_risk_clients=tuple(
            heapq.nsmallest(
                AT_RISK_LISTED, (c for p in parts for c in p.at_risk_clients), key=lambda c: c.name
            )
        ),
        basis=first.basis,
        swap=merge_analyses(swaps),
    )


def _first_names(lists: Iterable[tuple[str, ...]]) -> tuple[str, ...]:
    return tuple(heapq.nsmallest(NAMES_LIMIT, (name for names in lists for name in names)))


@dataclass(frozen=True, slots=True)
class DomainCounts:
    """One domain of the manager and its clients' counts (None: not counted — a domain the spec does not name, or
    the clients could not be read)."""

    id: str
    name: str
    counted: bool  # rollout.clients.domains names it (``all``: every domain)
    eligible: int | None = None
    acknowledged: int | None = None
    at_risk: int | None = None


@dataclass(frozen=True, slots=True)
class ServerObservation:
    """One manager, observed at ``observed_at`` (reconciler clock)."""

    server: str  # metadata.name
    observed_at: datetime
    api_reachable: bool
    api_version: str | None = None
    manager_time: datetime | None = None
    ports: dict[str, PortObservation] = field(default_factory=dict)
    replication: ReplicationObservation | None = None
    groups: tuple[GroupObservation, ...] | None = None
    clients: ClientAcknowledgement | None = None
    errors: tuple[str, ...] = ()
    api_error: str | None = (
        None  # why the REST API could not be used (no answer, credentials refused, untrusted)
    )
    domains: tuple[DomainCounts, ...] | None = None  # every domain the credentials see (None: not read)
    domains_missing: tuple[str, ...] = ()  # named by rollout.clients.domains, not seen by the credentials
    canary: SwapAnalysis | None = None  # after a swap: every client of every domain seen, in scope or not

    def domain_visible(self, name: str) -> bool | None:
        """The credentials see the domain ``name`` (None: the domains could not be read)."""
        if self.domains is None:
            return None
        return any(d.name.casefold() == name.casefold() for d in self.domains)

    @property
    def api_usable(self) -> bool:
        """The REST API answered and accepted our credentials: what the API told us this time can be relied on."""
        return self.api_reachable and self.api_error is None

    def served_fingerprints(self) -> dict[str, str | None]:
        """``{"clients": fp|None, "console": fp|None, "api": fp|None}``."""
        return {name: (self.ports[name].fingerprint if name in self.ports else None) for name in PORT_NAMES}

    def all_ports_present(self, fingerprint: str) -> bool:
        """Every configured port completed a handshake presenting ``fingerprint``."""
        return bool(self.ports) and all(
            p.outcome is PortOutcome.PRESENTED and p.fingerprint == fingerprint for p in self.ports.values()
        )

    @property
    def managed_groups(self) -> tuple[GroupObservation, ...]:
        return tuple(g for g in (self.groups or ()) if g.managed)
