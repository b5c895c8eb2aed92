"""Stalling a rollout right after an action found what no retry can fix (:class:`~reconciler.engine.act.StallRequest`:
a settings PATCH that changed other fields, ``CollateralSettingsChange``).

The record moves to ``stalled`` the way ``decide`` moves it (the procedure table's ``stall`` move, the stall's code,
reason and remedy, a transition event), so ``status``, reports, metrics and ``resume`` treat it like any other stall.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from reconciler.core.events import Event, EventKind
from reconciler.core.procedure import Phase, Procedure, step_of
from reconciler.core.record import RolloutRecord, Stall
from reconciler.engine.act import StallRequest

__all__ = ["stall_now"]


def stall_now(
    record: RolloutRecord, request: StallRequest, *, now: datetime, next_check_at: datetime
) -> tuple[RolloutRecord, Event]:
    """``record`` stalled with ``request``'s code, and the transition event. Its attempts are kept as recorded."""
    source = record.phase
    dest = Procedure(source).fire("stall")
    stalled = replace(
        record,
        phase=dest,
        entered_at=now,
        pending_action=None,
        stalled_from=source,
        stall=Stall(code=request.code, reason=request.reason, remedy=request.remedy, at=now),
        reason=request.reason,
        updated_at=now,
        next_check_at=max(next_check_at, now),
    )
    event = Event(
        at=now,
        server=record.server,
        kind=EventKind.TRANSITION,
        reason=request.reason,
        rollout_id=record.rollout_id,
        from_phase=source,
        to_phase=dest,
        details={"step": step_of(dest), "remedy": request.remedy, "code": request.code},
    )
    assert dest is Phase.STALLED  # noqa: S101 - the table's stall move always leads there
    return stalled, event
