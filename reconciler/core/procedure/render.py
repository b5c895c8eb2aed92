"""What is generated from the table: the Mermaid diagram (``sepm-reconciler diagram``), the README's step table,
the reference table of ``docs/procedure.md`` and its table of codes. Tests fail when a copy in the docs is stale."""

from __future__ import annotations

from reconciler.core.codes import CODES, Code
from reconciler.core.phase import Phase
from reconciler.core.procedure.table import STANDARD, Procedure

__all__ = ["codes_table", "mermaid", "reference_table", "summary_table"]


def mermaid(procedure: Procedure = STANDARD) -> str:
    """The procedure as a Mermaid ``stateDiagram-v2`` (stable, diff-friendly): one state per phase, one arrow per
    pair of phases a move connects (the first move listed names it)."""
    lines = ["stateDiagram-v2", "    direction TB"]
    lines += [f'    state "{procedure.title(phase)}" as {phase.value}' for phase in procedure.phases]
    lines.append(f"    [*] --> {Phase.NEW.value}")
    seen: set[tuple[Phase, Phase]] = set()
    for move in procedure.moves():
        if (move.source, move.dest) in seen:
            continue
        seen.add((move.source, move.dest))
        lines.append(f"    {move.source.value} --> {move.dest.value}: {move.name} — {move.text}")
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return " ".join(text.replace("|", "\\|").split())


def summary_table(procedure: Procedure = STANDARD) -> str:
    """The README's table: step, what happens, who does it, done when."""
    lines = ["| step | what happens | who does it | done when (observed) |", "|---|---|---|---|"]
    for stage in procedure.steps:
        doc = stage.doc
        lines.append(f"| {stage.step} | {_cell(doc.what)} | {_cell(doc.who)} | {_cell(doc.done_when)} |")
    return "\n".join(lines) + "\n"


def reference_table(procedure: Procedure = STANDARD) -> str:
    """``docs/procedure.md``'s table: step, phase, enters when, does, leaves when."""
    lines = ["| step | phase | enters when | does | leaves when |", "|---|---|---|---|---|"]
    for stage in procedure.stages:
        doc = stage.doc
        if not doc.enters:
            continue
        lines.append(
            f"| {stage.step or '–'} | `{stage.phase.value}` | {_cell(doc.enters)} | {_cell(doc.does)} | "
            f"{_cell(doc.leaves)} |"
        )
    return "\n".join(lines) + "\n"


def codes_table() -> str:
    """Every code: its kind, when a server has it, and what a person does about it."""
    lines = ["| code | kind | when | what to do |", "|---|---|---|---|"]
    for code in Code:
        info = CODES[code]
        lines.append(
            f"| `{code.value}` | {info.kind.value} | {_cell(info.when)} | {_cell(info.todo) or '—'} |"
        )
    return "\n".join(lines) + "\n"


_SEEN = {
    "steady": "`status`: in sync / not observed yet",
    "hold": "`status`: holding — nothing moves (`sepm_reconciler_hold{code}` = 1)",
    "wait": "`status`: waiting, with until when (`sepm_reconciler_hold{code}` = 1)",
    "act": "`status`: an action runs, or 'to do by hand'",
    "move": "the event log (`history`): a step changed; a notification",
    "stall": "`status`: stalled, with the remedy; a notification; `sepm_reconciler_stalled` = 1",
    "event": "the event log (`history`) only",
}


def troubleshooting_table() -> str:
    """Every code as a symptom → cause → fix row: the generated part of docs/troubleshooting.md."""
    lines = ["| code | what you see | cause | fix |", "|---|---|---|---|"]
    for code in Code:
        info = CODES[code]
        fix = info.todo or "nothing: it resolves by itself"
        lines.append(f"| `{code.value}` | {_SEEN[info.kind.value]} | {_cell(info.when)} | {_cell(fix)} |")
    return "\n".join(lines) + "\n"
