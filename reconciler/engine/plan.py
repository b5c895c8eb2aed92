"""``plan``: what the reconciler would do for a server, and what remains, with the earliest time for each step.

:func:`plan_server` runs the pure ``decide()`` on a gathered server *without* persisting anything, then lays out the
remaining steps on a timeline: the minimum soaks (on the manager's clock, converted to the reconciler's), the
maintenance window of step 4, and the approvals that are still missing. Times are *earliest*: they assume every
approval is given and every manual step is done the moment it may start, and that clients acknowledge in time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from reconciler.core import wording
from reconciler.core._storage import iso_or_none
from reconciler.core.decide import DEFAULT_TUNING, Decision, Tuning, decide
from reconciler.core.procedure import STEP_TITLES, Phase, step_of
from reconciler.core.record import RolloutRecord
from reconciler.core.spec import CommandAction, Mode, ServerSpec
from reconciler.core.window import describe, window_state
from reconciler.engine.gather import Gathered

__all__ = ["PlannedStep", "ServerPlan", "plan_server"]


@dataclass(frozen=True, slots=True)
class PlannedStep:
    """One step of the procedure as planned. ``status``: done, current, pending or stalled."""

    step: int
    title: str
    status: str
    by: str  # "hook", "manual", "API", "wait"
    does: str
    waits_for: str
    gates: tuple[str, ...] = ()
    earliest_start: datetime | None = None
    earliest_end: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "title": self.title,
            "status": self.status,
            "by": self.by,
            "does": self.does,
            "waits_for": self.waits_for,
            "gates": list(self.gates),
            "earliest_start": iso_or_none(self.earliest_start),
            "earliest_end": iso_or_none(self.earliest_end),
        }


@dataclass(frozen=True, slots=True)
class ServerPlan:
    """The plan of one server. ``changes``: something is pending or in progress; ``error``: it could not be fully
    observed or its spec cannot be used (the plan is then partial)."""

    name: str
    phase: Phase
    step: int
    in_sync: bool
    changes: bool
    reason: str
    desired: str | None
    served: dict[str, str | None]
    next_action: str | None = None
    remedy: str | None = None
    steps: tuple[PlannedStep, ...] = ()
    eta: datetime | None = None
    notes: tuple[str, ...] = ()
    error: str | None = None
    rollout_id: str | None = None
    record_phase: Phase | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "phase": self.phase.value,
            "step": self.step,
            "in_sync": self.in_sync,
            "changes": self.changes,
            "reason": self.reason,
            "remedy": self.remedy,
            "next_action": self.next_action,
            "desired_fingerprint": self.desired,
            "observed_fingerprints": dict(self.served),
            "recorded_phase": None if self.record_phase is None else self.record_phase.value,
            "rollout_id": self.rollout_id,
            "steps": [s.to_json() for s in self.steps],
            "eta": iso_or_none(self.eta),
            "notes": list(self.notes),
            "error": self.error,
        }


def _by(action: Any) -> str:
    return "hook" if isinstance(action, CommandAction) else "manual"


def _approval_gate(spec: ServerSpec, record: RolloutRecord, step: int, name: str) -> str | None:
    if step not in spec.rollout.approvals:
        return None
    if any(a.step == step for a in record.current_approvals()):
        return None
    return f"needs an approval: sepm-reconciler approve {name} --step {step} --by WHO --reason WHY"


def _soak_end(
    record: RolloutRecord, step: int, spec: ServerSpec, start: datetime, offset: timedelta
) -> datetime:
    """When the minimum soak of ``step`` (3 or 6) ends, on the reconciler's clock."""
    change = record.facts.verification_off_at if step == 3 else record.facts.verification_on_at
    if change is not None and record.step == step:
        return max(start, change + offset + spec.rollout.clients.min_soak)
    return start + spec.rollout.clients.min_soak


def _describe_step(step: int, spec: ServerSpec, name: str) -> tuple[str, str, str]:
    """(by, does, waits for) of ``step``."""
    partners = ", ".join(spec.replication.partners)
    actions = spec.rollout.actions
    policy = spec.rollout.clients
    wait = (
        f"minSoak {wording.span(policy.min_soak)} (manager clock) and ≥ {wording.percent(policy.min_ack_ratio)} of "
        f"eligible clients with the policy (maxSoak {wording.span(policy.max_soak)})"
    )
    if step == 1:
        if not partners:
            return "—", "nothing to break (no replication partner declared)", "nothing"
        return (
            _by(actions.break_replication),
            f"delete the replication partnership with {partners}",
            (f"{spec.server.site} no longer replicates with {partners} (observed)"),
        )
    if step == 2:
        return (
            "API",
            "PATCH secure_communications=false on the managed groups",
            ("every managed group reads back off with a new policy serial"),
        )
    if step == 3:
        return "wait", "nothing: clients pick up the policy without verification", wait
    if step == 4:
        return (
            _by(actions.update_certificate),
            "install the desired certificate, restart semsrv, semwebsrv, semapisrv",
            ("every port presents the desired certificate and the API answers"),
        )
    if step == 5:
        return (
            "API",
            "PATCH secure_communications=true on the managed groups",
            ("every managed group reads back on with a new policy serial"),
        )
    if step == 6:
        return "wait", "nothing: clients pick up the policy with verification", wait
    if not partners:
        return (
            "—",
            "nothing to restore (no replication partner declared)",
            "every port presents the target, flags on",
        )
    return (
        _by(actions.restore_replication) + " + API",
        f"add the partnership with {partners}, then replicatenow",
        ("partners replicate SUCCEEDED after the restore, verification still on"),
    )


