"""The procedure's python-transitions machine, built from the table: its guards are the table's named checks.

Every observation-driven move has the trigger ``advance``; from one phase they are tried in table order (ordered
transitions choose the destination): first the reverts the stage watches for, then its exits — each guarded by
"no revert applies", the stage's done check, the exit's own checks and the entry gates of where it leads. ``stall``,
``resume`` and ``roll_back`` are the moves a stuck check, a person or an abort asks for; the machine refuses any
move the table does not list.

The machine is built once per table and drives a small typed model per decision (``model_override``: transitions
binds only the triggers the model declares). No ``Timeout`` states: waits last days and must survive restarts, so
their deadlines are stored in the record.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache

from transitions import Machine, MachineError

from reconciler.core.phase import Phase
from reconciler.core.procedure.given import Given
from reconciler.core.procedure.table import Procedure, Transition
from reconciler.core.procedure.verdicts import Check, Failed, Passed, Verdict

__all__ = ["IllegalMove", "Judge", "ProcedureMachine", "machine_for"]


class IllegalMove(ValueError):
    """The table has no such move from the current phase: a programming error, never a user error."""


class Judge:
    """One decision's verdicts: each named check runs at most once on the frozen input, whoever asks (a guard of
    the machine, or ``decide`` explaining why nothing moved)."""

    def __init__(self, given: Given, *, resume_to: Phase | None = None) -> None:
        self.given = given
        self.resume_to = resume_to
        self.fired: Transition | None = None
        self._verdicts: dict[Check, Verdict] = {}

    def verdict(self, check: Check) -> Verdict:
        found = self._verdicts.get(check)
        if found is None:
            found = self._verdicts[check] = check(self.given)
        return found

    def passed(self, check: Check) -> bool:
        return isinstance(self.verdict(check), Passed)

    def refuted(self, check: Check) -> bool:
        """The check definitely does not hold (unknown is not refuted)."""
        return isinstance(self.verdict(check), Failed)

    def fire(self, move: Transition) -> None:
        self.fired = move

    def forget(self) -> None:
        self.fired = None


class _Model:
    """What the machine drives for one decision. The trigger methods are bound by transitions."""

    state: Phase

    def advance(self, judge: Judge) -> bool:  # pragma: no cover - replaced by transitions
        raise RuntimeError("bound by transitions")

    def may_advance(self, judge: Judge) -> bool:  # pragma: no cover - replaced by transitions
        raise RuntimeError("bound by transitions")

    def stall(self, judge: Judge) -> bool:  # pragma: no cover - replaced by transitions
        raise RuntimeError("bound by transitions")

    def resume(self, judge: Judge) -> bool:  # pragma: no cover - replaced by transitions
        raise RuntimeError("bound by transitions")

    def roll_back(self, judge: Judge) -> bool:  # pragma: no cover - replaced by transitions
        raise RuntimeError("bound by transitions")


def _passes(check: Check) -> Callable[[Judge], bool]:
    def condition(judge: Judge) -> bool:
        return judge.passed(check)

    condition.__name__ = f"passes_{check.__name__}"
    return condition


def _refutes(check: Check) -> Callable[[Judge], bool]:
    def condition(judge: Judge) -> bool:
        return judge.refuted(check)

    condition.__name__ = f"refutes_{check.__name__}"
    return condition


def _resumes_to(dest: Phase) -> Callable[[Judge], bool]:
    def condition(judge: Judge) -> bool:
        return judge.resume_to is dest

    return condition


def _records(move: Transition) -> Callable[[Judge], None]:
    def before(judge: Judge) -> None:
        judge.fire(move)

    return before


def guards(procedure: Procedure, move: Transition) -> list[Callable[[Judge], bool]]:
    """The conditions of one move, from the table."""
    if move.revert is not None:
        return [_passes(move.revert.check)]
    if move.exit is not None:
        stage = procedure.stage(move.source)
        conditions = [_refutes(r.check) for r in stage.reverts]
        conditions.append(_passes(stage.done))
        conditions += [_passes(check) for check in move.exit.also]
        if not move.exit.held and procedure.has(move.dest):
            conditions += [_passes(gate.check) for gate in procedure.stage(move.dest).entry]
        return conditions
    if move.trigger == "resume":
        return [_resumes_to(move.dest)]
    return []


@contextmanager
def _quiet() -> Iterator[None]:
    """transitions warns about every name ``model_override`` leaves unbound (its ``is_<state>``, ``to_<state>``…):
    by design here, so not worth a log line."""
    logger = logging.getLogger("transitions.core")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


class ProcedureMachine:
    """The machine of one procedure table, driving one model whose state is set to the phase of each decision."""

    def __init__(self, procedure: Procedure) -> None:
        self.procedure = procedure
        self.moves = tuple(procedure.moves())
        self._lock = threading.Lock()
        self._model = _Model()
        with _quiet():
            self._machine = self._build(procedure)

    def _build(self, procedure: Procedure) -> Machine:
        return Machine(
            model=self._model,
            initial=procedure.phases[0],
            states=list(procedure.phases),
            transitions=[
                {
                    "trigger": move.trigger,
                    "source": move.source,
                    "dest": move.dest,
                    "conditions": guards(procedure, move),
                    "before": [_records(move)],
                }
                for move in self.moves
            ],
            auto_transitions=False,
            send_event=False,
            model_override=True,
        )

    def triggers(self, phase: Phase) -> list[str]:
        """The triggers allowed from ``phase``, sorted."""
        return sorted(set(self._machine.get_triggers(phase.name)))

    def fire(self, phase: Phase, trigger: str, judge: Judge) -> Transition | None:
        """Fire ``trigger`` from ``phase``: the move the guards chose, or None when none of them passed. A trigger
        the table does not allow from ``phase`` raises :class:`IllegalMove`."""
        model = self._model
        judge.forget()
        with self._lock:
            self._machine.set_state(phase, model=model)
            try:
                moved = getattr(model, trigger)(judge)
            except (MachineError, AttributeError) as exc:
                raise IllegalMove(f"no move {trigger!r} from {phase.value}") from exc
            state = model.state
        fired = judge.fired
        if not moved:
            return None
        if fired is None or state is not fired.dest:  # pragma: no cover - transitions' contract
            raise RuntimeError(f"{trigger} from {phase.value} moved without naming its move")
        return fired


@cache
def machine_for(procedure: Procedure) -> ProcedureMachine:
    """The machine of ``procedure``, built once."""
    return ProcedureMachine(procedure)
