"""States built directly: a record standing in one stage of the procedure and a manager (:class:`World`) that shows
what a manager in that stage shows — no rollout driven up to it. A test then changes one fact and decides once.

::

    scene = at(Phase.WAITING_UNVERIFIED)          # soaked for 30 h, every client acknowledged
    scene.world.acknowledged = 1834               # … but 66 have not
    assert scene.decide().code is Code.CLIENTS_NOT_READY
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from reconciler.core.decide import Decision, decide
from reconciler.core.observation import PORT_NAMES, ServerObservation
from reconciler.core.procedure import PROCEDURE_VERSION, STANDARD, Phase, Procedure
from reconciler.core.procedure.given import Given
from reconciler.core.record import Approval, Facts, ListEvidence, RolloutRecord, Stall
from reconciler.core.spec import ManagedServer
from tests.support.manager import FAST, HTTP_LIST, NEW, OLD, World, hooked

__all__ = ["ROLLOUT", "Scene", "at"]

ROLLOUT = "r-20261201T080000Z-0a1b2c3d"
SOAKED = timedelta(hours=30)  # the change is this old when a scene is built: past the default minSoak of 24 h


@dataclass
class Scene:
    """A server standing in one stage: its spec, the manager as observed, and its record."""

    spec: ManagedServer
    world: World
    record: RolloutRecord
    revision: str = "rev-1"
    desired: str = NEW
    partners: dict[str, RolloutRecord] = field(default_factory=dict)
    procedure: Procedure = STANDARD

    def observe(self) -> ServerObservation:
        return self.world.observe(self.record)

    def given(self) -> Given:
        """The frozen input a decision on this scene reads (for asking the machine or a check directly)."""
        return Given(
            self.procedure,
            self.spec,
            self.desired,
            self.observe(),
            self.record,
            self.world.now,
            self.revision,
            tuning=FAST,
            partners=self.partners,
        )

    def decide(self, *, observe: bool = True, **options: Any) -> Decision:
        """One decision on this state (the record is not replaced: decide again to see the same state)."""
        options.setdefault("tuning", FAST)
        options.setdefault("partners", self.partners)
        options.setdefault("procedure", self.procedure)
        return decide(
            self.spec,
            self.desired,
            self.observe() if observe else None,
            self.record,
            now=self.world.now,
            spec_revision=self.revision,
            **options,
        )

    def then(self, decision: Decision) -> Scene:
        """The scene after ``decision`` was persisted (its record becomes the scene's)."""
        self.record = replace(decision.record, version=decision.record.version + 1)
        return self

    def approve(self, step: int, *, accept_at_risk: int | None = None) -> None:
        approval = Approval(
            step,
            "alice",
            "CAB-1234",
            self.world.now,
            self.record.rollout_id or ROLLOUT,
            self.record.target_fingerprint or NEW,
            accept_at_risk is not None,
            accept_at_risk,
        )
        self.record = replace(self.record, approvals=(*self.record.approvals, approval))

    def stall(self, code: str = "MaxSoakExceeded") -> None:
        stall = Stall(code, f"stalled: {code}", "a remedy", self.world.now)
        self.record = replace(self.record, phase=Phase.STALLED, stalled_from=self.record.phase, stall=stall)


_ORDER = [stage.phase for stage in STANDARD.steps]


def _past(phase: Phase, mark: Phase) -> bool:
    """``phase`` is ``mark`` or comes after it in the procedure."""
    return phase in _ORDER and _ORDER.index(phase) >= _ORDER.index(mark)


def at(
    phase: Phase, *, world: World | None = None, entered: timedelta = timedelta(hours=1), **spec: Any
) -> Scene:
    """A server that entered ``phase`` ``entered`` ago, everything before it done and observed as such.

    Steps 1-7 and their sub-steps, ``drifted`` (a rollout opened and held) and ``rolling_back`` (from step 3). Hooks
    everywhere unless the spec says otherwise; the managed groups show their management server list (set
    ``world.lists_shown`` to False for a manager that does not). The change times are :data:`SOAKED` old: waits are
    over unless the test moves them."""
    world = world or World()
    server = hooked(**spec)
    now, manager_time = world.now, world.manager_time
    where = phase if phase is not Phase.ROLLING_BACK else Phase.WAITING_UNVERIFIED

    def past(mark: Phase) -> bool:
        return _past(where, mark)

    on_at = served_at = off_at = (
        manager_time - SOAKED
    )  # the change of the stage the scene stands in is SOAKED old
    if past(Phase.RESTORING_ORIGINAL_LIST):
        served_at = on_at - timedelta(hours=30)
    if past(Phase.FETCHING_CERTIFICATE):
        off_at = served_at - timedelta(hours=30)
    # what the manager shows
    if past(Phase.SWITCHING_TO_HTTP_LIST):
        world.break_replication()
    for group in world.groups:
        if past(Phase.DISABLING_VERIFICATION) and not past(Phase.WAITING_VERIFIED):
            group.list_name = HTTP_LIST
        if past(Phase.WAITING_UNVERIFIED) and not past(Phase.RESTORING_ORIGINAL_LIST):
            group.flag, group.policy_time = False, off_at
        elif past(Phase.RESTORING_ORIGINAL_LIST):
            group.flag, group.policy_time = True, on_at
    if past(Phase.FETCHING_CERTIFICATE):
        world.install(NEW)
    switched = ListEvidence.READ_BACK if past(Phase.DISABLING_VERIFICATION) else None
    # what is remembered
    facts = Facts(
        original_fingerprints=dict.fromkeys(PORT_NAMES, OLD),
        partners=tuple(server.spec.replication.partners) if past(Phase.BREAKING_REPLICATION) else (),
        verification_before={g.id: True for g in world.groups} if past(Phase.WAITING_UNVERIFIED) else {},
        step_started_manager_time=manager_time - entered if past(Phase.BREAKING_REPLICATION) else None,
        verification_off_at=off_at if past(Phase.WAITING_UNVERIFIED) else None,
        verification_on_at=on_at if past(Phase.RESTORING_ORIGINAL_LIST) else None,
        certificate_changed_at=now - (manager_time - served_at) if past(Phase.FETCHING_CERTIFICATE) else None,
        certificate_served_at=served_at if past(Phase.FETCHING_CERTIFICATE) else None,
        list_switch=switched,
        list_switched_at=off_at - timedelta(minutes=5) if switched else None,
        list_restore=ListEvidence.READ_BACK if past(Phase.WAITING_VERIFIED) else None,
        list_restored_at=on_at if past(Phase.WAITING_VERIFIED) else None,
    )
    if phase is Phase.ROLLING_BACK:
        facts = replace(facts, rollback_reason="abort requested by eve (CAB said no): undoing steps 1-3")
    record = RolloutRecord(
        server=server.name,
        phase=phase,
        entered_at=now - entered,
        updated_at=now - entered,
        next_check_at=now,
        version=1,
        reason="built by tests.support.states",
        rollout_id=ROLLOUT,
        target_fingerprint=NEW,
        desired_fingerprint=NEW,
        spec_revision="rev-1",
        started_revision="rev-1",
        procedure_version=PROCEDURE_VERSION,
        started_at=now - timedelta(days=3),
        facts=facts,
    )
    return Scene(server, world, record)
