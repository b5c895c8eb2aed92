"""Pure readings of one observation, each returning facts or saying precisely what is unknown."""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.core import wording
from reconciler.core.actions import GroupTarget
from reconciler.core.observation import (
    GroupObservation,
    PortOutcome,
    ServerObservation,
)
from reconciler.core.observed import AckSample, ObservedSummary, thin
from reconciler.core.spec import ManagedServer

__all__ = [
    "GroupFlags",
    "Served",
    "group_flags",
    "observation_problem",
    "served",
    "summarize",
    "swap_refused",
]


@dataclass(frozen=True, slots=True)
class Served:
    """The fingerprint each configured port presented (None when it did not), and what went wrong where."""

    fingerprints: dict[str, str | None]
    problems: tuple[str, ...]

    @property
    def complete(self) -> bool:
        return not self.problems

    def all_are(self, fingerprint: str) -> bool:
        return self.complete and all(fp == fingerprint for fp in self.fingerprints.values())

    def presenting_other_than(self, *allowed: str | None) -> dict[str, str]:
        """Ports that presented a certificate outside ``allowed``."""
        return {
            name: fp for name, fp in self.fingerprints.items() if fp is not None and fp not in set(allowed)
        }

    def sentence(self) -> str:
        """``"clients port 443: refused; console port 8443: timeout"``."""
        return "; ".join(self.problems)


def served(spec: ManagedServer, obs: ServerObservation) -> Served:
    fingerprints: dict[str, str | None] = {}
    problems: list[str] = []
    for name, number in spec.spec.server.ports.items():
        port = obs.ports.get(name)
        if port is None:
            fingerprints[name] = None
            problems.append(f"{name} port {number}: not observed")
        elif port.outcome is PortOutcome.PRESENTED and port.fingerprint is not None:
            fingerprints[name] = port.fingerprint
        else:
            fingerprints[name] = None
            detail = f" ({port.error})" if port.error else ""
            problems.append(f"{name} port {number}: {port.outcome.value.replace('_', ' ')}{detail}")
    return Served(fingerprints, tuple(problems))


@dataclass(frozen=True, slots=True)
class GroupFlags:
    """The managed groups and their verification flags (``unknown`` when the groups could not be read)."""

    groups: tuple[GroupObservation, ...]
    unknown: str | None = None

    def reading(self, value: bool) -> tuple[GroupObservation, ...]:
        return tuple(g for g in self.groups if g.secure_communications is value)

    def not_reading(self, value: bool) -> tuple[GroupObservation, ...]:
        return tuple(g for g in self.groups if g.secure_communications is not value)

    def undetermined(self) -> tuple[GroupObservation, ...]:
        return tuple(g for g in self.groups if g.secure_communications is None)

    @staticmethod
    def names(groups: tuple[GroupObservation, ...]) -> str:
        return wording.names([g.full_path_name for g in groups])

    @staticmethod
    def targets(groups: tuple[GroupObservation, ...]) -> tuple[GroupTarget, ...]:
        return tuple(GroupTarget(g.id, g.full_path_name, g.location_id, g.domain) for g in groups)


def group_flags(obs: ServerObservation) -> GroupFlags:
    if obs.groups is None:
        return GroupFlags((), unknown="the client groups could not be read")
    return GroupFlags(obs.managed_groups)


def swap_refused(groups: tuple[GroupObservation, ...] | None) -> str | None:
    """Why the certificate swap must not start now, on the managed groups read right before it: they could not be
    read, or one verifies again (or its flag is unknown). None: every managed group reads off."""
    if groups is None:
        return "the client groups could not be read again right before the swap"
    managed = tuple(g for g in groups if g.managed)
    if not managed:
        return "no managed group was found right before the swap"
    verifying = [g.full_path_name for g in managed if g.secure_communications is not False]
    if verifying:
        return f"certificate verification reads on (or unknown) again for {wording.names(verifying)}"
    return None


def observation_problem(obs: ServerObservation | None) -> str | None:
    """Why this observation is not complete enough to rely on — nothing was observed, neither the API nor any
    port answered, or the REST API could not be used — or None. Such a manager is looked at again with a backoff."""
    if obs is None:
        return "nothing could be observed"
    if not obs.api_reachable and not any(p.outcome is PortOutcome.PRESENTED for p in obs.ports.values()):
        return "the manager cannot be reached"
    if obs.api_error is not None:
        return f"the SEPM REST API cannot be used: {obs.api_error}"
    return None


def _samples(obs: ServerObservation, previous: ObservedSummary | None) -> tuple[AckSample, ...]:
    """The acknowledgement samples so far plus this observation's, for the last two changes counted (steps 3 and
    6 of one rollout), thinned to :data:`SAMPLES_KEPT`."""
    kept = previous.acknowledgements if previous is not None else ()
    ack = obs.clients
    if ack is not None and ack.change_time is not None and obs.manager_time is not None:
        kept = (*kept, AckSample(ack.change_time, obs.manager_time, ack.acknowledged, ack.eligible))
    changes = list(dict.fromkeys(s.change for s in kept))[-2:]
    return thin(tuple(s for s in kept if s.change in changes))


def summarize(obs: ServerObservation, previous: ObservedSummary | None = None) -> ObservedSummary:
    """What ``status`` keeps of an observation (``previous``: the summary it replaces, whose acknowledgement
    samples carry on)."""
    groups = obs.managed_groups if obs.groups is not None else None
    ack = obs.clients
    replication = obs.replication
    return ObservedSummary(
        observed_at=obs.observed_at,
        api_reachable=obs.api_reachable,
        manager_time=obs.manager_time,
        fingerprints=obs.served_fingerprints(),
        port_outcomes={name: port.outcome.value for name, port in obs.ports.items()},
        verification_on=None if groups is None else sum(g.secure_communications is True for g in groups),
        verification_off=None if groups is None else sum(g.secure_communications is False for g in groups),
        replicated=None if replication is None else replication.is_replicated,
        partner_status={} if replication is None else {p.name: p.status_code for p in replication.partners},
        eligible=None if ack is None else ack.eligible,
        acknowledged=None if ack is None else ack.acknowledged,
        ack_ratio=None if ack is None else ack.ratio,
        at_risk_count=None if ack is None else ack.at_risk_count,
        at_risk_names=() if ack is None else ack.at_risk_names,  # the first 100, as observed
        pending_offline=None if ack is None else ack.pending_offline,
        excluded_offline=None if ack is None else ack.excluded_offline,
        stopped_checking_in=None
        if ack is None
        else max(ack.stopped_checking_in_count, len(ack.stopped_checking_in)),
        legacy_agents=None if ack is None else ack.legacy_agents,
        suspected_orphans=None if ack is None or ack.swap is None else ack.swap.silent,
        suspected_names=() if ack is None or ack.swap is None else ack.swap.silent_names,
        certificates={
            name: port.certificate for name, port in obs.ports.items() if port.certificate is not None
        },
        errors=obs.errors,
        at_risk_clients=() if ack is None else ack.at_risk_clients,
        acknowledgements=_samples(obs, previous),
        group_lists={} if groups is None else {g.full_path_name: g.list_name for g in groups},
        domains={
            d.name: {"eligible": d.eligible, "acknowledged": d.acknowledged, "at_risk": d.at_risk}
            for d in obs.domains or ()
            if d.counted
        },
        domains_missing=obs.domains_missing,
    )
