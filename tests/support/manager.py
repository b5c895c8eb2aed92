"""Builders for pure decision tests: specs, a scriptable manager (:class:`World`) and a tick driver.

``World`` stands for one SEPM manager as the adapter would observe it: the certificate each port presents, the
client groups with their verification flag and policy time, the replication partners, and how many clients have
acknowledged our change. ``World.apply`` plays the effect an action would have on a real manager (the PATCH takes
effect and bumps the policy time; a hook installs the certificate…). Nothing of the reconciler is replaced: the
decisions under test are the real ``decide``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from reconciler.core.actions import (
    Action,
    BreakReplication,
    Performer,
    ReplicateNow,
    RestoreOriginalList,
    RestoreReplication,
    SetVerification,
    SwitchToHttpList,
    UpdateCertificate,
)
from reconciler.core.attempts import AttemptKey, complete_attempt
from reconciler.core.decide import Decision, Tuning, decide
from reconciler.core.events import Event
from reconciler.core.observation import (
    PORT_NAMES,
    AtRiskClient,
    Basis,
    ClientAcknowledgement,
    GroupObservation,
    PortObservation,
    PortOutcome,
    ReplicationObservation,
    ReplicationPartner,
    ServedCertificate,
    ServerObservation,
)
from reconciler.core.orphans import SwapAnalysis
from reconciler.core.procedure import STANDARD, Phase, Procedure
from reconciler.core.record import RolloutRecord
from reconciler.core.spec import ManagedServer

OLD = "sha256:" + "a1" * 32
NEW = "sha256:" + "b2" * 32
NEWER = "sha256:" + "c3" * 32
ROGUE = "sha256:" + "d4" * 32
T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
FAST = Tuning(
    active_interval=timedelta(seconds=30),
    waiting_interval=timedelta(minutes=5),
    idle_interval=timedelta(hours=1),
    after_move=timedelta(seconds=1),
    api_timeout=timedelta(minutes=2),
    api_max_attempts=3,
    effect_grace=timedelta(minutes=5),
    retry_base=timedelta(minutes=5),
    retry_max=timedelta(hours=1),
)

PORTS = {"clients": 443, "console": 8443, "api": 8446}
ORIGINAL_LIST = "Default Management Server List"
HTTP_LIST = "Default Management Server List (HTTP)"
LISTS: dict[str, Any] = {"http": HTTP_LIST, "original": ORIGINAL_LIST}


def hook(timeout: str = "30m", max_attempts: int = 3) -> dict[str, Any]:
    return {"command": ["/opt/hooks/sepm-step", "--verbose"], "timeout": timeout, "maxAttempts": max_attempts}


def make_spec(
    name: str = "sepm-east-01",
    *,
    site: str = "Site East",
    partners: tuple[str, ...] = ("Site West",),
    mode: str = "enforce",
    approvals: tuple[int, ...] = (),
    window: dict[str, Any] | None = None,
    break_replication: Any = "manual",
    update_certificate: Any = "manual",
    restore_replication: Any = "manual",
    min_ack_ratio: float = 1.0,
    min_soak: str = "24h",
    max_soak: str = "14d",
    groups: tuple[str, ...] = (),
    keystore: str | None = "/run/secrets/sepm-east-01.p12",
    switch_to_http_list: Any = "manual",
    restore_original_list: Any = "manual",
    lists: dict[str, Any] | None = LISTS,
    after_swap: dict[str, Any] | None = None,
) -> ManagedServer:
    certificate: dict[str, Any] = {"fingerprint": NEW}
    if keystore:
        certificate["keystore"] = {"file": keystore, "password": {"env": "P12_PASSWORD"}}
    rollout: dict[str, Any] = {
        "mode": mode,
        "approvals": list(approvals),
        "clients": {
            "groups": list(groups),
            "minAckRatio": min_ack_ratio,
            "minSoak": min_soak,
            "maxSoak": max_soak,
            "excludeOfflineFor": "7d",
            **({"afterSwap": after_swap} if after_swap is not None else {}),
        },
        "actions": {
            "breakReplication": break_replication,
            "switchToHttpList": switch_to_http_list,
            "updateCertificate": update_certificate,
            "restoreOriginalList": restore_original_list,
            "restoreReplication": restore_replication,
        },
    }
    if lists is not None:
        rollout["managementServerList"] = lists
    if window is not None:
        rollout["window"] = window
    return ManagedServer.model_validate(
        {
            "apiVersion": "sepm-reconciler/v1",
            "kind": "ManagedServer",
            "metadata": {"name": name},
            "spec": {
                "server": {
                    "apiUrl": f"https://{name}.corp.example:8446/sepm/api/v1",
                    "site": site,
                    "credentials": {"username": "admin", "password": {"env": "SEPM_PASSWORD"}},
                },
                "certificate": certificate,
                "replication": {"partners": list(partners)},
                "rollout": rollout,
            },
        }
    )


def certificate(fingerprint: str) -> ServedCertificate:
    return ServedCertificate(
        fingerprint=fingerprint,
        subject="CN=sepm-east-01.corp.example",
        issuer="CN=Corp Root CA",
        sans=("sepm-east-01.corp.example",),
        serial="1a2b",
        not_before=T0 - timedelta(days=30),
        not_after=T0 + timedelta(days=365),
    )


@dataclass
class Group:
    id: str
    path: str
    flag: bool | None = True
    policy_time: datetime = T0 - timedelta(days=40)
    managed: bool = True
    location_id: str | None = "loc-default"
    list_name: str = ORIGINAL_LIST


@dataclass
class World:
    """One manager as observed. Mutate it between ticks; ``observe`` builds the snapshot for a record."""

    name: str = "sepm-east-01"
    site: str = "Site East"
    now: datetime = T0
    manager_skew: timedelta = timedelta(minutes=3)  # the manager's clock runs 3 minutes ahead
    served: dict[str, str | None] = field(default_factory=lambda: dict.fromkeys(PORT_NAMES, OLD))
    outcomes: dict[str, PortOutcome] = field(default_factory=dict)
    api_reachable: bool = True
    api_error: str | None = (
        None  # the REST API answered ``version`` but could not be used (credentials refused…)
    )
    partners: dict[str, ReplicationPartner] = field(
        default_factory=lambda: {
            "Site West": ReplicationPartner(
                "Site West", "SUCCEEDED", last_successful_run_time=T0 - timedelta(hours=1)
            )
        }
    )
    groups: list[Group] = field(
        default_factory=lambda: [Group("g-root", "My Company"), Group("g-laptops", "My Company\\Laptops")]
    )
    eligible: int = 1900
    acknowledged: int | None = None  # None: everyone eligible acknowledged
    pending_offline: int = 0
    excluded_offline: int = 0
    longest_unseen: timedelta | None = None
    stopped_checking_in: tuple[str, ...] = ()
    unknown: set[str] = field(
        default_factory=set
    )  # "groups", "replication", "clients", "manager_time", "ports"
    ack_time_override: datetime | None = None
    list_at_risk: bool = False  # list every client at risk by name (laptop-0000…) with its last check-in
    swap: SwapAnalysis | None = None  # what the adapter's orphan detection reports after a swap
    # the canary analysis over every client after a swap (None: a cohort of ``eligible`` that all came back)
    canary: SwapAnalysis | None = None
    lists_shown: bool = True  # the settings show each group's management server list
    version: str = "14.3.10000"

    @property
    def manager_time(self) -> datetime:
        return self.now + self.manager_skew

    def advance(self, delta: timedelta) -> None:
        self.now += delta

    def observe(self, record: RolloutRecord | None) -> ServerObservation:
        ports = {}
        for name in PORT_NAMES:
            outcome = self.outcomes.get(name, PortOutcome.PRESENTED)
            fp = self.served.get(name)
            ports[name] = PortObservation(
                name=name,
                port=PORTS[name],
                outcome=outcome,
                certificate=certificate(fp) if fp and outcome is PortOutcome.PRESENTED else None,
                error=None if outcome is PortOutcome.PRESENTED else "connection refused",
            )
        since = record.acknowledgement_since if record else None
        policy = STANDARD.acknowledging(record) if record else None
        acked = self.eligible if self.acknowledged is None else self.acknowledged
        if since is None:
            acked = 0
        not_yet = self.eligible - acked
        clients = ClientAcknowledgement(
            change_time=self.ack_time_override or since,
            total=self.eligible + self.excluded_offline,
            eligible=self.eligible,
            acknowledged=acked,
            pending_online=max(0, not_yet - self.pending_offline),
            pending_offline=min(self.pending_offline, not_yet),
            excluded_offline=self.excluded_offline,
            at_risk_count=not_yet + self.excluded_offline,
            at_risk_names=tuple(f"laptop-{i:04d}" for i in range(min(3, not_yet + self.excluded_offline))),
            longest_unseen=self.longest_unseen,
            stopped_checking_in=self.stopped_checking_in,
            at_risk_clients=tuple(
                AtRiskClient(f"laptop-{i:04d}", self.manager_time - timedelta(days=3), False)
                for i in range(not_yet + self.excluded_offline)
            )
            if self.list_at_risk
            else (),
            swap=self.swap,
            basis=policy.basis if policy is not None else Basis.POLICY,
        )
        return ServerObservation(
            server=self.name,
            observed_at=self.now,
            api_reachable=self.api_reachable,
            api_version=self.version if self.api_reachable else None,
            manager_time=None if "manager_time" in self.unknown else self.manager_time,
            ports={} if "ports" in self.unknown else ports,
            replication=None
            if "replication" in self.unknown
            else ReplicationObservation(
                site_name=self.site, is_replicated=bool(self.partners), partners=tuple(self.partners.values())
            ),
            groups=None
            if "groups" in self.unknown
            else tuple(
                GroupObservation(
                    id=g.id,
                    full_path_name=g.path,
                    inherits=False,
                    managed=g.managed,
                    secure_communications=g.flag,
                    policy_serial=None,
                    policy_time=g.policy_time,
                    location_id=g.location_id,
                    list_name=g.list_name if self.lists_shown else None,
                )
                for g in self.groups
            ),
            clients=None if "clients" in self.unknown else clients,
            api_error=self.api_error,
            canary=None if "clients" in self.unknown else self._canary(record),
        )

    def _canary(self, record: RolloutRecord | None) -> SwapAnalysis | None:
        if self.canary is not None:
            return self.canary
        seen = record.facts.swap_seen if record is not None else None
        if seen is None:
            return None
        # the spec's defaults: a heartbeat of 5 minutes, 3 heartbeats to come back
        back = self.manager_time >= seen + timedelta(minutes=15)
        return SwapAnalysis(
            swap_seen=seen,
            return_by=seen + timedelta(minutes=15),
            cohort=self.eligible,
            returned=self.eligible if back else 0,
            awaited=0 if back else self.eligible,
            silent=0,
        )

    # --- what actions do to a manager -------------------------------------------------------------------------------

    def set_verification(self, enabled: bool, group_ids: set[str] | None = None) -> None:
        for g in self.groups:
            if group_ids is None or g.id in group_ids:
                g.flag = enabled
                g.policy_time = self.manager_time

    def assign_list(self, name: str) -> None:
        """A list assigned to every group and location: a policy save where it changed."""
        for g in self.groups:
            if g.list_name != name:
                g.list_name = name
                g.policy_time = self.manager_time

    def break_replication(self) -> None:
        self.partners.clear()

    def restore_replication(self, *names: str) -> None:
        for name in names:
            self.partners[name] = ReplicationPartner(name, "NEVER_REPLICATED")

    def replicate(self, name: str, status: str = "SUCCEEDED") -> None:
        self.partners[name] = ReplicationPartner(
            name,
            status,
            last_run_time=self.manager_time,
            last_successful_run_time=self.manager_time
            if status == "SUCCEEDED"
            else self.partners[name].last_successful_run_time,
        )

    def install(self, fingerprint: str, ports: tuple[str, ...] = PORT_NAMES) -> None:
        for port in ports:
            self.served[port] = fingerprint

    def apply(self, action: Action) -> None:
        """The effect of ``action`` on this manager, as a working hook, operator or API call would produce it."""
        match action:
            case SetVerification(enabled=enabled, groups=groups):
                self.set_verification(enabled, {g.id for g in groups})
            case BreakReplication():
                self.break_replication()
            case SwitchToHttpList(list_name=name) | RestoreOriginalList(list_name=name):
                self.assign_list(name)
            case RestoreReplication(partners=partners):
                self.restore_replication(*partners)
            case ReplicateNow(partner=partner):
                self.replicate(partner)
            case UpdateCertificate(fingerprint=fingerprint):
                self.install(fingerprint)


@dataclass
class Driver:
    """Ticks ``decide`` like the engine would: persist, act (optionally), record the result."""

    spec: ManagedServer
    world: World
    record: RolloutRecord | None = None
    desired: str = NEW
    revision: str = "rev-1"
    tuning: Tuning = FAST
    partners: dict[str, RolloutRecord] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    procedure: Procedure = STANDARD
    alive: frozenset[AttemptKey] = frozenset()  # attempts whose hook process group is seen running
    others: dict[str, RolloutRecord] = field(default_factory=dict)  # the other managed servers' records

    def decide(self, *, observation_error: str | None = None, observe: bool = True) -> Decision:
        observation = self.world.observe(self.record) if observe else None
        decision = decide(
            self.spec,
            self.desired,
            observation,
            self.record,
            now=self.world.now,
            spec_revision=self.revision,
            partners=self.partners,
            tuning=self.tuning,
            observation_error=observation_error,
            procedure=self.procedure,
            alive=self.alive,
            others=self.others,
        )
        self.record = replace(decision.record, version=decision.record.version + 1)
        self.events.extend(decision.events)
        self.decisions.append(decision)
        return decision

    def tick(self, *, effect: bool = True, succeeded: bool = True, exit_code: int | None = None) -> Decision:
        """decide, then carry out a hook/API action: ``effect`` says whether it works on the manager,
        ``succeeded`` what it reports. Manual actions are left to the test (the operator)."""
        decision = self.decide()
        action = decision.action
        if action is not None and action.performer is not Performer.MANUAL:
            if effect:
                self.world.apply(action)
            if exit_code is None and action.performer is Performer.COMMAND:
                exit_code = 0 if succeeded else 1
            assert self.record is not None
            record, event = complete_attempt(
                self.record, action, now=self.world.now, succeeded=succeeded, exit_code=exit_code
            )
            self.record = replace(record, version=record.version + 1)
            self.events.append(event)
        return decision

    def run_until(
        self, phase: Phase, *, step: timedelta = timedelta(minutes=1), limit: int = 200
    ) -> Decision:
        """Tick (advancing the clock by ``step`` between ticks) until the record reaches ``phase``."""
        for _ in range(limit):
            decision = self.tick()
            if decision.phase is phase:
                return decision
            self.world.advance(step)
        raise AssertionError(f"did not reach {phase} in {limit} ticks; last: {self.decisions[-1].reason}")

    @property
    def phases(self) -> list[Phase]:
        return [d.phase for d in self.decisions]


def hooked(**kwargs: Any) -> ManagedServer:
    """A spec whose steps 1, 2a, 4a, 5b and 7 run hooks (so a Driver can run a whole rollout unattended)."""
    kwargs.setdefault("break_replication", hook())
    kwargs.setdefault("switch_to_http_list", hook())
    kwargs.setdefault("update_certificate", hook())
    kwargs.setdefault("restore_original_list", hook())
    kwargs.setdefault("restore_replication", hook())
    return make_spec(**kwargs)
