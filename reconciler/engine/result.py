"""What one tick did: :class:`TickResult`, and its JSON form (``reconcile --output json``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from reconciler.core._storage import iso
from reconciler.core.actions import Action
from reconciler.core.codes import Code
from reconciler.core.events import Event, EventKind
from reconciler.core.observation import PORT_NAMES, ServerObservation
from reconciler.core.phase import Phase
from reconciler.engine.act import ActionOutcome

__all__ = ["TickResult"]


@dataclass(frozen=True, slots=True)
class TickResult:
    """One server, one tick.

    * ``phase_before`` (None: never recorded before) → ``phase_after``; ``step`` 1..7 inside the procedure, else 0,
      ``substep`` ``"2a"``, ``"4b"``… in a sub-step;
    * ``reason`` a person reads, ``code`` its stable code (None when no decision was made: the state could not
      be read, the server is not in the specs, the tick was dropped), ``remedy`` when stalled; ``next_check_at``
      when to tick again;
    * ``action`` the action decided (manual ones included: nothing ran), ``outcome`` how a hook/API action ended;
    * ``observation`` what was seen (None when nothing could be); ``error`` why this server could not be handled
      fully (spec, observation, store) — a hold, never a move;
    * ``conflict`` another process moved the record first: the tick was dropped and nothing was done;
    * ``events`` appended to the log by the decision.
    """

    server: str
    started_at: datetime
    duration_s: float
    phase_before: Phase | None
    phase_after: Phase
    step: int
    reason: str
    next_check_at: datetime
    code: Code | None = None
    remedy: str | None = None
    action: Action | None = None
    outcome: ActionOutcome | None = None
    observation: ServerObservation | None = None
    error: str | None = None
    conflict: bool = False
    events: tuple[Event, ...] = ()
    rollout_id: str | None = None
    substep: str | None = None

    @property
    def moved(self) -> bool:
        return any(e.kind is EventKind.TRANSITION for e in self.events)

    @property
    def acted(self) -> bool:
        """A hook or API action ran this tick."""
        return self.outcome is not None

    def to_json(self) -> dict[str, Any]:
        """The ``reconcile --output json`` entry of this server."""
        obs = self.observation
        action: dict[str, Any] | None = None
        if self.action is not None:
            a = self.action
            action = {
                "kind": a.kind.value,
                "performer": a.performer.value,
                "step": a.step,
                "summary": a.summary,
                "instructions": a.instructions,
                "attempt": a.attempt,
                "max_attempts": a.max_attempts,
            }
            if self.outcome is not None:
                action["outcome"] = {
                    "succeeded": self.outcome.succeeded,
                    "exit_code": self.outcome.exit_code,
                    "detail": self.outcome.detail,
                    "duration_s": round(self.outcome.duration_s, 3),
                }
        return {
            "name": self.server,
            "phase_before": None if self.phase_before is None else self.phase_before.value,
            "phase": self.phase_after.value,
            "step": self.step,
            "substep": self.substep,
            "moved": self.moved,
            "reason": self.reason,
            "code": None if self.code is None else self.code.value,
            "remedy": self.remedy,
            "action": action,
            "next_check_at": iso(self.next_check_at),
            "rollout_id": self.rollout_id,
            "observed_fingerprints": None
            if obs is None
            else {port: obs.served_fingerprints().get(port) for port in PORT_NAMES},
            "observation_errors": [] if obs is None else list(obs.errors),
            "error": self.error,
            "conflict": self.conflict,
            "duration_s": round(self.duration_s, 3),
        }
