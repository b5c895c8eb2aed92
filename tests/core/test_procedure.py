"""The procedure table is the single source of the procedure: the machine, its guards, the diagram and the docs'
tables follow it."""

from __future__ import annotations

import itertools
import re
from collections import deque
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli.diagram import diagram
from reconciler.core.procedure import (
    STANDARD,
    STEP_TITLES,
    IllegalMove,
    Judge,
    Phase,
    machine_for,
    mermaid,
    step_of,
)
from reconciler.core.procedure.gates import GateKind
from tests.support.generated import ALL, DIAGRAM, PROCEDURE, ROOT, documents
from tests.support.states import at

STAGES = [  # the seven steps with the sub-steps of KB 187099
    Phase.BREAKING_REPLICATION,
    Phase.SWITCHING_TO_HTTP_LIST,
    Phase.DISABLING_VERIFICATION,
    Phase.WAITING_UNVERIFIED,
    Phase.UPDATING_CERTIFICATE,
    Phase.FETCHING_CERTIFICATE,
    Phase.ENABLING_VERIFICATION,
    Phase.RESTORING_ORIGINAL_LIST,
    Phase.WAITING_VERIFIED,
    Phase.RESTORING_REPLICATION,
]
MOVES = tuple(STANDARD.moves())


def destinations(source: Phase) -> set[Phase]:
    return {m.dest for m in MOVES if m.source is source}


def test_the_seven_steps_and_their_sub_steps_are_numbered_in_the_vendor_order() -> None:
    assert [s.phase for s in STANDARD.steps] == STAGES
    assert [step_of(p) for p in STAGES] == [1, 2, 2, 3, 4, 4, 5, 5, 6, 7]
    assert [s.step for s in STANDARD.steps] == ["1", "2a", "2b", "3", "4a", "4b", "5a", "5b", "6", "7"]
    assert {p for p in Phase if step_of(p) == 0} == {
        Phase.NEW,
        Phase.IN_SYNC,
        Phase.DRIFTED,
        Phase.STALLED,
        Phase.ROLLING_BACK,
    }
    assert (
        STEP_TITLES[1] == "switch clients to the HTTP management server list"
    )  # a step's title: its first stage
    assert STEP_TITLES[3] == "update the certificate, restart services"
    assert STANDARD.step_count == 7  # the user-facing numbers stay 1..7


def test_each_step_moves_forward_to_the_next_one() -> None:
    for current, following in itertools.pairwise(STAGES):
        assert following in destinations(current), f"{current} cannot reach {following}"
    assert Phase.IN_SYNC in destinations(Phase.RESTORING_REPLICATION)


def test_every_phase_is_reachable_from_new_and_can_reach_in_sync() -> None:
    reachable = {Phase.NEW}
    queue = deque([Phase.NEW])
    while queue:
        for dest in destinations(queue.popleft()) - reachable:
            reachable.add(dest)
            queue.append(dest)
    assert reachable == set(STANDARD.phases) == set(Phase)
    for phase in Phase:
        seen, todo = {phase}, deque([phase])
        while todo:
            for dest in destinations(todo.popleft()) - seen:
                seen.add(dest)
                todo.append(dest)
        assert Phase.IN_SYNC in seen or phase is Phase.IN_SYNC, f"{phase} is a dead end"


def test_no_move_goes_back_past_the_point_of_no_return() -> None:
    point = STANDARD.point_of_no_return
    assert point.phase is Phase.UPDATING_CERTIFICATE
    for move in MOVES:
        if STANDARD.past_no_return(move.source):
            assert move.dest is not Phase.ROLLING_BACK
            assert step_of(move.dest) >= point.number or move.dest in (
                Phase.IN_SYNC,
                Phase.DRIFTED,
                Phase.STALLED,
            ), move


def test_rollback_is_only_reachable_before_the_certificate_changes() -> None:
    sources = {m.source for m in MOVES if m.dest is Phase.ROLLING_BACK}
    assert sources == {*STAGES[:5], Phase.STALLED}


