"""Whole rollouts through decide(): the safety properties hold from drift to in sync, alone and in pairs."""

from __future__ import annotations

from datetime import timedelta

from reconciler.core.actions import (
    Action,
    BreakReplication,
    Performer,
    ReplicateNow,
    RestoreReplication,
    UpdateCertificate,
)
from reconciler.core.attempts import complete_attempt
from reconciler.core.codes import Code
from reconciler.core.decide import partner_records
from reconciler.core.events import EventKind
from reconciler.core.observation import ReplicationPartner
from reconciler.core.procedure import Phase
from reconciler.core.record import RolloutRecord
from tests.support.manager import HTTP_LIST, NEW, NEWER, OLD, ORIGINAL_LIST, Driver, World, hooked

HOUR = timedelta(hours=1)
STAGES = [
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


def transitions(driver: Driver) -> list[Phase]:
    return [e.to_phase for e in driver.events if e.kind is EventKind.TRANSITION and e.to_phase is not None]


def test_one_server_goes_from_drift_to_in_sync_without_swapping_under_verification() -> None:
    world = World()
    driver = Driver(hooked(), world)
    swaps = []
    for _ in range(200):
        decision = driver.decide()
        if isinstance(decision.action, UpdateCertificate):
            swaps.append(world.now)
            assert all(g.flag is False for g in world.groups), "the certificate changed while clients verify"
            assert all(g.list_name == HTTP_LIST for g in world.groups), "… or while they use an HTTPS list"
            assert decision.record.observed is not None and decision.record.observed.ack_ratio == 1.0
        if decision.action is not None:
            world.apply(decision.action)
            assert driver.record is not None
            driver.record, _ = complete_attempt(
                driver.record, decision.action, now=world.now, succeeded=True, exit_code=0
            )
        if decision.phase is Phase.IN_SYNC:
            break
        world.advance(HOUR)
    assert decision.phase is Phase.IN_SYNC
    assert transitions(driver) == [*STAGES, Phase.IN_SYNC]
    assert len(swaps) == 1
    assert all(g.flag is True for g in world.groups)
    assert all(g.list_name == ORIGINAL_LIST for g in world.groups)
    assert world.served == {"clients": NEW, "console": NEW, "api": NEW}
    assert world.partners["Site West"].status_code == "SUCCEEDED"
    # the minimum soaks were honoured on the manager's clock, from the change times clients had to acknowledge
    entered = {d.phase: d for d in driver.decisions if d.moved}
    off = entered[Phase.WAITING_UNVERIFIED].record.facts.verification_off_at
    on = entered[Phase.WAITING_VERIFIED].record.facts.verification_on_at
    assert off is not None and on is not None
    skew = world.manager_skew
    served = entered[Phase.FETCHING_CERTIFICATE].record.facts.certificate_served_at
    assert served is not None
    assert entered[Phase.UPDATING_CERTIFICATE].record.entered_at + skew - off >= timedelta(hours=24)
    assert entered[Phase.ENABLING_VERIFICATION].record.entered_at + skew - served >= timedelta(hours=24)
    assert entered[Phase.RESTORING_REPLICATION].record.entered_at + skew - on >= timedelta(hours=24)
    # step 3 counted from the later of 2a's and 2b's changes, step 6 from the later of 5a's and 5b's
    switched = entered[Phase.WAITING_UNVERIFIED].record.facts.list_switched_at
    restored = entered[Phase.WAITING_VERIFIED].record.facts.list_restored_at
    assert switched is not None and switched <= off
    assert restored is not None and restored >= on


class Pair:
    """Two managers replicating with each other; partnership changes and replication runs show on both sides."""

    def __init__(self, west_soak: str) -> None:
        self.east = Driver(hooked(), World())
        self.west = Driver(
            hooked(name="sepm-west-01", site="Site West", partners=("Site East",), min_soak=west_soak),
            World(name="sepm-west-01", site="Site West", partners={}),
        )
        self.west.world.partners["Site East"] = ReplicationPartner("Site East", "SUCCEEDED")
        self.specs = [self.east.spec, self.west.spec]

    def other(self, driver: Driver) -> Driver:
        return self.west if driver is self.east else self.east

    def apply(self, driver: Driver, action: Action) -> None:
        other = self.other(driver)
        match action:
            case BreakReplication():
                driver.world.break_replication()
                other.world.break_replication()
            case RestoreReplication():
                driver.world.restore_replication(other.world.site)
                other.world.restore_replication(driver.world.site)
            case ReplicateNow():
                driver.world.replicate(other.world.site)
                other.world.replicate(driver.world.site)
            case _:
                driver.world.apply(action)

    def records(self) -> dict[str, RolloutRecord]:
        return {d.spec.name: d.record for d in (self.east, self.west) if d.record is not None}

    def tick(self, driver: Driver) -> None:
        driver.partners = partner_records(driver.spec, self.specs, self.records())
        decision = driver.decide()
        if decision.action is not None and decision.action.performer is not Performer.MANUAL:
            self.apply(driver, decision.action)
            assert driver.record is not None
            driver.record, _ = complete_attempt(
                driver.record, decision.action, now=driver.world.now, succeeded=True, exit_code=0
            )


def test_two_partners_rotate_together_and_restore_only_when_both_reached_step_7() -> None:
    pair = Pair(west_soak="72h")  # the west waits longer for its clients
    east_waited = False
    explained = False
    for _ in range(400):
        for driver in (pair.east, pair.west):
            pair.tick(driver)
        east, west = pair.east.record, pair.west.record
        assert east is not None and west is not None
        if east.step == 7 and west.step < 7:
            east_waited = True
            assert not pair.east.world.partners, "replication restored while the partner is half-rotated"
            explained = explained or east.code == "PartnerRotating"
        if east.in_sync and west.in_sync:
            break
        pair.east.world.advance(HOUR)
        pair.west.world.advance(HOUR)
    assert pair.east.record is not None and pair.east.record.in_sync
    assert pair.west.record is not None and pair.west.record.in_sync
    assert east_waited and explained
    for driver in (pair.east, pair.west):
        assert transitions(driver)[-1] is Phase.IN_SYNC
        assert driver.world.served == {"clients": NEW, "console": NEW, "api": NEW}
        assert all(g.flag is True for g in driver.world.groups)
        [partner] = driver.world.partners.values()
        assert partner.status_code == "SUCCEEDED"


def test_spec_reverted_to_the_served_certificate_before_step4_undoes_and_ends_in_sync() -> None:
    driver = Driver(hooked(), World())
    driver.run_until(Phase.WAITING_UNVERIFIED, step=HOUR)
    driver.desired = OLD  # the commit is reverted
    decision = driver.tick()
    assert decision.phase is Phase.ROLLING_BACK
    assert decision.code is Code.SPEC_REVERTED
    final = driver.run_until(Phase.IN_SYNC, step=HOUR)
    assert final.code is Code.ROLLED_BACK
    assert all(g.flag is True for g in driver.world.groups)
    assert driver.world.partners["Site West"].status_code == "SUCCEEDED"
    assert final.record.rollout_id is None and final.record.aborted is None


def test_new_certificate_after_step4_finishes_the_rollout_then_starts_another() -> None:
    driver = Driver(hooked(), World())
    driver.run_until(Phase.WAITING_VERIFIED, step=HOUR)
    driver.desired = NEWER
    driver.run_until(Phase.DRIFTED, step=HOUR)
    assert driver.world.served["clients"] == NEW  # the first rollout finished with its own target
    decision = driver.run_until(Phase.IN_SYNC, step=HOUR, limit=300)
    assert driver.world.served == {"clients": NEWER, "console": NEWER, "api": NEWER}
    rollouts = {e.rollout_id for e in driver.events if e.kind is EventKind.TRANSITION and e.rollout_id}
    assert len(rollouts) == 2
    assert decision.record.in_sync


def test_verification_reverted_by_the_rejoin_is_enabled_and_waited_for_again() -> None:
    driver = Driver(hooked(), World())
    driver.run_until(Phase.RESTORING_REPLICATION, step=HOUR)
    world = driver.world
    reverted = False
    for _ in range(200):
        decision = driver.decide()
        action = decision.action
        if action is not None:
            world.apply(action)
            if isinstance(action, ReplicateNow) and not reverted:
                world.set_verification(False, {"g-root"})  # the joined site's database overwrote the flag
                reverted = True
            assert driver.record is not None
            driver.record, _ = complete_attempt(driver.record, action, now=world.now, succeeded=True)
        if decision.phase is Phase.IN_SYNC:
            break
        world.advance(HOUR)
    assert reverted
    assert transitions(driver)[-6:] == [
        Phase.RESTORING_REPLICATION,
        Phase.ENABLING_VERIFICATION,
        Phase.RESTORING_ORIGINAL_LIST,  # already on it: read back at once
        Phase.WAITING_VERIFIED,
        Phase.RESTORING_REPLICATION,
        Phase.IN_SYNC,
    ]
    assert all(g.flag is True for g in world.groups)


def test_a_list_reverted_by_the_rejoin_is_restored_and_waited_for_again() -> None:
    driver = Driver(hooked(), World())
    driver.run_until(Phase.RESTORING_REPLICATION, step=HOUR)
    world = driver.world
    reverted = False
    for _ in range(200):
        decision = driver.decide()
        action = decision.action
        if action is not None:
            world.apply(action)
            if isinstance(action, ReplicateNow) and not reverted:
                world.groups[1].list_name = HTTP_LIST  # the joined site's database brought the HTTP list back
                reverted = True
            assert driver.record is not None
            driver.record, _ = complete_attempt(driver.record, action, now=world.now, succeeded=True)
        if decision.phase is Phase.IN_SYNC:
            break
        world.advance(HOUR)
    assert reverted
    assert transitions(driver)[-5:] == [
        Phase.RESTORING_REPLICATION,
        Phase.RESTORING_ORIGINAL_LIST,
        Phase.WAITING_VERIFIED,
        Phase.RESTORING_REPLICATION,
        Phase.IN_SYNC,
    ]
    assert all(g.list_name == ORIGINAL_LIST for g in world.groups)


def test_a_list_reverted_while_waiting_unverified_is_switched_again_without_touching_the_flags() -> None:
    """3 → 2a → 2b: the flags are still off and the list switch moved every serial after they were, so 2b sends
    nothing (a manager need not move the serial of a no-op PATCH) and step 3 waits for the re-switch's policy."""
    driver = Driver(hooked(), World())
    driver.run_until(Phase.WAITING_UNVERIFIED, step=HOUR)
    world = driver.world
    world.groups[1].list_name = ORIGINAL_LIST  # an administrator put one group back on the HTTPS list
    world.advance(HOUR)
    actions: list[Action] = []
    for _ in range(100):
        decision = driver.decide()
        if decision.action is not None:
            actions.append(decision.action)
            world.apply(decision.action)
            assert driver.record is not None
            driver.record, _ = complete_attempt(driver.record, decision.action, now=world.now, succeeded=True)
        if decision.phase is Phase.UPDATING_CERTIFICATE:
            break
        world.advance(HOUR)
    assert transitions(driver)[-4:] == [
        Phase.SWITCHING_TO_HTTP_LIST,
        Phase.DISABLING_VERIFICATION,
        Phase.WAITING_UNVERIFIED,
        Phase.UPDATING_CERTIFICATE,
    ]
    assert [a.kind.value for a in actions] == ["switch_to_http_list"]  # the flags were not PATCHed again
    assert driver.record is not None
    facts = driver.record.facts
    # 2b sent nothing: the change is its start, and every group's clients count against its current policy (the one
    # the list switch saved for the group switched again, the earlier one for the others)
    assert facts.list_switched_at is not None and facts.verification_off_at is not None
    assert facts.verification_off_at >= facts.list_switched_at
    assert set(facts.verification_unchanged) == {g.id for g in world.groups if g.managed}
    assert all(g.list_name == HTTP_LIST and g.flag is False for g in world.groups)
