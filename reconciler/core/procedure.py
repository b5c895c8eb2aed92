"""The vendor's seven-step procedure as a state machine, built from one declarative table.

:data:`MOVES` is the single source of allowed moves: :class:`Procedure` (a python-transitions machine restored at a
persisted phase), the Mermaid diagram (:func:`mermaid`, printed by ``sepm-reconciler diagram`` and embedded in
``docs/procedure.md``) and the tests are all generated from it. Guards live in :mod:`reconciler.core.decide`, which
picks a trigger from the observed facts; the machine refuses any move the table does not list.

No Timeout states: waits last days and must survive restarts, so their deadlines are stored in the record.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from transitions import Machine, MachineError

__all__ = [
    "MOVES",
    "POINT_OF_NO_RETURN",
    "PROCEDURE_VERSION",
    "STEP_OF",
    "STEP_TITLES",
    "SUPPORTED_PROCEDURE_VERSIONS",
    "IllegalMove",
    "Move",
    "Phase",
    "Procedure",
    "destinations",
    "mermaid",
    "step_of",
]

PROCEDURE_VERSION = 1
"""Bumped whenever the meaning of a phase or move changes. A rollout keeps the version it started with."""

SUPPORTED_PROCEDURE_VERSIONS: frozenset[int] = frozenset({1})


class Phase(StrEnum):
    """Where one manager stands. The values are stored and shown: never rename one without a migration."""

    NEW = "new"  # never observed yet
    IN_SYNC = "in_sync"  # every port presents the desired certificate; no rollout
    DRIFTED = "drifted"  # a rollout is due but held: approval, report mode, suspension, or it was aborted
    BREAKING_REPLICATION = "breaking_replication"  # step 1
    DISABLING_VERIFICATION = "disabling_verification"  # step 2
    WAITING_UNVERIFIED = "waiting_unverified"  # step 3
    UPDATING_CERTIFICATE = "updating_certificate"  # step 4
    ENABLING_VERIFICATION = "enabling_verification"  # step 5
    WAITING_VERIFIED = "waiting_verified"  # step 6
    RESTORING_REPLICATION = "restoring_replication"  # step 7
    STALLED = "stalled"  # needs a human: a reason and a remedy
    ROLLING_BACK = "rolling_back"  # undoing steps 1-3 (abort, or the spec reverted before step 4)


STEP_OF: Mapping[Phase, int] = MappingProxyType(
    {
        Phase.BREAKING_REPLICATION: 1,
        Phase.DISABLING_VERIFICATION: 2,
        Phase.WAITING_UNVERIFIED: 3,
        Phase.UPDATING_CERTIFICATE: 4,
        Phase.ENABLING_VERIFICATION: 5,
        Phase.WAITING_VERIFIED: 6,
        Phase.RESTORING_REPLICATION: 7,
    }
)
"""Step number (1..7) of each of the seven steps; every other phase is outside the procedure (step 0)."""

POINT_OF_NO_RETURN = 4
"""From step 4 on, clients may see the new certificate: there is no rolling back, only forward."""

STEP_TITLES: tuple[str, ...] = (
    "break replication",
    "disable certificate verification",
    "wait for clients (verification off)",
    "update the certificate, restart services",
    "enable certificate verification",
    "wait for clients (verification on)",
    "restore replication",
)
"""What each of the seven steps does, in the words every view uses (``STEP_TITLES[step - 1]``)."""

_TITLES: Mapping[Phase, str] = MappingProxyType(
    {
        Phase.NEW: "new (not observed yet)",
        Phase.IN_SYNC: "in sync",
        Phase.DRIFTED: "drifted (rollout due, held)",
        **{phase: f"{step} · {STEP_TITLES[step - 1]}" for phase, step in STEP_OF.items()},
        Phase.STALLED: "stalled (needs a human)",
        Phase.ROLLING_BACK: "rolling back steps 1-3",
    }
)


def step_of(phase: Phase) -> int:
    """1..7 for the seven steps, 0 outside the procedure."""
    return STEP_OF.get(phase, 0)


@dataclass(frozen=True, slots=True)
class Move:
    """One allowed move: ``trigger`` takes the machine from any of ``sources`` to ``dest``; ``when`` says on what."""

    trigger: str
    sources: tuple[Phase, ...]
    dest: Phase
    when: str


_STEPS = tuple(STEP_OF)
_BEFORE_NO_RETURN = (
    Phase.BREAKING_REPLICATION,
    Phase.DISABLING_VERIFICATION,
    Phase.WAITING_UNVERIFIED,
    Phase.UPDATING_CERTIFICATE,  # only while no update attempt started and no port changed (decide checks)
)
_STALLABLE = (Phase.DRIFTED, *_STEPS, Phase.ROLLING_BACK)

MOVES: tuple[Move, ...] = (
    Move(
        "converged", (Phase.NEW, Phase.DRIFTED), Phase.IN_SYNC, "every port presents the desired certificate"
    ),
    Move("drift", (Phase.NEW, Phase.IN_SYNC), Phase.DRIFTED, "served ≠ desired, rollout held"),
    Move("start", (Phase.NEW, Phase.IN_SYNC, Phase.DRIFTED), Phase.BREAKING_REPLICATION, "served ≠ desired"),
    Move(
        "replication_broken",
        (Phase.BREAKING_REPLICATION,),
        Phase.DISABLING_VERIFICATION,
        "no declared partner replicates",
    ),
    Move(
        "verification_disabled",
        (Phase.DISABLING_VERIFICATION,),
        Phase.WAITING_UNVERIFIED,
        "every managed group reads back off",
    ),
    Move(
        "clients_ready",
        (Phase.WAITING_UNVERIFIED,),
        Phase.UPDATING_CERTIFICATE,
        "minSoak and minAckRatio met, approved, in window",
    ),
    Move(
        "verification_reverted",
        (Phase.WAITING_UNVERIFIED, Phase.UPDATING_CERTIFICATE),
        Phase.DISABLING_VERIFICATION,
        "a managed group verifies again",
    ),
    Move(
        "certificate_served",
        (Phase.UPDATING_CERTIFICATE,),
        Phase.ENABLING_VERIFICATION,
        "every port presents the target, API answers",
    ),
    Move(
        "verification_enabled",
        (Phase.ENABLING_VERIFICATION,),
        Phase.WAITING_VERIFIED,
        "every managed group reads back on",
    ),
    Move(
        "clients_ready",
        (Phase.WAITING_VERIFIED,),
        Phase.RESTORING_REPLICATION,
        "minSoak and minAckRatio met",
    ),
    Move(
        "verification_reverted",
        (Phase.WAITING_VERIFIED, Phase.RESTORING_REPLICATION),
        Phase.ENABLING_VERIFICATION,
        "a managed group no longer verifies",
    ),
    Move(
        "finish",
        (Phase.RESTORING_REPLICATION,),
        Phase.IN_SYNC,
        "partners replicate SUCCEEDED, flags still on",
    ),
    Move(
        "finish_superseded",
        (Phase.RESTORING_REPLICATION,),
        Phase.DRIFTED,
        "done, but a newer certificate is desired",
    ),
    Move("stall", _STALLABLE, Phase.STALLED, "needs a human"),
    *(Move("resume", (Phase.STALLED,), dest, "resume or new spec revision") for dest in _STALLABLE),
    Move(
        "roll_back",
        (*_BEFORE_NO_RETURN, Phase.STALLED),
        Phase.ROLLING_BACK,
        "abort, or spec reverted (before the certificate changes)",
    ),
    Move("rolled_back", (Phase.ROLLING_BACK,), Phase.IN_SYNC, "restored; served = desired"),
    Move("rolled_back", (Phase.ROLLING_BACK,), Phase.DRIFTED, "restored; aborted rollout held"),
)


class IllegalMove(ValueError):
    """The table has no such move from the current phase: a programming error, never a user error."""


def _destination_is(dest: Phase) -> Callable[..., bool]:
    def check(to: Phase | None = None, **_: Any) -> bool:
        return to is None or to is dest

    return check


class _Model:
    """The object transitions decorates (``state``, ``trigger``); kept apart so its dynamic attributes stay local."""

    state: Phase


class Procedure:
    """A python-transitions machine over :data:`MOVES`, restored at a persisted phase.

    >>> p = Procedure(Phase.BREAKING_REPLICATION)
    >>> p.fire("replication_broken")
    <Phase.DISABLING_VERIFICATION: 'disabling_verification'>

    When a trigger leads to several destinations from the same phase (``resume``, ``rolled_back``), ``to`` picks one.
    """

    def __init__(self, phase: Phase) -> None:
        self._model = _Model()
        self._machine = Machine(
            model=self._model,
            states=Phase,
            transitions=[
                {
                    "trigger": move.trigger,
                    "source": list(move.sources),
                    "dest": move.dest,
                    "conditions": [_destination_is(move.dest)],
                }
                for move in MOVES
            ],
            initial=phase,
            auto_transitions=False,
            send_event=False,
        )

    @property
    def phase(self) -> Phase:
        state = self._model.state
        return state if isinstance(state, Phase) else Phase(state)

    def triggers(self) -> list[str]:
        """The triggers allowed from the current phase, sorted."""
        return sorted(set(self._machine.get_triggers(self.phase.name)))

    def fire(self, trigger: str, *, to: Phase | None = None) -> Phase:
        """Apply ``trigger`` (to ``to`` when ambiguous); raise :class:`IllegalMove` when the table forbids it."""
        source = self.phase
        try:
            moved = self._model.trigger(trigger, to=to)  # type: ignore[attr-defined]  # added by transitions
        except (MachineError, AttributeError) as exc:
            raise IllegalMove(f"no move {trigger!r} from {source}") from exc
        if not moved:
            raise IllegalMove(f"no move {trigger!r} from {source} to {to}")
        return self.phase


def destinations(source: Phase, moves: Iterable[Move] = MOVES) -> set[Phase]:
    """Every phase reachable from ``source`` in one move."""
    return {m.dest for m in moves if source in m.sources}


def mermaid() -> str:
    """The procedure as a Mermaid ``stateDiagram-v2``, generated from :data:`MOVES` (stable, diff-friendly)."""
    lines = ["stateDiagram-v2", "    direction TB"]
    lines += [f'    state "{_TITLES[phase]}" as {phase.value}' for phase in Phase]
    lines.append(f"    [*] --> {Phase.NEW.value}")
    seen: set[tuple[Phase, Phase]] = set()
    for move in MOVES:
        for source in move.sources:
            if (source, move.dest) in seen:  # one arrow per pair: the first move listed names it
                continue
            seen.add((source, move.dest))
            lines.append(f"    {source.value} --> {move.dest.value}: {move.trigger} — {move.when}")
    return "\n".join(lines) + "\n"
