"""The procedure, defined once: the table of stages (:mod:`.table`), its named checks (:mod:`.steps`, :mod:`.gates`),
the machine built from it (:mod:`.machine`), ``decide``'s interpreter (:mod:`.interpret`), the timeline ``plan`` and
the drift findings read (:mod:`.timeline`) and what is generated from it (:mod:`.render`: the diagram, the docs'
tables).

The names most callers need are here; :data:`STANDARD` is the vendor's seven steps.
"""

from __future__ import annotations

from reconciler.core.codes import CODES, Code, Kind
from reconciler.core.phase import PROCEDURE_VERSION, SUPPORTED_PROCEDURE_VERSIONS, Phase, define_phase
from reconciler.core.procedure.canary import canary_halted, canary_passed
from reconciler.core.procedure.machine import IllegalMove, Judge, ProcedureMachine, machine_for
from reconciler.core.procedure.render import (
    codes_table,
    mermaid,
    reference_table,
    summary_table,
    troubleshooting_table,
)
from reconciler.core.procedure.table import STANDARD, Doc, Exit, Pace, Procedure, Revert, Stage, Transition

__all__ = [
    "CODES",
    "PROCEDURE_VERSION",
    "STANDARD",
    "STEP_TITLES",
    "SUPPORTED_PROCEDURE_VERSIONS",
    "Code",
    "Doc",
    "Exit",
    "IllegalMove",
    "Judge",
    "Kind",
    "Pace",
    "Phase",
    "Procedure",
    "ProcedureMachine",
    "Revert",
    "Stage",
    "Transition",
    "canary_halted",
    "canary_passed",
    "codes_table",
    "define_phase",
    "machine_for",
    "mermaid",
    "reference_table",
    "step_of",
    "summary_table",
    "troubleshooting_table",
]

STEP_TITLES: tuple[str, ...] = tuple(
    next(stage.title for stage in STANDARD.steps if stage.number == number)
    for number in range(1, STANDARD.step_count + 1)
)
"""What each of the seven steps does, in the words every view uses (``STEP_TITLES[step - 1]``)."""


def step_of(phase: Phase) -> int:
    """1..7 for the phases of the seven steps, 0 outside the procedure."""
    return STANDARD.number_of(phase)
