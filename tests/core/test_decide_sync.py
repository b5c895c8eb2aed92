"""decide() outside the seven steps: new, in sync, drift, holds (report mode, suspension, approvals), unknowns."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from reconciler.core.codes import Code
from reconciler.core.decide import decide
from reconciler.core.events import EventKind
from reconciler.core.observation import PortOutcome
from reconciler.core.procedure import PROCEDURE_VERSION, Phase
from reconciler.core.record import Request
from reconciler.core.spec import ManagedServer
from tests.support.manager import FAST, NEW, OLD, T0, Driver, World, hook, make_spec


def hooks(**kwargs: Any) -> ManagedServer:
    return make_spec(
        break_replication=hook(),
        switch_to_http_list=hook(),
        update_certificate=hook(),
        restore_original_list=hook(),
        restore_replication=hook(),
        **kwargs,
    )


def test_new_server_presenting_the_desired_certificate_is_in_sync() -> None:
    world = World()
    world.install(NEW)
    driver = Driver(make_spec(), world)
    decision = driver.decide()
    assert decision.phase is Phase.IN_SYNC
    assert decision.action is None
    assert decision.code is Code.IN_SYNC and decision.outcome.said.get("fingerprint") == NEW
    assert decision.record.rollout_id is None
    decision = driver.decide()
    assert decision.phase is Phase.IN_SYNC
    assert decision.next_check_at == world.now + FAST.idle_interval
    assert not decision.moved


def test_drift_without_holds_starts_step_1_and_records_the_start() -> None:
    driver = Driver(hooks(), World())
    decision = driver.decide()
    assert decision.phase is Phase.BREAKING_REPLICATION
    assert decision.step == 1
    assert decision.action is None  # one move per tick: step 1 acts on the next one
    record = decision.record
    assert record.rollout_id is not None and record.rollout_id.startswith("r-20261201T080000Z-")
    assert record.target_fingerprint == NEW
    assert record.started_revision == "rev-1"
    assert record.procedure_version == PROCEDURE_VERSION == 2
    assert record.facts.original_fingerprints == {"clients": OLD, "console": OLD, "api": OLD}
    assert record.facts.partners == ("Site West",)
    assert decision.next_check_at == T0 + FAST.after_move
    [event] = decision.events
    assert (event.kind, event.from_phase, event.to_phase) == (
        EventKind.TRANSITION,
        Phase.NEW,
        Phase.BREAKING_REPLICATION,
    )
    assert event.code == "RolloutStarted" and decision.code is Code.ROLLOUT_STARTED
    assert decision.outcome.said.get("drift").get("presented") == OLD


@pytest.mark.parametrize(
    ("outcome", "problem"),
    [
        (PortOutcome.REFUSED, "clients port 443: refused (connection refused)"),
        (PortOutcome.TIMEOUT, "clients port 443: timeout (connection refused)"),
        (PortOutcome.HANDSHAKE_FAILED, "clients port 443: handshake failed (connection refused)"),
    ],
    ids=["refused", "timeout", "handshake-failed"],
)
def test_unseen_port_holds_a_new_server_and_names_the_port(outcome: PortOutcome, problem: str) -> None:
    world = World()
    world.outcomes["clients"] = outcome
    decision = Driver(hooks(), world).decide()
    assert decision.phase is Phase.NEW
    assert decision.action is None
    assert decision.code is Code.OBSERVATION_UNKNOWN
    assert decision.outcome.said.get("problems") == problem
    assert decision.next_check_at == world.now + FAST.waiting_interval, (
        "never seen in full: looked at again soon"
    )


def test_failed_observation_holds_mid_rollout_and_says_why() -> None:
    driver = Driver(hooks(), World())
    driver.run_until(Phase.WAITING_UNVERIFIED)
    decision = driver.decide(observe=False, observation_error="api port 8446: connection refused")
    assert decision.phase is Phase.WAITING_UNVERIFIED
    assert decision.action is None
    assert decision.code is Code.OBSERVATION_UNKNOWN
    assert decision.outcome.said.get("error") == "api port 8446: connection refused"
    assert decision.record.observed == driver.decisions[-2].record.observed  # the last summary is kept


def test_report_mode_reports_drift_and_never_acts() -> None:
    driver = Driver(hooks(mode="report"), World())
    for _ in range(5):
        decision = driver.tick()
        driver.world.advance(timedelta(hours=1))
        assert decision.action is None
    assert driver.phases == [Phase.DRIFTED] * 5
    assert decision.code is Code.REPORT_MODE
    assert driver.world.partners  # replication untouched


def test_report_mode_holds_a_rollout_in_progress_where_it_is() -> None:
    driver = Driver(hooks(), World())
    driver.run_until(Phase.WAITING_UNVERIFIED)
    driver.spec = hooks(mode="report")
    driver.world.advance(timedelta(days=3))
    decision = driver.tick()
    assert decision.phase is Phase.WAITING_UNVERIFIED
    assert decision.action is None
    assert decision.code is Code.REPORT_MODE and decision.outcome.said.get("phase") == "waiting_unverified"


def test_suspended_server_reports_drift_but_starts_nothing() -> None:
    world = World()
    world.install(NEW)
    driver = Driver(hooks(), world)
    driver.decide()
    assert driver.record is not None
    driver.record = replace(driver.record, suspension=Request(by="bob", at=T0, reason="change freeze"))
    world.install(OLD)  # someone put the old certificate back
    decision = driver.tick()
    assert decision.phase is Phase.DRIFTED
    assert decision.action is None
    assert decision.code is Code.SUSPENDED and decision.outcome.said.get("by") == "bob"
    assert driver.tick().phase is Phase.DRIFTED


def test_approval_of_step_1_holds_in_drifted_and_asks_once() -> None:
    driver = Driver(hooks(approvals=(1,)), World())
    first = driver.decide()
    second = driver.decide()
    assert first.phase is second.phase is Phase.DRIFTED
    assert first.code is second.code is Code.APPROVAL_MISSING and second.outcome.said.get("step") == 1
    needed = [e for e in driver.events if e.kind is EventKind.APPROVAL_NEEDED]
    assert len(needed) == 1


def test_undeclared_replication_partner_stalls_before_step_1() -> None:
    world = World()
    world.restore_replication("Site North")
    driver = Driver(hooks(), world)
    assert driver.decide().phase is Phase.DRIFTED
    decision = driver.decide()
    assert decision.phase is Phase.STALLED
    assert decision.record.stall is not None and decision.record.stall.code == "UndeclaredPartner"
    assert decision.code is Code.UNDECLARED_PARTNER and decision.outcome.said.get("names") == ("Site North",)
    assert decision.remedy is not None and "add Site North to spec.replication.partners" in decision.remedy
    assert decision.record.step == 0


def test_drifted_server_converges_when_the_desired_certificate_appears() -> None:
    driver = Driver(hooks(approvals=(1,)), World())
    driver.decide()
    driver.world.install(NEW)
    decision = driver.decide()
    assert decision.phase is Phase.IN_SYNC
    assert decision.record.rollout_id is None
    assert decision.code is Code.CONVERGED


def test_rollout_started_with_an_unknown_procedure_version_holds() -> None:
    driver = Driver(hooks(), World())
    driver.run_until(Phase.WAITING_UNVERIFIED)
    assert driver.record is not None
    driver.record = replace(driver.record, procedure_version=9)
    driver.world.advance(timedelta(days=5))
    decision = driver.tick()
    assert decision.phase is Phase.WAITING_UNVERIFIED
    assert decision.code is Code.PROCEDURE_VERSION_UNKNOWN and decision.outcome.said.get("version") == 9


def test_decide_refuses_a_record_of_another_server_and_naive_time() -> None:
    world = World()
    record = Driver(hooks(), world).decide().record
    with pytest.raises(ValueError, match="record of 'sepm-east-01' given for server 'sepm-west-01'"):
        decide(
            make_spec("sepm-west-01", site="Site West", partners=()),
            NEW,
            None,
            record,
            now=T0,
            spec_revision="r",
        )
    with pytest.raises(ValueError, match="now must be timezone-aware"):
        decide(make_spec(), NEW, None, None, now=T0.replace(tzinfo=None), spec_revision="r")


def test_same_inputs_give_the_same_decision() -> None:
    world = World()
    spec = hooks()
    first = decide(spec, NEW, world.observe(None), None, now=T0, spec_revision="r", tuning=FAST)
    second = decide(spec, NEW, world.observe(None), None, now=T0, spec_revision="r", tuning=FAST)
    assert first == second
