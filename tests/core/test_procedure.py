"""The procedure table is the single source of allowed moves: the machine, the diagram and the docs follow it."""

from __future__ import annotations

import itertools
import re
from collections import deque
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli.diagram import diagram
from reconciler.core.procedure import (
    MOVES,
    POINT_OF_NO_RETURN,
    STEP_OF,
    IllegalMove,
    Phase,
    Procedure,
    destinations,
    mermaid,
    step_of,
)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "procedure.md"
SEVEN = [
    Phase.BREAKING_REPLICATION,
    Phase.DISABLING_VERIFICATION,
    Phase.WAITING_UNVERIFIED,
    Phase.UPDATING_CERTIFICATE,
    Phase.ENABLING_VERIFICATION,
    Phase.WAITING_VERIFIED,
    Phase.RESTORING_REPLICATION,
]


def test_the_seven_steps_are_numbered_in_the_vendor_order() -> None:
    assert [step_of(p) for p in SEVEN] == [1, 2, 3, 4, 5, 6, 7]
    assert {p for p in Phase if step_of(p) == 0} == {
        Phase.NEW,
        Phase.IN_SYNC,
        Phase.DRIFTED,
        Phase.STALLED,
        Phase.ROLLING_BACK,
    }


def test_each_step_moves_forward_to_the_next_one() -> None:
    for current, following in itertools.pairwise(SEVEN):
        assert following in destinations(current), f"{current} cannot reach {following}"
    assert Phase.IN_SYNC in destinations(Phase.RESTORING_REPLICATION)


def test_every_phase_is_reachable_from_new_and_can_reach_in_sync() -> None:
    reachable = {Phase.NEW}
    queue = deque([Phase.NEW])
    while queue:
        for dest in destinations(queue.popleft()) - reachable:
            reachable.add(dest)
            queue.append(dest)
    assert reachable == set(Phase)
    for phase in Phase:
        seen, todo = {phase}, deque([phase])
        while todo:
            for dest in destinations(todo.popleft()) - seen:
                seen.add(dest)
                todo.append(dest)
        assert Phase.IN_SYNC in seen or phase is Phase.IN_SYNC, f"{phase} is a dead end"


def test_no_move_goes_back_past_the_point_of_no_return() -> None:
    for move in MOVES:
        for source in move.sources:
            if STEP_OF.get(source, 0) > POINT_OF_NO_RETURN:
                assert move.dest is not Phase.ROLLING_BACK
                assert STEP_OF.get(move.dest, 99) >= POINT_OF_NO_RETURN or move.dest in (
                    Phase.IN_SYNC,
                    Phase.DRIFTED,
                    Phase.STALLED,
                ), move


def test_rollback_is_only_reachable_before_the_certificate_changes() -> None:
    sources = {s for m in MOVES if m.dest is Phase.ROLLING_BACK for s in m.sources}
    assert sources == {*SEVEN[:4], Phase.STALLED}


@pytest.mark.parametrize("phase", list(Phase), ids=[p.value for p in Phase])
def test_machine_restores_at_any_persisted_phase(phase: Phase) -> None:
    machine = Procedure(phase)
    assert machine.phase is phase
    expected = sorted({m.trigger for m in MOVES if phase in m.sources})
    assert machine.triggers() == expected


@pytest.mark.parametrize(
    ("phase", "trigger", "to", "dest"),
    [
        (Phase.BREAKING_REPLICATION, "replication_broken", None, Phase.DISABLING_VERIFICATION),
        (Phase.WAITING_UNVERIFIED, "clients_ready", None, Phase.UPDATING_CERTIFICATE),
        (Phase.WAITING_VERIFIED, "clients_ready", None, Phase.RESTORING_REPLICATION),
        (Phase.RESTORING_REPLICATION, "verification_reverted", None, Phase.ENABLING_VERIFICATION),
        (Phase.STALLED, "resume", Phase.WAITING_UNVERIFIED, Phase.WAITING_UNVERIFIED),
        (Phase.STALLED, "resume", Phase.ROLLING_BACK, Phase.ROLLING_BACK),
        (Phase.ROLLING_BACK, "rolled_back", Phase.DRIFTED, Phase.DRIFTED),
        (Phase.ROLLING_BACK, "rolled_back", Phase.IN_SYNC, Phase.IN_SYNC),
    ],
    ids=[
        "step1-done",
        "step3-done",
        "step6-done",
        "step7-reverted",
        "resume-3",
        "resume-rb",
        "rb-held",
        "rb-sync",
    ],
)
def test_allowed_moves_land_where_the_table_says(
    phase: Phase, trigger: str, to: Phase | None, dest: Phase
) -> None:
    assert Procedure(phase).fire(trigger, to=to) is dest