def test_half_rotated_means_inside_steps_1_to_6() -> None:
    rotating = [s.phase for s in STANDARD.stages if s.rotating]
    assert rotating == STAGES[:9]


def test_the_entry_gates_are_approvals_window_keystore_trust_and_lists_as_documented() -> None:
    approvals = {s.step: [g.step for g in s.entry if g.kind is GateKind.APPROVAL] for s in STANDARD.steps}
    assert approvals == {
        "1": [1],
        "2a": [2],  # a step's approval gates its first sub-step
        "2b": [],
        "3": [3],
        "4a": [4],
        "4b": [],
        "5a": [5],
        "5b": [],
        "6": [6],
        "7": [7],
    }
    update = STANDARD.stage(Phase.UPDATING_CERTIFICATE)
    assert [g.name for g in update.entry] == [
        "keystore",
        "new_certificate_trusted",
        "no_canary_halted",
        "approval_of_step_4",
        "window",
        "earlier_waves_passed",
        "site_swap_turn",
    ]
    assert [g.name for g in update.inside] == [
        "keystore",
        "new_certificate_trusted",
        "no_canary_halted",
        "window",
        "earlier_waves_passed",
        "site_swap_turn",
    ]
    enable = STANDARD.stage(Phase.ENABLING_VERIFICATION)
    assert "canary_judged" in [g.name for g in enable.entry]
    assert [g.name for g in enable.entry][-1] == "site_swapped"
    start = STANDARD.stage(Phase.BREAKING_REPLICATION).entry
    assert {"new_certificate_trusted", "management_server_list_configured", "site_joinable"} <= {
        g.name for g in start
    }
    assert STANDARD.accept_at_risk_steps == (4, 5, 7)  # after 3, 4b and 6


def test_the_list_sub_steps_are_confirmed_by_an_approval_of_their_step() -> None:
    assert [s.step for s in STANDARD.steps if s.confirmed_by_approval] == ["2a", "5b"]


@pytest.mark.parametrize("phase", list(Phase), ids=[p.value for p in Phase])
def test_machine_restores_at_any_persisted_phase(phase: Phase) -> None:
    expected = sorted({m.trigger for m in MOVES if m.source is phase})
    assert machine_for(STANDARD).triggers(phase) == expected


def test_the_guards_of_a_stage_are_its_named_checks_in_table_order() -> None:
    machine = machine_for(STANDARD)
    transitions = machine._machine.events["advance"].transitions[Phase.WAITING_UNVERIFIED.name]
    guards = [[c.func.__name__ for c in t.conditions] for t in transitions]  # type: ignore[union-attr]
    assert guards == [
        ["passes_certificate_already_served"],
        ["passes_spec_reverted"],
        ["passes_replication_back_before_swap"],
        ["passes_verification_went_on"],
        ["passes_http_list_went_back_before_swap"],
        [
            "refutes_certificate_already_served",
            "refutes_spec_reverted",
            "refutes_replication_back_before_swap",
            "refutes_verification_went_on",
            "refutes_http_list_went_back_before_swap",
            "passes_clients_acknowledged_verification_off",
            "passes_keystore",
            "passes_new_certificate_trusted",
            "passes_no_canary_halted",
            "passes_approval_of_step_4",
            "passes_window",
            "passes_earlier_waves_passed",
            "passes_site_swap_turn",
        ],
    ]
    assert [t.dest for t in transitions] == [
        "UPDATING_CERTIFICATE",
        "ROLLING_BACK",
        "BREAKING_REPLICATION",
        "DISABLING_VERIFICATION",
        "SWITCHING_TO_HTTP_LIST",
        "UPDATING_CERTIFICATE",
    ]


