"""What one decision concludes — a move, a hold with its code, or an action — and the draft record it works on."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from reconciler.core.actions import Action
from reconciler.core.events import RECONCILER, Event
from reconciler.core.procedure.given import Given
from reconciler.core.procedure.table import Transition
from reconciler.core.procedure.verdicts import Change, Emit
from reconciler.core.record import RolloutRecord
from reconciler.core.said import Said
from reconciler.core.sentences import sentence

__all__ = ["Act", "Draft", "Hold", "Move", "Outcome"]


@dataclass(frozen=True, slots=True)
class Move:
    """The phase changes along ``transition``, because ``said`` (a stall when it leads to ``stalled``)."""

    transition: Transition
    said: Said
    actor: str = RECONCILER


@dataclass(frozen=True, slots=True)
class Hold:
    """Nothing moves: ``said`` says why (its code is the hold's); look again at ``until`` (None: the stage's pace)."""

    said: Said
    until: datetime | None = None


@dataclass(frozen=True, slots=True)
class Act:
    """Do ``action`` (at most one per tick; a manual one is shown to an operator); ``said`` says what and why."""

    action: Action
    said: Said
    until: datetime | None = None


Outcome = Move | Hold | Act


@dataclass(frozen=True, slots=True)
class Draft:
    """The record a decision works on, and the events it has emitted so far. Every change returns a new draft."""

    record: RolloutRecord
    events: tuple[Event, ...] = ()

    def set(self, **fields: Any) -> Draft:
        return Draft(replace(self.record, **fields), self.events)

    def emit(self, emit: Emit, given: Given) -> Draft:
        record = self.record
        event = Event(
            at=given.now,
            server=given.name,
            kind=emit.kind,
            reason=sentence(emit.said),
            actor=emit.actor,
            rollout_id=record.rollout_id,
            from_phase=record.phase,
            to_phase=record.phase,
            details={**emit.details, "code": emit.said.code.value},
        )
        return Draft(record, (*self.events, event))

    def apply(self, change: Change, given: Given) -> Draft:
        """The draft with ``change``: its events first (attributed to the record as it was), then its fields,
        then its facts."""
        draft = self
        for emit in change.events:
            draft = draft.emit(emit, given)
        record = draft.record
        if change.fields:
            record = replace(record, **change.fields)
        if change.facts:
            record = replace(record, facts=replace(record.facts, **change.facts))
        return Draft(record, draft.events)

    def add(self, events: tuple[Event, ...]) -> Draft:
        return Draft(self.record, (*self.events, *events))