@pytest.mark.parametrize(
    ("phase", "trigger", "to"),
    [
        (Phase.ENABLING_VERIFICATION, "roll_back", None),
        (Phase.WAITING_VERIFIED, "roll_back", None),
        (Phase.IN_SYNC, "certificate_served", None),
        (Phase.WAITING_UNVERIFIED, "finish", None),
        (Phase.STALLED, "resume", Phase.IN_SYNC),
        (Phase.BREAKING_REPLICATION, "no_such_trigger", None),
    ],
    ids=[
        "abort-after-5",
        "abort-after-6",
        "skip-to-5",
        "finish-from-3",
        "resume-to-in-sync",
        "unknown-trigger",
    ],
)
def test_moves_the_table_does_not_list_are_refused(phase: Phase, trigger: str, to: Phase | None) -> None:
    machine = Procedure(phase)
    with pytest.raises(IllegalMove):
        machine.fire(trigger, to=to)
    assert machine.phase is phase


def test_no_state_uses_transitions_timeouts() -> None:
    machine = Procedure(Phase.WAITING_UNVERIFIED)
    for state in machine._machine.states.values():
        assert not hasattr(state, "timeout"), f"{state.name} is a Timeout state"


def test_mermaid_lists_every_move_of_the_table() -> None:
    text = mermaid()
    assert text.startswith("stateDiagram-v2\n")
    arrows = set(re.findall(r"^\s+(\w+) --> (\w+):", text, flags=re.MULTILINE))
    assert arrows == {(s.value, m.dest.value) for m in MOVES for s in m.sources}


MARKER = "<!-- generated by `sepm-reconciler diagram`"
ROOT = DOCS.parents[1]


def _embedded_diagrams(markdown: str) -> list[str]:
    """Every ```mermaid block that follows the generated-diagram marker."""
    return re.findall(re.escape(MARKER) + r"[^\n]*\n```mermaid\n(.*?)```", markdown, flags=re.DOTALL)


def _documents_embedding_the_diagram() -> list[Path]:
    candidates = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    return [p for p in candidates if p.exists() and MARKER in p.read_text(encoding="utf-8")]


def test_docs_procedure_embeds_the_diagram() -> None:
    assert DOCS in _documents_embedding_the_diagram()


@pytest.mark.parametrize(
    "document", _documents_embedding_the_diagram(), ids=lambda p: str(p.relative_to(ROOT))
)
def test_embedded_diagram_is_not_stale(document: Path) -> None:
    embedded = _embedded_diagrams(document.read_text(encoding="utf-8"))
    assert embedded, f"{document.name}: the marker is not followed by a ```mermaid block"
    for block in embedded:
        assert block == mermaid(), (
            f"{document.name}'s procedure diagram differs from the transition table: regenerate it with "
            "`sepm-reconciler diagram --markdown` and paste it under the marker"
        )


def test_staleness_check_notices_a_missing_move() -> None:
    [block] = _embedded_diagrams(DOCS.read_text(encoding="utf-8"))
    edited = block.replace("    breaking_replication --> disabling_verification", "    %% removed")
    assert edited != mermaid()


@pytest.mark.parametrize("markdown", [False, True], ids=["raw", "markdown"])
def test_diagram_command_prints_the_generated_diagram(markdown: bool) -> None:
    result = CliRunner().invoke(diagram, ["--markdown"] if markdown else [], standalone_mode=False)
    assert result.exception is None
    assert result.return_value == 0
    if markdown:
        assert result.output == f"```mermaid\n{mermaid()}```\n"
    else:
        assert result.output == mermaid()
