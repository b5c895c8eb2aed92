"""The end state is observed, not remembered (#17 findings 1, 4 and 9), through decide() on a scripted manager.

In sync means every port presents the desired certificate **and** every managed group verifies **and** every
declared partner replicates. Anything else is drift resolved from observation alone through steps 5-7 and their
gates; a record from an older state (a restored backup) never moves back past the swap.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.core.codes import Code
from reconciler.core.events import EventKind
from reconciler.core.procedure import STANDARD, Phase
from reconciler.core.record import RolloutRecord
from tests.support.manager import NEW, OLD, Driver, World, hooked

HOUR = timedelta(hours=1)


def _run(driver: Driver, until: Phase, limit: int = 300) -> None:
    for _ in range(limit):
        decision = driver.tick()
        if decision.phase is until:
            return
        driver.world.advance(HOUR)
    raise AssertionError(f"never reached {until}: {driver.decisions[-1].reason}")


def _lost_after_step_4() -> World:
    """A manager whose rollout passed step 4 when its state was lost: new certificate, verification off on every
    group, replication broken."""
    world = World()
    world.install(NEW)
    world.set_verification(False)
    world.break_replication()
    return world


def test_state_lost_after_step_4_is_resolved_through_steps_5_to_7_never_reported_in_sync() -> None:
    world = _lost_after_step_4()
    driver = Driver(hooked(), world)  # no record: the state is gone
    first = driver.tick()
    assert first.phase is not Phase.IN_SYNC, "in sync with verification off and replication broken"
    assert first.phase is Phase.ENABLING_VERIFICATION
    assert first.code is Code.END_STATE_DRIFT
    seen = [first.phase]
    for _ in range(300):
        world.advance(HOUR)
        decision = driver.tick()
        seen.append(decision.phase)
        if decision.phase is Phase.IN_SYNC:
            break
        assert not (decision.phase is Phase.IN_SYNC and any(g.flag is False for g in world.groups))
    assert seen[-1] is Phase.IN_SYNC
    assert Phase.WAITING_VERIFIED in seen and Phase.RESTORING_REPLICATION in seen
    assert all(g.flag is True for g in world.groups)
    assert "Site West" in world.partners
    assert driver.record is not None and driver.record.rollout_id is None  # closed


@pytest.mark.parametrize("broken", ["verification", "replication"])
def test_an_in_sync_server_whose_end_state_goes_missing_is_not_in_sync(broken: str) -> None:
    world = World()
    world.install(NEW)
    driver = Driver(hooked(), world)
    assert driver.tick().phase is Phase.IN_SYNC
    if broken == "verification":
        world.set_verification(False, {"g-laptops"})
        expected = Phase.ENABLING_VERIFICATION
    else:
        world.break_replication()
        expected = Phase.RESTORING_REPLICATION
    world.advance(HOUR)
    decision = driver.tick()
    assert decision.phase is expected, decision.reason
    assert decision.code is Code.END_STATE_DRIFT
    _run(driver, Phase.IN_SYNC)
    assert all(g.flag for g in world.groups) and "Site West" in world.partners


def test_end_state_drift_is_held_by_report_mode_and_approvals() -> None:
    world = _lost_after_step_4()
    report = Driver(hooked(mode="report"), world)
    decision = report.tick()
    assert decision.phase is Phase.DRIFTED, decision.reason
    assert decision.action is None
    approved = Driver(hooked(approvals=(5,)), _lost_after_step_4())
    held = approved.tick()
    assert held.phase is Phase.DRIFTED and held.code is Code.APPROVAL_MISSING
    assert "step 5" in held.reason


def test_groups_unreadable_hold_a_new_server_rather_than_call_it_in_sync() -> None:
    world = World()
    world.install(NEW)
    world.unknown.add("groups")
    decision = Driver(hooked(), world).tick()
    assert decision.phase is Phase.NEW
    assert decision.code is Code.OBSERVATION_UNKNOWN


# --- finding 9: never start on a partial observation ---------------------------------------------------------------


@pytest.mark.parametrize("part", ["groups", "clients", "manager_time"])
def test_a_rollout_never_starts_on_a_partial_observation(part: str) -> None:
    world = World()
    world.unknown.add(part)
    driver = Driver(hooked(), world)
    for _ in range(5):
        decision = driver.tick()
        assert decision.phase in (Phase.NEW, Phase.DRIFTED)
        assert decision.action is None, "step 1 would break replication on a partial observation"
        world.advance(HOUR)
    assert decision.code is Code.OBSERVATION_UNKNOWN
    world.unknown.clear()
    assert driver.tick().phase is Phase.BREAKING_REPLICATION


# --- finding 4: replication re-established between steps -----------------------------------------------------------


@pytest.mark.parametrize("phase", [Phase.DISABLING_VERIFICATION, Phase.WAITING_UNVERIFIED])
def test_replication_back_before_the_swap_goes_back_to_step_1_which_breaks_it_again(phase: Phase) -> None:
    driver = Driver(hooked(), World())
    _run(driver, phase)
    driver.world.restore_replication("Site West")
    driver.world.advance(HOUR)
    decision = driver.tick()
    assert decision.phase is Phase.BREAKING_REPLICATION, decision.reason
    assert decision.code is Code.REPLICATION_REESTABLISHED
    _run(driver, Phase.IN_SYNC)
    breaks = [e for e in driver.events if e.kind is EventKind.ATTEMPT_STARTED and e.details.get("step") == 1]
    assert len(breaks) == 2


@pytest.mark.parametrize("phase", [Phase.ENABLING_VERIFICATION, Phase.WAITING_VERIFIED])
def test_replication_back_after_the_swap_stalls_with_its_code_and_remedy(phase: Phase) -> None:
    driver = Driver(hooked(), World())
    _run(driver, phase)
    driver.world.restore_replication("Site West")
    driver.world.advance(HOUR)
    decision = driver.tick()
    assert decision.phase is Phase.STALLED, decision.reason
    assert decision.code is Code.REPLICATION_REESTABLISHED
    assert decision.remedy is not None and "break the replication partnership" in decision.remedy


def test_step_7_restoring_replication_is_not_a_revert_when_the_rejoin_sends_it_back_to_step_5() -> None:
    driver = Driver(hooked(), World())
    _run(driver, Phase.RESTORING_REPLICATION)
    _run(driver, Phase.IN_SYNC)
    assert not any(d.code is Code.REPLICATION_REESTABLISHED for d in driver.decisions)


def test_step_7_waits_while_a_managed_partner_is_mid_rollout_even_if_replication_is_back() -> None:
    driver = Driver(hooked(), World())
    _run(driver, Phase.RESTORING_REPLICATION)
    stalled_partner = RolloutRecord(
        server="sepm-west-01",
        phase=Phase.STALLED,
        stalled_from=Phase.WAITING_UNVERIFIED,
        entered_at=driver.world.now,
        updated_at=driver.world.now,
        next_check_at=driver.world.now,
    )
    driver.partners = {"Site West": stalled_partner}
    driver.world.restore_replication("Site West")
    driver.world.replicate("Site West")
    for _ in range(5):
        driver.world.advance(HOUR)
        decision = driver.tick()
        assert decision.phase is Phase.RESTORING_REPLICATION
    assert decision.code is Code.PARTNER_ROTATING


# --- a restored older state --------------------------------------------------------------------------------------


@pytest.mark.parametrize("backup_at", [Phase.BREAKING_REPLICATION, Phase.WAITING_UNVERIFIED])
def test_an_older_record_restored_into_a_manager_past_step_4_goes_forward_to_the_end_state(
    backup_at: Phase,
) -> None:
    driver = Driver(hooked(), World())
    _run(driver, backup_at)
    backup = driver.record
    _run(driver, Phase.WAITING_VERIFIED)  # the manager went on past the swap
    driver.record = backup  # `state restore` of the older backup
    phases = []
    for _ in range(300):
        driver.world.advance(HOUR)
        decision = driver.tick()
        phases.append(decision.phase)
        if decision.phase is Phase.IN_SYNC:
            break
    assert phases[-1] is Phase.IN_SYNC
    order = [STANDARD.number_of(p) for p in phases if STANDARD.number_of(p)]
    after = order[order.index(4) :]
    assert min(after) >= 4, f"moved back past the point of no return: {order}"
    assert all(g.flag for g in driver.world.groups) and "Site West" in driver.world.partners
    assert driver.world.served["api"] == NEW
    assert [d for d in driver.decisions if d.code is Code.SWAP_OBSERVED], (
        "the swap is recognised from observation"
    )


# --- never back past the point of no return ------------------------------------------------------------------------


def test_no_move_of_the_table_leads_back_past_the_point_of_no_return() -> None:
    point = STANDARD.number_of(STANDARD.point_of_no_return.phase)
    for move in STANDARD.moves():
        if move.trigger != "advance" or not STANDARD.past_no_return(move.source):
            continue
        step = STANDARD.number_of(move.dest)
        assert move.dest is Phase.STALLED or step > point or move.dest is Phase.IN_SYNC or step == 0, move


@settings(max_examples=60, deadline=None)
@given(
    partners_back=st.booleans(),
    flags=st.lists(st.sampled_from([True, False, None]), min_size=2, max_size=2),
    served=st.sampled_from([OLD, NEW]),
    hours=st.integers(0, 48),
    replication_known=st.booleans(),
)
def test_once_a_port_changed_no_decision_goes_back_before_step_4(
    partners_back: bool, flags: list[bool | None], served: str, hours: int, replication_known: bool
) -> None:
    driver = Driver(hooked(), World())
    _run(driver, Phase.UPDATING_CERTIFICATE)
    world = driver.world
    world.install(NEW, ("clients",))  # the swap began: one port changed
    driver.decide()
    assert driver.record is not None and driver.record.facts.certificate_changed_at is not None
    world.served["console"] = served
    for group, flag in zip(world.groups, flags, strict=True):
        group.flag = flag
    if partners_back:
        world.restore_replication("Site West")
    if not replication_known:
        world.unknown.add("replication")
    world.advance(timedelta(hours=hours))
    decision = driver.decide()
    step = STANDARD.number_of(decision.record.working_phase)
    assert step == 0 or step >= 4, decision.reason
