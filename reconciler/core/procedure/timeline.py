"""The one judge of "when": the remaining stages of a rollout laid on a timeline from the table — its soak policies,
the gates of each stage (approvals still missing, the maintenance window, partners) — as ``plan`` shows it and the
``RolloutMustStartBy`` finding reads it. The gate functions are those ``decide`` uses.

Times are *earliest*: every approval arrives and every manual step is done the moment it may start, clients
acknowledge within ``minSoak``. Soaks run on the manager's clock; ``offset`` (reconciler clock − manager clock)
converts the change times recorded on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from reconciler.core._storage import iso_or_none
from reconciler.core.codes import Code
from reconciler.core.procedure.gates import GateKind, approval_missing
from reconciler.core.procedure.table import Procedure, Stage
from reconciler.core.record import RolloutRecord
from reconciler.core.said import Said
from reconciler.core.sentences import planned_gate, sentence
from reconciler.core.spec import ManagedServer
from reconciler.core.window import describe, last_open, window_state

__all__ = ["PlannedStep", "Timeline", "latest_start", "missing_approvals", "timeline"]


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
    point_of_no_return: bool = False
    sub: str = ""  # the sub-step letter ("a", "b") or ""

    @property
    def label(self) -> str:
        """``"4b"``, ``"3"``: the step as people read it."""
        return f"{self.step}{self.sub}"

    def to_json(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "substep": self.label if self.sub else None,
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
class Timeline:
    steps: tuple[PlannedStep, ...]
    eta: (
        datetime | None
    )  # the earliest end of the last step (None: held, stalled or a window that never opens)

    @property
    def swap_at(self) -> datetime | None:
        """The earliest start of the stage that changes what clients see."""
        return next((s.earliest_start for s in self.steps if s.point_of_no_return), None)


def _soak_end(stage: Stage, spec: ManagedServer, record: RolloutRecord | None, current: bool, start: datetime,
              offset: timedelta) -> datetime:  # fmt: skip
    """When the minimum soak of ``stage`` ends at the earliest, on the reconciler's clock."""
    assert stage.soak is not None  # noqa: S101 - called for waits only
    min_soak = stage.soak.rules(spec.spec.rollout.clients).min_soak
    change = stage.soak.change_time(record.facts) if record and current else None
    if change is not None:
        return max(start, change + offset + min_soak)
    return start + min_soak


def _planned(
    stage: Stage,
    spec: ManagedServer,
    status: str,
    gates: tuple[str, ...] = (),
    start: datetime | None = None,
    end: datetime | None = None,
) -> PlannedStep:
    described = stage.plan(spec.spec)
    return PlannedStep(
        stage.number,
        stage.title,
        status,
        described.by,
        described.does,
        described.waits_for,
        gates,
        start,
        end,
        stage.point_of_no_return,
        stage.sub,
    )


def _windowed(stage: Stage) -> bool:
    return any(g.kind is GateKind.WINDOW for g in (*stage.entry, *stage.inside))


def timeline(
    procedure: Procedure,
    spec: ManagedServer,
    record: RolloutRecord | None,
    *,
    now: datetime,
    offset: timedelta = timedelta(0),
    held: bool = False,
) -> Timeline:
    """The remaining stages of ``spec``'s rollout from where ``record`` stands (from the start without one). ``held``
    (stalled, suspended, report mode): the stages are listed, without times."""
    steps: list[PlannedStep] = []
    working = record.working_phase if record is not None else None
    order = [s.phase for s in procedure.steps]
    current = order.index(working) if working in order else -1
    stalled = record is not None and record.stalled
    swapped = record is not None and record.facts.certificate_changed_at is not None
    window = spec.spec.rollout.window
    cursor = now
    blocked = False
    for index, stage in enumerate(procedure.steps):
        if index < current:
            steps.append(_planned(stage, spec, "done"))
            continue
        gates: list[str] = []
        start = cursor
        for gate in stage.entry:
            if (
                gate.kind is GateKind.APPROVAL
                and index > current
                and approval_missing(spec, record, gate.step)
            ):
                gates.append(sentence(Said(Code.APPROVAL_MISSING, {"step": gate.step, "server": spec.name})))
        if _windowed(stage) and not swapped:
            state = window_state(window, start)
            if not state.open:
                facts = {"window": describe(window), "opens": state.next_opens_at, "error": state.error}
                gates.append(planned_gate(GateKind.WINDOW, facts))
                if state.next_opens_at is None:
                    blocked = True
                else:
                    start = state.next_opens_at
        if any(g.kind is GateKind.PARTNERS for g in stage.inside) and spec.spec.replication.partners:
            gates.append(planned_gate(GateKind.PARTNERS, {"step": stage.number}))
        end = _soak_end(stage, spec, record, index == current, start, offset) if stage.soak else start
        status = (
            "stalled"
            if (stalled or held) and index == current
            else "current"
            if index == current
            else "pending"
        )
        timeless = blocked or held or stalled
        steps.append(
            _planned(
                stage, spec, status, tuple(gates), None if timeless else start, None if timeless else end
            )
        )
        cursor = end
    return Timeline(tuple(steps), None if blocked or held or stalled else cursor)


def latest_start(procedure: Procedure, spec: ManagedServer, deadline: datetime) -> datetime | None:
    """The latest moment a rollout can start and still end by ``deadline`` (walking the stages backwards: soaks,
    windows); None when a window never opens in time or cannot be evaluated."""
    window = spec.spec.rollout.window
    moment = deadline
    for stage in reversed(procedure.steps):
        if stage.soak is not None:
            moment -= stage.soak.rules(spec.spec.rollout.clients).min_soak
        if _windowed(stage):
            opening = last_open(window, moment)
            if opening is None:
                return None
            moment = opening
    return moment


def missing_approvals(procedure: Procedure, spec: ManagedServer, record: RolloutRecord | None) -> list[int]:
    """The steps ahead whose approval the spec requires and nobody gave yet (for this rollout and target)."""
    step = procedure.step_of(record) if record is not None else 0
    return [
        gate.step
        for stage in procedure.steps
        for gate in stage.entry
        if gate.kind is GateKind.APPROVAL and gate.step > step and approval_missing(spec, record, gate.step)
    ]