def _timeline(
    name: str,
    spec: ServerSpec,
    record: RolloutRecord,
    current: int,
    now: datetime,
    offset: timedelta,
    stalled: bool,
) -> tuple[list[PlannedStep], datetime | None]:
    steps: list[PlannedStep] = []
    cursor = now
    blocked = False
    for step in range(1, 8):
        by, does, waits_for = _describe_step(step, spec, name)
        if step < current:
            steps.append(PlannedStep(step, STEP_TITLES[step - 1], "done", by, does, waits_for))
            continue
        gates: list[str] = []
        start = cursor
        if step > current and (gate := _approval_gate(spec, record, step, name)) is not None:
            gates.append(gate)
        if step == 4 and record.facts.certificate_changed_at is None:
            state = window_state(spec.rollout.window, start)
            if not state.open:
                if state.next_opens_at is None:
                    gates.append(
                        f"maintenance window {describe(spec.rollout.window)}: {state.error or 'never opens'}"
                    )
                    blocked = True
                else:
                    gates.append(
                        f"maintenance window {describe(spec.rollout.window)}: opens {wording.when(state.next_opens_at)}"
                    )
                    start = state.next_opens_at
        if step == 7 and spec.replication.partners:
            gates.append("restored only when every rotating partner has reached step 7")
        end = _soak_end(record, step, spec, start, offset) if step in (3, 6) else start
        status = "stalled" if stalled and step == current else "current" if step == current else "pending"
        steps.append(
            PlannedStep(
                step,
                STEP_TITLES[step - 1],
                status,
                by,
                does,
                waits_for,
                tuple(gates),
                None if blocked or stalled else start,
                None if blocked or stalled else end,
            )
        )
        cursor = end
    return steps, None if blocked or stalled else cursor


def plan_server(
    gathered: Gathered, *, now: datetime, revision: str, tuning: Tuning = DEFAULT_TUNING
) -> ServerPlan:
    """The plan of one gathered server at ``now``. Pure: ``decide()`` is run but nothing is saved."""
    name = gathered.name
    spec = gathered.server.spec.spec
    record = gathered.record
    obs = gathered.observation
    served = obs.served_fingerprints() if obs is not None else {}
    recorded = record.phase if record is not None else None
    if gathered.desired is None:
        return ServerPlan(
            name=name,
            phase=recorded or Phase.NEW,
            step=record.step if record else 0,
            in_sync=False,
            changes=True,
            reason=f"cannot plan: {gathered.error}",
            desired=None,
            served=served,
            error=gathered.error,
            record_phase=recorded,
        )
    decision: Decision = decide(
        gathered.server.spec,
        gathered.desired,
        obs,
        record,
        now=now,
        spec_revision=revision,
        partners=gathered.partners,
        tuning=tuning,
        observation_error=str(gathered.observation_error) if gathered.observation_error else None,
        keystore_error=gathered.keystore_error,
    )
    rec = decision.record
    error = gathered.problem_for(rec)
    working = rec.working_phase
    current = step_of(working)
    in_sync = decision.phase is Phase.IN_SYNC
    notes: list[str] = []
    if spec.rollout.mode is Mode.REPORT:
        notes.append("report mode (spec.rollout.mode: report): the reconciler observes and never acts")
    if rec.suspension is not None:
        notes.append(
            f"suspended by {rec.suspension.by} ({rec.suspension.reason}): sepm-reconciler resume {name}"
        )
    steps: list[PlannedStep] = []
    eta: datetime | None = None
    if not in_sync and working is not Phase.ROLLING_BACK and error is None:
        offset = now - obs.manager_time if obs is not None and obs.manager_time is not None else timedelta(0)
        held = spec.rollout.mode is Mode.REPORT or rec.suspension is not None
        steps, eta = _timeline(name, spec, rec, current, now, offset, decision.phase is Phase.STALLED or held)
        if any(s.by.startswith("manual") for s in steps if s.status != "done"):
            notes.append("manual steps wait for an operator: the times shown assume they are done at once")
    elif working is Phase.ROLLING_BACK:
        notes.append("rolling back steps 1-3: verification on again where it was, then replication restored")
    action = decision.action
    if action is not None:
        next_action: str | None = f"{action.summary} ({action.performer.value})"
    elif decision.moved:
        next_action = f"move {(recorded or Phase.NEW).value} → {decision.phase.value}"
    else:
        next_action = None
    return ServerPlan(
        name=name,
        phase=decision.phase,
        step=decision.step,
        in_sync=in_sync and error is None,
        changes=not in_sync,
        reason=decision.reason,
        desired=gathered.desired,
        served=served,
        next_action=next_action,
        remedy=decision.remedy,
        steps=tuple(steps),
        eta=eta,
        notes=tuple(notes),
        error=error,
        rollout_id=rec.rollout_id,
        record_phase=recorded,
    )