def test_ordered_transitions_choose_the_destination_by_their_guards() -> None:
    machine = machine_for(STANDARD)
    ready = at(Phase.WAITING_UNVERIFIED)
    reverted = at(Phase.WAITING_UNVERIFIED)
    reverted.world.set_verification(True, {"g-root"})
    for scene, dest in ((ready, Phase.UPDATING_CERTIFICATE), (reverted, Phase.DISABLING_VERIFICATION)):
        move = machine.fire(Phase.WAITING_UNVERIFIED, "advance", Judge(scene.given()))
        assert move is not None and move.dest is dest
    waiting = at(Phase.WAITING_UNVERIFIED)
    waiting.world.acknowledged = 1834
    assert machine.fire(Phase.WAITING_UNVERIFIED, "advance", Judge(waiting.given())) is None


@pytest.mark.parametrize(
    ("phase", "trigger"),
    [
        (Phase.ENABLING_VERIFICATION, "roll_back"),
        (Phase.WAITING_VERIFIED, "roll_back"),
        (Phase.IN_SYNC, "stall"),
        (Phase.NEW, "resume"),
        (Phase.BREAKING_REPLICATION, "no_such_trigger"),
    ],
    ids=["abort-after-5", "abort-after-6", "stall-in-sync", "resume-new", "unknown-trigger"],
)
def test_moves_the_table_does_not_list_are_refused(phase: Phase, trigger: str) -> None:
    judge = Judge(at(Phase.WAITING_UNVERIFIED).given())
    with pytest.raises(IllegalMove):
        machine_for(STANDARD).fire(phase, trigger, judge)


def test_no_state_uses_transitions_timeouts() -> None:
    for state in machine_for(STANDARD)._machine.states.values():
        assert not hasattr(state, "timeout"), f"{state.name} is a Timeout state"


def test_mermaid_lists_every_move_of_the_table() -> None:
    text = mermaid()
    assert text.startswith("stateDiagram-v2\n")
    arrows = set(re.findall(r"^\s+(\w+) --> (\w+):", text, flags=re.MULTILINE))
    assert arrows == {(m.source.value, m.dest.value) for m in MOVES}


# --- the copies in the docs ----------------------------------------------------------------------------------------


def _embedding() -> list[tuple[Path, str]]:
    return [
        (path, generated.command)
        for path in documents()
        for generated in ALL
        if generated.marker in path.read_text(encoding="utf-8")
    ]


def test_the_docs_embed_the_diagram_and_the_tables() -> None:
    found = {(path.name, command) for path, command in _embedding()}
    assert {
        ("README.md", "diagram"),
        ("README.md", "diagram --table summary"),
        ("procedure.md", "diagram"),
        ("procedure.md", "diagram --table steps"),
        ("procedure.md", "diagram --table codes"),
    } <= found


@pytest.mark.parametrize(
    ("document", "command"),
    _embedding(),
    ids=lambda v: str(v.relative_to(ROOT)) if isinstance(v, Path) else v,
)
def test_embedded_copy_is_not_stale(document: Path, command: str) -> None:
    generated = next(g for g in ALL if g.command == command)
    blocks = generated.blocks(document.read_text(encoding="utf-8"))
    assert blocks, f"{document.name}: the marker of `{command}` is not followed by its block"
    for block in blocks:
        assert block == generated.render(), (
            f"{document.name}'s copy of `sepm-reconciler {command}` differs from the table: regenerate it with "
            "`.venv/bin/python -m tests.support.generated`"
        )


def test_staleness_check_notices_a_missing_move() -> None:
    [block] = DIAGRAM.blocks(PROCEDURE.read_text(encoding="utf-8"))
    edited = block.replace("    breaking_replication --> switching_to_http_list", "    %% removed")
    assert edited != block
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


@pytest.mark.parametrize("table", ["summary", "steps", "codes"])
def test_diagram_command_prints_each_table(table: str) -> None:
    result = CliRunner().invoke(diagram, ["--table", table], standalone_mode=False)
    assert result.exception is None and result.return_value == 0
    generated = next(g for g in ALL if g.command == f"diagram --table {table}")
    assert result.output == generated.render()
