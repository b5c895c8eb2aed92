"""Operator requests — approve, suspend, resume, abort — and how decide() carries them out or refuses them."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from reconciler.core.actions import (
    Performer,
    ReplicateNow,
    RestoreOriginalList,
    RestoreReplication,
    SetVerification,
    SwitchToHttpList,
)
from reconciler.core.codes import Code
from reconciler.core.events import EventKind
from reconciler.core.procedure import Phase
from reconciler.core.record import RolloutRecord
from reconciler.core.requests import approve, carried_forward, request_abort, resume, suspend
from reconciler.errors import PermanentError
from tests.support.manager import NEW, NEWER, OLD, ORIGINAL_LIST, T0, Driver, World, hooked

HOUR = timedelta(hours=1)


def at(phase: Phase, **spec: Any) -> Driver:
    driver = Driver(hooked(**spec), World())
    driver.run_until(phase, step=HOUR, limit=100)
    return driver


def record_of(driver: Driver) -> RolloutRecord:
    assert driver.record is not None
    return driver.record


# --- approve -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("phase", "kwargs", "message"),
    [
        (Phase.WAITING_UNVERIFIED, {"step": 9}, r"--step must be a step of the procedure, 1 to 7 \(got 9\)"),
        (Phase.WAITING_UNVERIFIED, {"step": 0}, r"1 to 7 \(got 0\)"),
        (Phase.WAITING_UNVERIFIED, {"step": 4, "by": "  "}, "--by must not be empty"),
        (Phase.WAITING_UNVERIFIED, {"step": 4, "reason": ""}, "--reason must not be empty"),
        (
            Phase.WAITING_UNVERIFIED,
            {"step": 2},
            r"step 2 of rollout r-\S+ has already started \(the rollout is at step 3\)",
        ),
        (
            Phase.WAITING_UNVERIFIED,
            {"step": 6, "accept_at_risk": True},
            "--accept-at-risk applies to steps 4 and 5 and 7",
        ),
        (
            Phase.DISABLING_VERIFICATION,
            {"step": 2},
            r"step 2 of rollout r-\S+ has already started \(the rollout is at step 2b\)",
        ),
        (
            Phase.IN_SYNC,
            {"step": 4},
            r"sepm-east-01 has no rollout in progress \(in_sync\): nothing to approve",
        ),
    ],
    ids=[
        "step-9",
        "step-0",
        "no-by",
        "no-reason",
        "already-started",
        "at-risk-step-6",
        "step-2-in-2b-is-no-confirmation",
        "no-rollout",
    ],
)
def test_approve_refuses_with_a_precise_message(phase: Phase, kwargs: dict[str, Any], message: str) -> None:
    driver = Driver(hooked(), World())
    if phase is Phase.IN_SYNC:
        driver.world.install(NEW)
    driver.run_until(phase, step=HOUR)
    arguments: dict[str, Any] = {"step": 4, "by": "alice", "reason": "CAB-1", "now": T0} | kwargs
    with pytest.raises(PermanentError, match=message):
        approve(record_of(driver), **arguments)


def test_approve_of_step_2_during_a_manual_2a_confirms_the_list_where_the_manager_does_not_show_it() -> None:
    world = World(lists_shown=False)
    driver = Driver(hooked(switch_to_http_list="manual"), world)
    driver.run_until(Phase.SWITCHING_TO_HTTP_LIST, step=HOUR)
    decision = driver.decide()
    action = decision.action
    assert isinstance(action, SwitchToHttpList) and action.performer is Performer.MANUAL
    assert (
        "Use HTTP protocol" in action.instructions and "approve sepm-east-01 --step 2" in action.instructions
    )
    world.advance(HOUR)
    world.apply(action)  # the operator assigns the list: the serials move, the API shows no list
    assert driver.decide().phase is Phase.SWITCHING_TO_HTTP_LIST, "a serial move alone is not enough"
    driver.record, event = approve(record_of(driver), step=2, by="bob", reason="assigned", now=world.now)
    assert event.reason == "step 2 confirmed by bob: assigned"
    decision = driver.decide()
    assert decision.phase is Phase.DISABLING_VERIFICATION and decision.code is Code.LIST_SWITCHED
    assert decision.outcome.said.get("evidence") == "serial_and_confirmed"
    assert "an operator confirmed" in decision.reason


def test_accept_at_risk_records_how_many_were_at_risk() -> None:
    driver = at(Phase.WAITING_UNVERIFIED)
    driver.world.acknowledged = 1888
    driver.decide()
    record, event = approve(
        record_of(driver), step=4, by="alice", reason="spares", now=T0, accept_at_risk=True
    )
    approval = record.approvals[-1]
    assert (approval.accept_at_risk, approval.at_risk_accepted, approval.fingerprint) == (True, 12, NEW)
    assert event.kind is EventKind.APPROVAL and event.actor == "alice"
    assert event.reason == "step 4 approved by alice: spares (accepting 12 client(s) at risk)"
    assert record.next_check_at == T0  # looked at promptly


def test_an_approval_does_not_carry_over_to_a_new_target() -> None:
    driver = at(Phase.WAITING_UNVERIFIED, approvals=(4,))
    driver.record, _ = approve(record_of(driver), step=4, by="alice", reason="CAB-1", now=driver.world.now)
    driver.desired = NEWER  # a new certificate is committed before step 4
    driver.world.advance(timedelta(days=2))
    decision = driver.decide()
    assert decision.phase is Phase.WAITING_UNVERIFIED
    assert decision.record.target_fingerprint == NEWER
    assert decision.code is Code.APPROVAL_MISSING and decision.outcome.said.get("step") == 4
    assert any(e.kind is EventKind.RETARGET for e in decision.events)


# --- suspend / resume ----------------------------------------------------------------------------------------------


def test_suspend_twice_is_refused_and_resume_lifts_it() -> None:
    driver = at(Phase.WAITING_UNVERIFIED)
    record, event = suspend(record_of(driver), by="bob", reason="freeze", now=T0)
    assert event.kind is EventKind.SUSPENDED
    with pytest.raises(PermanentError, match=r"already suspended \(by bob at 2026-12-01 08:00 UTC: freeze\)"):
        suspend(record, by="eve", reason="again", now=T0)
    record, event = resume(record, by="bob", now=T0)
    assert record.suspension is None
    assert event.kind is EventKind.RESUMED and "suspension lifted" in event.reason


def test_resume_with_nothing_to_resume_is_refused() -> None:
    driver = at(Phase.WAITING_UNVERIFIED)
    with pytest.raises(
        PermanentError, match="nothing to resume: sepm-east-01 is not suspended, stalled or aborted"
    ):
        resume(record_of(driver), by="bob", now=T0)


# --- abort ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("phase", "message"),
    [
        (Phase.ENABLING_VERIFICATION, "is at step 5: the served certificate has already changed"),
        (Phase.WAITING_VERIFIED, "is at step 6"),
        (Phase.IN_SYNC, "has no rollout in progress"),
    ],
    ids=["step-5", "step-6", "in-sync"],
)
def test_abort_is_refused_from_the_point_of_no_return(phase: Phase, message: str) -> None:
    driver = Driver(hooked(), World())
    if phase is Phase.IN_SYNC:
        driver.world.install(NEW)
    driver.run_until(phase, step=HOUR, limit=100)
    with pytest.raises(PermanentError, match=message) as error:
        request_abort(record_of(driver), by="eve", reason="cold feet", now=T0)
    if phase is not Phase.IN_SYNC:
        assert "only goes forward" in str(error.value)


def test_abort_is_refused_once_a_port_presented_another_certificate() -> None:
    # Step 4 is entered at the end of the window, so nothing was run — but someone swaps the clients' certificate
    # anyway, outside the window. (From then on the instructions are shown at any time: the swap must be finished.)
    window = {
        "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
        "start": "08:00",
        "end": "09:00",
        "timezone": "UTC",
    }
    driver = Driver(hooked(update_certificate="manual", window=window), World())
    driver.run_until(Phase.WAITING_UNVERIFIED, step=timedelta(minutes=1))
    driver.world.now = driver.world.now.replace(day=2, hour=8, minute=59)
    assert driver.decide().phase is Phase.UPDATING_CERTIFICATE
    driver.world.now = driver.world.now.replace(hour=9, minute=30)
    driver.world.install(NEW, ("clients",))
    decision = driver.decide()
    assert decision.record.facts.certificate_changed_at is not None
    assert not [a for a in decision.record.attempts if a.step == 4]
    with pytest.raises(PermanentError, match=r"at step 4 and a port has presented another certificate since"):
        request_abort(record_of(driver), by="eve", reason="cold feet", now=T0)


def test_abort_is_refused_once_the_update_has_begun() -> None:
    driver = at(Phase.UPDATING_CERTIFICATE)
    driver.decide()  # attempt 1 of the update hook starts
    with pytest.raises(
        PermanentError, match=r"at step 4 and the certificate update has begun \(attempt 1 started"
    ):
        request_abort(record_of(driver), by="eve", reason="cold feet", now=T0)


def test_abort_before_step4_rolls_back_verification_then_replication() -> None:
    driver = at(Phase.WAITING_UNVERIFIED)
    world = driver.world
    assert not world.partners and all(g.flag is False for g in world.groups)
    driver.record, event = request_abort(
        record_of(driver), by="eve", reason="wrong certificate", now=world.now
    )
    assert event.kind is EventKind.ABORT_REQUESTED
    decision = driver.decide()
    assert decision.phase is Phase.ROLLING_BACK
    assert decision.events[-1].actor == "eve"
    decision = driver.tick()
    assert isinstance(decision.action, SetVerification) and decision.action.enabled is True
    assert {g.id for g in decision.action.groups} == {"g-root", "g-laptops"}
    decision = driver.tick()
    assert isinstance(decision.action, RestoreOriginalList)  # 2a switched the list: it goes back too
    assert decision.action.list_name == ORIGINAL_LIST and decision.action.step == 5
    decision = driver.tick()
    assert isinstance(decision.action, RestoreReplication)
    decision = driver.tick()
    assert isinstance(decision.action, ReplicateNow)
    decision = driver.tick()
    assert decision.phase is Phase.DRIFTED
    assert decision.code is Code.ROLLED_BACK
    assert decision.outcome.said.get("why").startswith("abort requested by eve (wrong certificate)")
    assert all(g.flag is True for g in world.groups)
    assert all(g.list_name == ORIGINAL_LIST for g in world.groups)
    assert world.partners["Site West"].status_code == "SUCCEEDED"
    assert world.served == {"clients": OLD, "console": OLD, "api": OLD}
    assert any(e.kind is EventKind.ABORTED for e in decision.events)
    # held, not restarted for the same certificate and revision
    world.advance(timedelta(days=1))
    decision = driver.tick()
    assert decision.phase is Phase.DRIFTED
    assert decision.code is Code.ABORTED and decision.outcome.said.get("by") == "eve"
    driver.record, _ = resume(record_of(driver), by="eve", now=world.now)
    assert driver.decide().phase is Phase.BREAKING_REPLICATION


def test_abort_restores_only_groups_that_verified_before() -> None:
    world = World()
    world.groups[1].flag = False  # Laptops did not verify before the rollout
    driver = Driver(hooked(), world)
    driver.run_until(Phase.WAITING_UNVERIFIED, step=HOUR)
    driver.record, _ = request_abort(record_of(driver), by="eve", reason="x", now=world.now)
    driver.decide()
    decision = driver.tick()
    assert isinstance(decision.action, SetVerification)
    assert [g.id for g in decision.action.groups] == ["g-root"]


def test_a_new_revision_restarts_an_aborted_rollout() -> None:
    driver = at(Phase.DRIFTED, approvals=(1,))
    driver.record, _ = request_abort(record_of(driver), by="eve", reason="not now", now=driver.world.now)
    decision = driver.decide()
    assert decision.phase is Phase.DRIFTED and decision.code is Code.ABORTED
    driver.spec = hooked()  # approvals removed in a new commit
    assert driver.decide().phase is Phase.DRIFTED  # same revision: still held
    driver.revision = "rev-2"
    assert driver.decide().phase is Phase.BREAKING_REPLICATION


def test_an_abort_that_arrives_after_the_update_began_is_refused_by_decide() -> None:
    driver = at(Phase.WAITING_UNVERIFIED)
    early = request_abort(record_of(driver), by="eve", reason="x", now=driver.world.now)[0].abort_request
    driver.world.advance(timedelta(days=2))
    driver.tick()  # → step 4
    driver.decide()  # the update hook starts
    driver.record = replace(record_of(driver), abort_request=early)  # the request raced the daemon
    decision = driver.decide()
    assert decision.phase is Phase.UPDATING_CERTIFICATE
    refused = [e for e in decision.events if e.kind is EventKind.ABORT_REFUSED]
    assert len(refused) == 1 and refused[0].code == "AbortRefused"
    assert "the certificate update has begun" in refused[0].reason
    assert decision.record.abort_request is None


# --- what an approval needs, twice, and carried forward ------------------------------------------------------------


def test_approve_refuses_a_step_the_spec_does_not_ask_to_approve_saying_what_it_asks() -> None:
    driver = at(Phase.WAITING_UNVERIFIED, approvals=(7,))
    with pytest.raises(PermanentError, match=r"step 4 of sepm-east-01 needs no approval: spec.rollout.approvals lists 7 .*add --accept-at-risk"):  # fmt: skip
        approve(record_of(driver), step=4, by="alice", reason="CAB-1", now=T0)


def test_approving_twice_changes_nothing() -> None:
    driver = at(Phase.WAITING_UNVERIFIED, approvals=(4,))
    record, event = approve(record_of(driver), step=4, by="alice", reason="CAB-1", now=T0)
    assert event is not None
    again, none = approve(record, step=4, by="bob", reason="CAB-1 again", now=T0 + HOUR)
    assert none is None and again is record and len(again.approvals) == 1


def test_accepting_when_nothing_is_at_risk_is_refused() -> None:
    driver = at(Phase.WAITING_UNVERIFIED)
    driver.decide()  # every client has the change
    with pytest.raises(PermanentError, match=r"no client of sepm-east-01 is at risk .*nothing to accept"):
        approve(record_of(driver), step=4, by="alice", reason="spares", now=T0, accept_at_risk=True)


def test_an_acceptance_of_named_clients_carries_forward_to_step_7_for_the_same_clients() -> None:
    driver = at(Phase.WAITING_UNVERIFIED, min_ack_ratio=1.0)
    driver.world.list_at_risk = True
    driver.world.acknowledged = 1888  # 12 laptops away
    driver.world.advance(timedelta(days=1))
    driver.decide()
    driver.record, event = approve(
        record_of(driver), step=4, by="alice", reason="retired", now=driver.world.now, accept_at_risk=True
    )
    assert event is not None and record_of(driver).approvals[-1].at_risk_names[:2] == (
        "laptop-0000",
        "laptop-0001",
    )
    [said] = carried_forward(record_of(driver))  # what plan says while it still has steps ahead
    assert said == (
        "12 client(s) at risk accepted at step 4 by alice, by name: steps 5 and 7 go on without a second "
        "acceptance while only the same clients are at risk"
    )
    driver.run_until(Phase.WAITING_VERIFIED, step=HOUR)
    driver.world.advance(timedelta(days=1))
    decision = driver.run_until(Phase.RESTORING_REPLICATION, step=HOUR)  # the same 12 are still away
    moved = next(
        d
        for d in driver.decisions
        if d.code is Code.AT_RISK_ACCEPTED and d.phase is Phase.RESTORING_REPLICATION
    )
    assert moved.outcome.said.get("accepted_at_step") == 4
    assert "accepted at step 4: the same clients, by name" in moved.reason
    assert decision.phase is Phase.RESTORING_REPLICATION


def test_an_acceptance_does_not_carry_forward_when_other_clients_are_at_risk() -> None:
    driver = at(Phase.WAITING_UNVERIFIED, min_ack_ratio=1.0, max_soak="3d")
    driver.world.list_at_risk = True
    driver.world.acknowledged = 1895  # 5 laptops away, accepted by name
    driver.world.advance(timedelta(days=1))
    driver.decide()
    driver.record, _ = approve(
        record_of(driver), step=4, by="alice", reason="retired", now=driver.world.now, accept_at_risk=True
    )
    driver.run_until(Phase.WAITING_VERIFIED, step=HOUR)
    driver.world.acknowledged = 1888  # 12 now: 7 of them were never accepted
    driver.world.advance(timedelta(days=1))
    decision = driver.decide()
    assert decision.phase is Phase.WAITING_VERIFIED and decision.code is Code.CLIENTS_NOT_READY


def test_a_rollout_does_not_start_while_a_hook_cannot_run() -> None:
    from reconciler.core.decide import decide
    from tests.support.manager import FAST

    driver = Driver(hooked(), World())
    problem = "east.yaml:30:9: spec.rollout.actions.updateCertificate.command: the hook program ./swap.sh does not exist"
    held = decide(
        driver.spec,
        NEW,
        driver.world.observe(None),
        None,
        now=T0,
        spec_revision="r",
        tuning=FAST,
        hook_error=problem,
    )
    assert held.code is Code.HOOK_UNUSABLE and held.phase is Phase.DRIFTED and held.action is None
    assert problem in held.reason
    fixed = decide(
        driver.spec,
        NEW,
        driver.world.observe(held.record),
        held.record,
        now=T0,
        spec_revision="r",
        tuning=FAST,
    )
    assert fixed.phase is Phase.BREAKING_REPLICATION  # once it can run, the rollout starts
