"""The append-only event log: every move, attempt, request and approval, with who did it and why.

Events the reconciler records carry the stable code of their reason in ``details["code"]`` (:attr:`Event.code`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from reconciler.core._storage import Reader, iso
from reconciler.core.phase import Phase

__all__ = ["RECONCILER", "Event", "EventKind"]

RECONCILER = "reconciler"
"""The actor of everything the reconciler decides by itself."""

Detail = str | int | float | bool | None


class EventKind(StrEnum):
    TRANSITION = "transition"  # the phase changed (from → to)
    RETARGET = "retarget"  # a new desired certificate replaced the target before step 4
    CERTIFICATE_CHANGED = (
        "certificate_changed"  # a port first presented another certificate: point of no return
    )
    ATTEMPT_STARTED = "attempt_started"  # recorded before a hook or API action runs
    ATTEMPT_FINISHED = "attempt_finished"  # its result (exit status, API answer)
    ATTEMPT_FAILED = "attempt_failed"  # no effect observed in time (lost after a crash, or ineffective)
    APPROVAL = "approval"  # someone approved a step
    APPROVAL_NEEDED = "approval_needed"  # a step waits for an approval
    SUSPENDED = "suspended"
    RESUMED = "resumed"
    RESUME_REQUESTED = "resume_requested"
    ABORT_REQUESTED = "abort_requested"
    ABORT_REFUSED = "abort_refused"
    ABORTED = "aborted"  # the rollout was cancelled (before it changed anything, or after rolling back)
    CANARY = "canary"  # the canary analysis of a swap was judged (details: passed, cohort, silent)
    REHEARSAL = (
        "rehearsal"  # probe --rehearse tried the settings PATCH on a sacrificial group (details: results)
    )


@dataclass(frozen=True, slots=True)
class Event:
    """One entry of the log. ``from_phase``/``to_phase`` are equal (or both None) for events that do not move."""

    at: datetime
    server: str
    kind: EventKind
    reason: str
    actor: str = RECONCILER
    rollout_id: str | None = None
    from_phase: Phase | None = None
    to_phase: Phase | None = None
    details: Mapping[str, Detail] = field(default_factory=dict)
    id: int | None = None  # assigned by the store

    @property
    def code(self) -> str | None:
        """The stable code of the event's reason (``details["code"]``; events written before codes have none)."""
        code = self.details.get("code")
        return code if isinstance(code, str) else None

    def to_storage(self) -> dict[str, Any]:
        return {
            "at": iso(self.at),
            "server": self.server,
            "kind": self.kind.value,
            "reason": self.reason,
            "actor": self.actor,
            "rollout_id": self.rollout_id,
            "from_phase": None if self.from_phase is None else self.from_phase.value,
            "to_phase": None if self.to_phase is None else self.to_phase.value,
            "details": dict(self.details),
        }

    @classmethod
    def from_storage(cls, data: object, *, event_id: int | None = None) -> Event:
        r = Reader(data, "event")
        details = r.mapping("details")
        for key, value in details.items():
            if not isinstance(value, str | int | float | bool | type(None)):
                raise r.fail("details", f"flat values ({key} is {type(value).__name__})")
        return cls(
            at=r.moment("at"),
            server=r.text("server"),
            kind=r.enum("kind", EventKind),
            reason=r.text("reason"),
            actor=r.text("actor"),
            rollout_id=r.opt_text("rollout_id"),
            from_phase=r.opt_enum("from_phase", Phase),
            to_phase=r.opt_enum("to_phase", Phase),
            details=dict(details),
            id=event_id,
        )
