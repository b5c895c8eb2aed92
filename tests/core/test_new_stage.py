"""A new step or sub-step is a change to the table plus its checks: a stage added here, in the test only, is picked
up by decide, plan, the diagram and the docs' tables — nothing else is changed."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from reconciler.core.codes import Code
from reconciler.core.procedure import (
    STANDARD,
    Doc,
    Exit,
    Phase,
    Stage,
    define_phase,
    mermaid,
    reference_table,
    summary_table,
)
from reconciler.core.procedure.describe import Described
from reconciler.core.procedure.given import Given
from reconciler.core.procedure.verdicts import Failed, Passed, Verdict
from reconciler.core.said import Said
from reconciler.core.spec import ServerSpec
from reconciler.engine import Gathered
from reconciler.engine.plan import plan_server
from reconciler.specs import LoadedServer
from tests.support.manager import FAST, NEW, Driver, World, hooked

CONFIRMING = define_phase("confirming_swap")


def api_still_answers(given: Given) -> Verdict:
    """The trivial check of the test-only stage: after the swap, the REST API still answers."""
    said = Said(Code.CERTIFICATE_SERVED, {"target": given.target, "version": given.obs.api_version})
    return Passed(said) if given.obs.api_usable else Failed(said)


def described(spec: ServerSpec) -> Described:
    return Described("wait", "nothing: the API is asked again", "the API still answers after the swap")


STAGE = Stage(
    CONFIRMING,
    "confirm the swap",
    number=4,
    sub="c",
    done=api_still_answers,
    exits=(Exit("swap_confirmed", Phase.ENABLING_VERIFICATION, "the API still answers"),),
    acknowledges=STANDARD.stage(Phase.FETCHING_CERTIFICATE).acknowledges,
    rotating=True,
    verification_off=True,
    plan=described,
    doc=Doc(
        what="confirm the swap",
        who="—",
        done_when="the API still answers",
        enters="step 4 done",
        does="nothing: asks the API again",
        leaves="the API answers",
    ),
)
WITH_4C = STANDARD.insert(STAGE, after=Phase.FETCHING_CERTIFICATE)


def test_the_table_rewires_the_exits_around_the_new_stage() -> None:
    fetching = WITH_4C.stage(Phase.FETCHING_CERTIFICATE)
    assert [e.dest for e in fetching.exits] == [CONFIRMING]
    assert [s.phase for s in WITH_4C.steps][5:8] == [
        Phase.FETCHING_CERTIFICATE,
        CONFIRMING,
        Phase.ENABLING_VERIFICATION,
    ]
    assert WITH_4C.number_of(CONFIRMING) == 4 and STAGE.step == "4c"
    assert WITH_4C.step_count == 7  # a sub-step keeps the user-facing numbers
    assert not STANDARD.has(CONFIRMING)  # the shipped table is untouched


def test_decide_runs_a_rollout_through_the_new_stage() -> None:
    driver = Driver(hooked(), World(), procedure=WITH_4C)
    driver.run_until(Phase.IN_SYNC, step=timedelta(hours=1), limit=300)
    moves = [(e.from_phase, e.to_phase) for e in driver.events if e.kind.value == "transition"]
    assert (Phase.FETCHING_CERTIFICATE, CONFIRMING) in moves
    assert (CONFIRMING, Phase.ENABLING_VERIFICATION) in moves
    entered = next(d for d in driver.decisions if d.phase is CONFIRMING)
    assert entered.step == 4 and entered.code is Code.CLIENTS_READY  # 4b's done check moved it here


def test_the_new_stage_holds_until_its_check_passes() -> None:
    driver = Driver(hooked(), World(), procedure=WITH_4C)
    driver.run_until(CONFIRMING, step=timedelta(hours=1), limit=300)
    driver.world.api_error = "the manager refused the credentials"
    held = driver.decide()
    assert held.phase is CONFIRMING and held.action is None and not held.moved


def test_plan_lays_the_new_stage_on_the_timeline() -> None:
    driver = Driver(hooked(), World())
    server = LoadedServer(driver.spec, Path("/specs/east.yaml"), 1, Path("/specs"), "east.yaml")
    gathered = Gathered(server, NEW, None, None, observation=driver.world.observe(None))
    plan = plan_server(gathered, now=driver.world.now, revision="rev-1", tuning=FAST, procedure=WITH_4C)
    titles = [(s.label, s.title) for s in plan.steps]
    assert titles[5:8] == [
        ("4b", "clients fetch the new certificate"),
        ("4c", "confirm the swap"),
        ("5a", "enable certificate verification"),
    ]
    assert plan.steps[6].waits_for == "the API still answers after the swap"


def test_the_diagram_and_the_docs_tables_show_the_new_stage() -> None:
    diagram = mermaid(WITH_4C)
    assert 'state "4c · confirm the swap" as confirming_swap' in diagram
    assert "clients_fetching_certificate --> confirming_swap" in diagram
    assert "confirming_swap --> enabling_verification: swap_confirmed — the API still answers" in diagram
    assert "clients_fetching_certificate --> enabling_verification" not in diagram
    assert "| 4c | `confirming_swap` | step 4 done | nothing: asks the API again | the API answers |" in (
        reference_table(WITH_4C)
    )
    assert "| 4c | confirm the swap | — | the API still answers |" in summary_table(WITH_4C)
    assert mermaid() != diagram  # the shipped diagram does not have it


def test_a_stage_can_be_replaced_too() -> None:
    slower = replace(STAGE, title="confirm the swap twice")
    table = STANDARD.insert(slower, after=Phase.FETCHING_CERTIFICATE)
    assert table.title(CONFIRMING) == "4c · confirm the swap twice"
