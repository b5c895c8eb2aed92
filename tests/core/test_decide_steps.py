"""Each of the seven steps: what it does, the facts it waits for, what holds it, and every way it stalls."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from reconciler.core.actions import (
    BreakReplication,
    Performer,
    ReplicateNow,
    RestoreReplication,
    SetVerification,
    UpdateCertificate,
)
from reconciler.core.attempts import complete_attempt
from reconciler.core.codes import Code
from reconciler.core.decide import Decision, Hold, decide
from reconciler.core.events import EventKind
from reconciler.core.observation import PortOutcome, ReplicationPartner
from reconciler.core.procedure import Phase
from reconciler.core.record import Approval
from reconciler.core.requests import request_abort
from reconciler.core.said import Said
from tests.support.manager import (
    HTTP_LIST,
    NEW,
    NEWER,
    OLD,
    ROGUE,
    T0,
    Driver,
    Group,
    World,
    hooked,
    make_spec,
)

HOUR = timedelta(hours=1)


def said(decision: Decision) -> Said:
    """Why the decision is what it is: its code and facts."""
    return decision.outcome.said


def at(phase: Phase, driver: Driver | None = None, **spec: Any) -> Driver:
    """A driver whose server has just entered ``phase`` (hooks everywhere unless the spec says otherwise)."""
    driver = driver or Driver(hooked(**spec), World())
    driver.run_until(phase, step=HOUR, limit=400)
    return driver


# --- step 1 --------------------------------------------------------------------------------------------------------


def test_step1_manual_shows_console_instructions_until_the_partner_is_gone() -> None:
    driver = Driver(make_spec(), World())
    driver.decide()
    decision = driver.decide()
    assert decision.phase is Phase.BREAKING_REPLICATION
    action = decision.action
    assert isinstance(action, BreakReplication) and action.performer is Performer.MANUAL
    assert action.partners == ("Site West",)
    assert "Admin > Servers > Local Site (Site East) > Replication Partners" in action.instructions
    assert decision.record.pending_action is not None  # status shows the instructions
    assert decision.record.attempts == ()  # manual steps are not attempts
    assert driver.decide().phase is Phase.BREAKING_REPLICATION  # still there: nothing observed yet
    driver.world.break_replication()  # the operator deletes the partnership
    decision = driver.decide()
    assert decision.phase is Phase.SWITCHING_TO_HTTP_LIST
    assert decision.code is Code.REPLICATION_BROKEN
    assert (
        decision.reason
        == "replication with Site West is broken (observed): switch clients to the HTTP management server list next"
    )
    assert decision.record.facts.step_started_manager_time == driver.world.manager_time


def test_step1_without_declared_partners_is_done_at_once() -> None:
    world = World()
    world.partners.clear()
    driver = Driver(hooked(partners=()), world)
    driver.decide()
    decision = driver.decide()
    assert decision.phase is Phase.SWITCHING_TO_HTTP_LIST
    assert decision.code is Code.REPLICATION_BROKEN and said(decision).get("partners") == ()


@pytest.mark.parametrize(
    ("unknown", "what"),
    [("replication", "replication"), ("manager_time", "clock")],
    ids=["replication-unknown", "clock-unknown"],
)
def test_step1_holds_on_unknowns(unknown: str, what: str) -> None:
    driver = Driver(hooked(), World())
    driver.decide()
    driver.world.break_replication()
    driver.world.unknown.add(unknown)
    decision = driver.decide()
    assert decision.phase is Phase.BREAKING_REPLICATION
    assert decision.action is None
    assert decision.code is Code.OBSERVATION_UNKNOWN and said(decision).get("what") == what


# --- steps 2 and 5 -------------------------------------------------------------------------------------------------


def test_step2_patches_every_managed_group_and_records_the_change_time() -> None:
    world = World()
    world.groups.append(Group("g-inheriting", "My Company\\Laptops\\Berlin", managed=False))
    driver = at(Phase.DISABLING_VERIFICATION, Driver(hooked(), world))
    decision = driver.decide()
    action = decision.action
    assert isinstance(action, SetVerification) and action.performer is Performer.API
    assert action.enabled is False
    assert [g.id for g in action.groups] == ["g-root", "g-laptops"]  # not the inheriting one
    assert action.groups[0].location_id == "loc-default"
    assert decision.record.facts.verification_before == {"g-root": True, "g-laptops": True}
    world.set_verification(False, {"g-root"})
    world.advance(timedelta(seconds=1))
    world.set_verification(False, {"g-laptops"})
    first_change = world.groups[0].policy_time
    decision = driver.decide()
    assert decision.phase is Phase.WAITING_UNVERIFIED
    assert (
        decision.record.facts.verification_off_at == first_change
    )  # the earliest serial time: no client missed
    assert decision.code is Code.VERIFICATION_DISABLED and said(decision).get("change_time") == first_change


def test_step2_is_done_without_a_serial_move_when_every_flag_already_read_off_as_it_began() -> None:
    world = World()
    for group in world.groups:
        group.flag = False  # already off before the rollout: nothing to change, no serial will move
        group.list_name = HTTP_LIST  # and already on the HTTP list (step 2a done)
    driver = at(Phase.DISABLING_VERIFICATION, Driver(hooked(), world))
    assert driver.record is not None
    began = driver.record.facts.step_started_manager_time
    decision = driver.decide()
    assert decision.action is None and decision.phase is Phase.WAITING_UNVERIFIED
    facts = decision.record.facts
    assert set(facts.verification_before.values()) == {False}
    # no serial moved: the change clients must have is the one in force when the step began (each client is held to
    # its own group's current policy by the adapter's count)
    assert began is not None and facts.verification_off_at == began


def test_step2_waits_for_the_policy_serial_to_move_and_stalls_when_it_does_not() -> None:
    world = World()
    driver = at(Phase.DISABLING_VERIFICATION, Driver(hooked(), world))
    decision = driver.decide()  # the flags read on: step 2 records that, and acts
    assert decision.action is not None and set(decision.record.facts.verification_before.values()) == {True}
    for group in world.groups:
        group.flag = False  # the flag now reads off, but the manager saved no policy: no serial move
    decisions = [decision]
    assert driver.record is not None
    driver.record, _ = complete_attempt(driver.record, decision.action, now=world.now, succeeded=True)
    world.advance(timedelta(minutes=30))
    for _ in range(12):
        decision = driver.decide()  # the PATCH "succeeds" but changes nothing the manager shows
        if decision.action is not None:
            assert driver.record is not None
            driver.record, _ = complete_attempt(driver.record, decision.action, now=world.now, succeeded=True)
        decisions.append(decision)
        if decision.phase is Phase.STALLED:
            break
        world.advance(timedelta(minutes=30))
    assert decision.phase is Phase.STALLED
    assert decision.record.stall is not None and decision.record.stall.code == "SetVerificationFailed"
    assert "policy serial did not move" in (decision.remedy or "")
    assert sum(d.action is not None for d in decisions) == 3  # api_max_attempts of the FAST tuning


@pytest.mark.parametrize(
    ("setup", "what"),
    [
        (lambda w: w.unknown.add("groups"), "groups"),
        (lambda w: setattr(w.groups[1], "flag", None), "flags"),
    ],
    ids=["groups-unknown", "flag-unknown"],
)
def test_step2_holds_on_unknown_groups(setup: object, what: str) -> None:
    driver = at(Phase.DISABLING_VERIFICATION)
    setup(driver.world)  # type: ignore[operator]  # a lambda from the table
    decision = driver.decide()
    assert decision.phase is Phase.DISABLING_VERIFICATION
    assert decision.action is None
    assert decision.code is Code.OBSERVATION_UNKNOWN and said(decision).get("what") == what


def test_step2_stalls_when_no_managed_group_exists() -> None:
    world = World()
    for group in world.groups:
        group.managed = False
    driver = at(Phase.SWITCHING_TO_HTTP_LIST, Driver(hooked(groups=("My Company\\Nowhere",)), world))
    decision = driver.decide()
    assert decision.phase is Phase.STALLED
    assert decision.record.stall is not None and decision.record.stall.code == "NoManagedGroups"
    assert decision.code is Code.NO_MANAGED_GROUPS
    assert said(decision).get("chosen") == ("My Company\\Nowhere",)


def test_step5_enables_verification_and_records_the_new_change_time() -> None:
    driver = at(Phase.ENABLING_VERIFICATION)
    decision = driver.decide()
    assert isinstance(decision.action, SetVerification) and decision.action.enabled is True
    driver.world.apply(decision.action)
    decision = driver.decide()
    assert decision.phase is Phase.RESTORING_ORIGINAL_LIST  # 5b next: the original list back
    assert decision.record.facts.verification_on_at == driver.world.groups[0].policy_time
    assert (
        decision.record.facts.step_started_manager_time == driver.world.manager_time
    )  # 5b's serials from now


# --- steps 3 and 6 -------------------------------------------------------------------------------------------------


def test_step3_waits_until_ack_ratio_reached() -> None:
    driver = at(Phase.WAITING_UNVERIFIED)
    world = driver.world
    world.acknowledged, world.pending_offline, world.longest_unseen = 1834, 66, timedelta(days=3)
    world.advance(timedelta(days=2))
    decision = driver.decide()
    assert decision.phase is Phase.WAITING_UNVERIFIED
    assert decision.code is Code.CLIENTS_NOT_READY
    facts = said(decision).facts
    assert (facts["acknowledged"], facts["eligible"], facts["need"], facts["soaked"]) == (
        1834,
        1900,
        1.0,
        True,
    )
    assert (facts["pending_offline"], facts["longest_unseen"]) == (66, timedelta(days=3))
    assert (facts["at_risk_count"], facts["at_risk_names"]) == (
        66,
        ("laptop-0000", "laptop-0001", "laptop-0002"),
    )
    world.acknowledged = None
    assert driver.decide().phase is Phase.UPDATING_CERTIFICATE


def test_step3_waits_for_min_soak_on_the_manager_clock() -> None:
    world = World(manager_skew=timedelta(hours=-2))  # the manager's clock is two hours behind ours
    driver = at(Phase.WAITING_UNVERIFIED, Driver(hooked(), world))
    change = driver.record.facts.verification_off_at if driver.record else None
    assert change is not None
    world.now = change + timedelta(hours=25)  # 25 h on *our* clock, only 23 h on the manager's
    decision = driver.decide()
    assert decision.phase is Phase.WAITING_UNVERIFIED
    assert decision.code is Code.SOAK_NOT_OVER
    assert said(decision).get("soak_end") == change + timedelta(hours=24)  # on the manager's clock
    assert decision.next_check_at == world.now + timedelta(minutes=5)  # the waiting interval comes first
    world.now = change + timedelta(hours=25, minutes=58)  # manager: 2 minutes before the soak ends
    decision = driver.decide()
    assert decision.phase is Phase.WAITING_UNVERIFIED
    assert decision.next_check_at == world.now + timedelta(minutes=2)  # the soak end, converted to our clock
    world.now = decision.next_check_at
    assert driver.decide().phase is Phase.UPDATING_CERTIFICATE


def test_step3_stalls_after_max_soak_with_a_remedy() -> None:
    driver = at(Phase.WAITING_UNVERIFIED, max_soak="3d")
    driver.world.acknowledged = 1890
    driver.world.advance(timedelta(days=3, hours=1))
    decision = driver.decide()
    assert decision.phase is Phase.STALLED
    assert decision.record.step == 3
    assert decision.record.stall is not None and decision.record.stall.code == "MaxSoakExceeded"
    assert decision.code is Code.MAX_SOAK_EXCEEDED and said(decision).get("max_soak") == timedelta(days=3)
    assert "sepm-reconciler approve sepm-east-01 --step 4 --accept-at-risk" in (decision.remedy or "")


def test_step3_ends_on_min_soak_when_at_risk_clients_are_accepted() -> None:
    driver = at(Phase.WAITING_UNVERIFIED)
    driver.world.acknowledged = 1890
    driver.world.advance(timedelta(days=2))
    assert driver.decide().phase is Phase.WAITING_UNVERIFIED
    record = driver.record
    assert record is not None and record.rollout_id and record.target_fingerprint
    accepted = Approval(4, "alice", "10 retired laptops", driver.world.now, record.rollout_id, NEW, True, 10)
    driver.record = replace(record, approvals=(accepted,))
    driver.world.acknowledged = 1889  # one more at risk than accepted: not covered
    assert driver.decide().phase is Phase.WAITING_UNVERIFIED
    driver.world.acknowledged = 1890
    decision = driver.decide()
    assert decision.phase is Phase.UPDATING_CERTIFICATE
    assert decision.code is Code.AT_RISK_ACCEPTED
    assert (said(decision).get("at_risk_count"), said(decision).get("by")) == (10, "alice")


def test_step3_goes_back_to_step2_when_verification_is_turned_back_on() -> None:
    driver = at(Phase.WAITING_UNVERIFIED)
    driver.world.set_verification(True, {"g-laptops"})
    decision = driver.decide()
    assert decision.phase is Phase.DISABLING_VERIFICATION
    assert (
        decision.code is Code.VERIFICATION_REVERTED and said(decision).get("groups") == "My Company\\Laptops"
    )
    assert decision.record.facts.verification_off_at is None


@pytest.mark.parametrize(
    ("setup", "what"),
    [
        (lambda w: w.unknown.add("clients"), "acknowledgement"),
        (lambda w: w.unknown.add("manager_time"), "clock"),
        (lambda w: setattr(w, "ack_time_override", w.now), "counted"),
    ],
    ids=["clients-unknown", "clock-unknown", "counted-for-another-change"],
)
def test_step3_never_moves_on_unknown_acknowledgement(setup: object, what: str) -> None:
    driver = at(Phase.WAITING_UNVERIFIED)
    driver.world.advance(timedelta(days=20))  # past maxSoak: still no stall on unknowns
    setup(driver.world)  # type: ignore[operator]  # a lambda from the table
    decision = driver.decide()
    assert decision.phase is Phase.WAITING_UNVERIFIED
    assert decision.code is Code.OBSERVATION_UNKNOWN and said(decision).get("what") == what


def test_step3_ready_waits_for_the_approval_of_step4() -> None:
    driver = at(Phase.WAITING_UNVERIFIED, approvals=(4,))
    driver.world.advance(timedelta(days=2))
    decision = driver.decide()
    assert decision.phase is Phase.WAITING_UNVERIFIED
    assert decision.code is Code.APPROVAL_MISSING
    assert decision.outcome == Hold(decision.outcome.said)  # a hold, nothing to do
    assert decision.outcome.said.get("step") == 4
    assert decision.outcome.said.get("after").code is Code.CLIENTS_READY
    record = driver.record
    assert record is not None and record.rollout_id
    approval = Approval(4, "alice", "CAB-1234", driver.world.now, record.rollout_id, NEW)
    driver.record = replace(record, approvals=(approval,))
    assert driver.decide().phase is Phase.UPDATING_CERTIFICATE


def test_step3_ready_waits_for_the_window_and_looks_again_when_it_opens() -> None:
    # 2026-12-01 is a Tuesday: the Saturday-night window opens 2026-12-05 21:00 UTC.
    window = {"days": ["sat"], "start": "22:00", "end": "04:00", "timezone": "Europe/Madrid"}
    driver = at(Phase.WAITING_UNVERIFIED, window=window)
    driver.world.advance(timedelta(days=2))
    decision = driver.decide()
    assert decision.phase is Phase.WAITING_UNVERIFIED
    assert decision.code is Code.WINDOW_CLOSED
    assert said(decision).get("opens") == datetime(2026, 12, 5, 21, 0, tzinfo=UTC)
    assert decision.next_check_at == driver.world.now + timedelta(minutes=5)  # sooner than the opening
    driver.world.now = decision.record.next_check_at
    driver.world.now = driver.world.now.replace(year=2026, month=12, day=5, hour=21, minute=0)
    assert driver.decide().phase is Phase.UPDATING_CERTIFICATE


def test_holding_on_an_unknown_quotes_the_observation_errors() -> None:
    driver = at(Phase.WAITING_UNVERIFIED)
    driver.world.unknown.add("clients")
    observation = replace(driver.world.observe(driver.record), errors=("computers: HTTP 503 after 5 tries",))
    decision = decide(
        driver.spec, NEW, observation, driver.record, now=driver.world.now, spec_revision="rev-1"
    )
    assert decision.code is Code.OBSERVATION_UNKNOWN
    assert said(decision).get("errors") == ("computers: HTTP 503 after 5 tries",)
    assert "[computers: HTTP 503 after 5 tries]" in decision.reason  # quoted as the observation said it


def test_step6_lists_clients_that_stopped_checking_in_and_goes_back_to_5_on_revert() -> None:
    driver = at(Phase.WAITING_VERIFIED)
    driver.world.acknowledged = 1880
    driver.world.stopped_checking_in = ("kiosk-7", "laptop-0042")
    decision = driver.decide()
    assert said(decision).get("stopped_names") == ("kiosk-7", "laptop-0042") and said(decision).get(
        "verifying"
    )
    driver.world.set_verification(False, {"g-root"})
    decision = driver.decide()
    assert decision.phase is Phase.ENABLING_VERIFICATION
    assert decision.code is Code.VERIFICATION_REVERTED and said(decision).get("groups") == "My Company"


# --- step 4 --------------------------------------------------------------------------------------------------------


def test_step4_manual_instructions_name_the_keystore_and_the_services() -> None:
    driver = at(Phase.UPDATING_CERTIFICATE, update_certificate="manual")
    decision = driver.decide()
    action = decision.action
    assert isinstance(action, UpdateCertificate) and action.performer is Performer.MANUAL
    assert action.fingerprint == NEW
    assert action.keystore_file == "/run/secrets/sepm-east-01.p12"
    assert "Manage Server Certificate" in action.instructions
    assert (
        "semsrv" in action.instructions
        and "semwebsrv" in action.instructions
        and "semapisrv" in action.instructions
    )


def test_step4_done_only_when_every_port_presents_the_target_and_the_api_answers() -> None:
    driver = at(Phase.UPDATING_CERTIFICATE, update_certificate="manual")
    world = driver.world
    world.install(NEW, ("clients", "console"))  # the API service was not restarted
    decision = driver.decide()
    assert decision.phase is Phase.UPDATING_CERTIFICATE
    assert decision.code is Code.MANUAL_STEP_PENDING
    assert said(decision).get("waiting").get("seen") == "clients new, console new, api old"
    changed = [e for e in driver.events if e.kind is EventKind.CERTIFICATE_CHANGED]
    assert len(changed) == 1 and changed[0].code == "CertificateChanged"
    assert changed[0].details["ports"] == "clients, console"
    world.install(NEW)
    world.outcomes["api"] = PortOutcome.REFUSED
    assert driver.decide().phase is Phase.UPDATING_CERTIFICATE
    world.outcomes.clear()
    world.api_reachable = False
    decision = driver.decide()
    assert decision.phase is Phase.UPDATING_CERTIFICATE
    assert said(decision).get("waiting").get("api") == "the API does not answer"
    world.api_reachable = True
    world.api_error = (
        "the manager refused the credentials of user 'admin' (HTTP 500)"  # semsrv still starting
    )
    decision = driver.decide()
    assert decision.phase is Phase.UPDATING_CERTIFICATE, "the API must authenticate us, not only answer"
    assert said(decision).get("waiting").get("api").startswith("the API cannot be used: the manager refused")
    world.api_error = None
    decision = driver.decide()
    assert decision.phase is Phase.FETCHING_CERTIFICATE
    assert decision.code is Code.CERTIFICATE_SERVED and said(decision).get("version") == "14.3.10000"
    assert decision.record.facts.certificate_served_at == world.manager_time  # 4b counts check-ins from here
    assert len([e for e in driver.events if e.kind is EventKind.CERTIFICATE_CHANGED]) == 1


@pytest.mark.parametrize(
    "phase", [Phase.UPDATING_CERTIFICATE, Phase.WAITING_VERIFIED, Phase.RESTORING_REPLICATION]
)
def test_an_unexpected_certificate_stalls_the_rollout(phase: Phase) -> None:
    driver = at(phase)
    driver.world.install(ROGUE, ("console",))
    decision = driver.decide()
    assert decision.phase is Phase.STALLED
    assert decision.record.stall is not None and decision.record.stall.code == "UnexpectedCertificate"
    assert decision.code is Code.UNEXPECTED_CERTIFICATE and said(decision).get("ports") == (
        ("console", ROGUE),
    )


def test_step4_goes_back_to_step2_if_verification_is_on_before_the_swap() -> None:
    driver = at(Phase.UPDATING_CERTIFICATE, update_certificate="manual")
    driver.world.set_verification(True, {"g-root"})
    decision = driver.decide()
    assert decision.phase is Phase.DISABLING_VERIFICATION
    assert decision.code is Code.VERIFICATION_REVERTED and said(decision).get("before_swap")


# --- step 7 --------------------------------------------------------------------------------------------------------


def test_step7_waits_for_a_half_rotated_partner() -> None:
    driver = at(Phase.RESTORING_REPLICATION)
    assert driver.record is not None
    west = replace(driver.record, server="sepm-west-01", phase=Phase.WAITING_UNVERIFIED)
    driver.partners = {"Site West": west}
    decision = driver.decide()
    assert decision.phase is Phase.RESTORING_REPLICATION
    assert decision.action is None
    assert decision.code is Code.PARTNER_ROTATING
    assert said(decision).get("waiting") == (("Site West", "sepm-west-01", 3, "waiting_unverified"),)
    driver.partners = {"Site West": replace(west, phase=Phase.RESTORING_REPLICATION)}
    assert isinstance(driver.decide().action, RestoreReplication)


def test_step7_restores_then_asks_for_replication_then_finishes() -> None:
    driver = at(Phase.RESTORING_REPLICATION, restore_replication="manual")
    decision = driver.decide()
    assert isinstance(decision.action, RestoreReplication) and decision.action.performer is Performer.MANUAL
    assert "Add Existing Replication Partner: Site West" in decision.action.instructions
    driver.world.restore_replication("Site West")
    decision = driver.decide()
    assert isinstance(decision.action, ReplicateNow) and decision.action.partner == "Site West"
    driver.world.apply(decision.action)
    decision = driver.decide()
    assert decision.phase is Phase.IN_SYNC
    assert decision.code is Code.ROLLOUT_COMPLETE and said(decision).get("target") == NEW
    assert decision.record.rollout_id is None  # the rollout is closed; its story is in the events


def test_step7_a_success_older_than_the_restore_does_not_count() -> None:
    driver = at(Phase.RESTORING_REPLICATION)
    world = driver.world
    started = driver.record.facts.step_started_manager_time if driver.record else None
    assert started is not None
    world.partners["Site West"] = ReplicationPartner(  # re-added, showing the last run before the break
        "Site West", "SUCCEEDED", last_successful_run_time=started - timedelta(days=3)
    )
    decision = driver.decide()
    assert decision.phase is Phase.RESTORING_REPLICATION
    assert isinstance(decision.action, ReplicateNow), "a fresh replication is asked for, then waited for"
    assert decision.code is Code.ACTION_STARTED and said(decision).get("waiting").get("started") == started


def test_step7_goes_back_to_step5_when_the_rejoin_reverted_verification() -> None:
    driver = at(Phase.RESTORING_REPLICATION)
    decision = driver.decide()
    driver.world.restore_replication("Site West")
    driver.world.set_verification(False, {"g-laptops"})  # the joined site's settings overwrote ours
    driver.world.replicate("Site West")
    decision = driver.decide()
    assert decision.phase is Phase.ENABLING_VERIFICATION
    assert decision.code is Code.VERIFICATION_REVERTED and said(decision).get("rejoin")


def test_step7_stalls_when_replication_keeps_failing() -> None:
    driver = at(Phase.RESTORING_REPLICATION)
    world = driver.world
    world.restore_replication("Site West")
    for _ in range(40):
        decision = driver.decide()
        if decision.phase is Phase.STALLED:
            break
        if decision.action is not None:
            world.replicate("Site West", status="FAILED_CONNECT")
            assert driver.record is not None
            driver.record, _ = complete_attempt(driver.record, decision.action, now=world.now, succeeded=True)
        world.advance(timedelta(minutes=10))
    assert decision.phase is Phase.STALLED
    assert decision.record.stall is not None and decision.record.stall.code == "ReplicateNowFailed"
    assert "(status FAILED_CONNECT)" in (decision.remedy or "")


def test_step7_done_supersedes_when_a_newer_certificate_is_desired() -> None:
    driver = at(Phase.RESTORING_REPLICATION)
    driver.desired = NEWER
    driver.world.partners["Site West"] = ReplicationPartner(
        "Site West", "SUCCEEDED", last_successful_run_time=driver.world.manager_time
    )
    decision = driver.decide()
    assert decision.phase is Phase.DRIFTED
    assert decision.code is Code.ROLLOUT_SUPERSEDED and said(decision).get("desired") == NEWER
    decision = driver.decide()
    assert decision.phase is Phase.BREAKING_REPLICATION
    assert decision.record.target_fingerprint == NEWER
    assert decision.record.facts.original_fingerprints == {"clients": NEW, "console": NEW, "api": NEW}
    assert OLD not in decision.record.facts.original_fingerprints.values()


# --- every way an action's step stalls -----------------------------------------------------------------------------


def _abort(driver: Driver) -> None:
    assert driver.record is not None
    driver.record, _ = request_abort(driver.record, by="eve", reason="CAB said no", now=driver.world.now)
    assert driver.decide().phase is Phase.ROLLING_BACK


@pytest.mark.parametrize(
    ("phase", "prepare", "code", "step", "remedy"),
    [
        (Phase.NEW, None, "BreakReplicationFailed", 1, "Replication Partners) or fix the hook"),
        (
            Phase.RESTORING_REPLICATION,
            None,
            "RestoreReplicationFailed",
            7,
            "add the replication partner again",
        ),
        (Phase.WAITING_UNVERIFIED, _abort, "SetVerificationFailed", 0, "set 'Enable secure communications"),
    ],
    ids=["step1-hook-keeps-failing", "step7-hook-keeps-failing", "rollback-flag-does-not-take"],
)
def test_an_action_that_keeps_failing_stalls_its_step_with_a_remedy(
    phase: Phase, prepare: Callable[[Driver], None] | None, code: str, step: int, remedy: str
) -> None:
    driver = at(phase) if phase is not Phase.NEW else Driver(hooked(), World())
    if prepare is not None:
        prepare(driver)
    actions = 0
    for _ in range(40):  # every attempt fails (exit 1 / API error) and changes nothing on the manager
        decision = driver.tick(effect=False, succeeded=False)
        actions += decision.action is not None
        if decision.phase is Phase.STALLED:
            break
        driver.world.advance(timedelta(minutes=30))
    assert decision.phase is Phase.STALLED, decision.reason
    assert decision.record.stall is not None and decision.record.stall.code == code
    assert decision.record.step == step, "a stall keeps the step it stalled in"
    assert actions == 3, "maxAttempts (hooks) or api_max_attempts (FAST tuning), then a human"
    assert remedy in (decision.remedy or "") and "sepm-reconciler resume sepm-east-01" in (
        decision.remedy or ""
    )
    for _ in range(3):  # a stall holds: nothing runs again until resume or a new spec revision
        driver.world.advance(timedelta(hours=6))
        again = driver.tick(effect=False, succeeded=False)
        assert again.phase is Phase.STALLED and again.action is None


def test_step6_stalls_after_max_soak_and_the_override_is_for_step_7() -> None:
    driver = at(Phase.WAITING_VERIFIED, max_soak="3d")
    driver.world.acknowledged = 1890
    driver.world.advance(timedelta(days=3, hours=1))
    decision = driver.decide()
    assert decision.phase is Phase.STALLED and decision.record.step == 6
    assert decision.record.stall is not None and decision.record.stall.code == "MaxSoakExceeded"
    assert "sepm-reconciler approve sepm-east-01 --step 7 --accept-at-risk" in (decision.remedy or "")


# --- the keystore step 4 installs ----------------------------------------------------------------------------------

KEYSTORE_BROKEN = (
    "east.yaml:20:7: spec.certificate.keystore.password: the password does not open the keystore"
)


def test_a_rollout_does_not_start_while_the_keystore_cannot_be_used() -> None:
    driver = Driver(hooked(), World())
    decision = decide(
        driver.spec,
        NEW,
        driver.world.observe(None),
        None,
        now=T0,
        spec_revision="rev-1",
        keystore_error=KEYSTORE_BROKEN,
    )
    assert decision.phase is Phase.DRIFTED and decision.action is None
    assert decision.code is Code.KEYSTORE_UNUSABLE and said(decision).get("error") == KEYSTORE_BROKEN
    again = decide(
        driver.spec, NEW, driver.world.observe(decision.record), decision.record, now=T0, spec_revision="rev-1",
        keystore_error=KEYSTORE_BROKEN,
    )  # fmt: skip
    assert again.phase is Phase.DRIFTED and again.action is None
    fixed = decide(
        driver.spec, NEW, driver.world.observe(again.record), again.record, now=T0, spec_revision="rev-1"
    )
    assert fixed.phase is Phase.BREAKING_REPLICATION


@pytest.mark.parametrize("update", ["hook", "manual"], ids=["hook", "manual"])
def test_step_4_does_not_begin_while_the_keystore_cannot_be_used(update: str) -> None:
    driver = at(Phase.WAITING_UNVERIFIED, **({"update_certificate": "manual"} if update == "manual" else {}))
    driver.world.advance(timedelta(days=2))
    record = driver.record
    ready = decide(
        driver.spec, NEW, driver.world.observe(record), record, now=driver.world.now, spec_revision="rev-1",
        tuning=driver.tuning, keystore_error=KEYSTORE_BROKEN,
    )  # fmt: skip
    assert ready.phase is Phase.WAITING_UNVERIFIED and ready.code is Code.KEYSTORE_UNUSABLE
    assert said(ready).get("after").code is Code.CLIENTS_READY
    driver.record = (
        replace(record, phase=Phase.UPDATING_CERTIFICATE) if record else None
    )  # e.g. it broke in step 4
    held = decide(
        driver.spec, NEW, driver.world.observe(driver.record), driver.record, now=driver.world.now,
        spec_revision="rev-1", tuning=driver.tuning, keystore_error=KEYSTORE_BROKEN,
    )  # fmt: skip
    assert held.phase is Phase.UPDATING_CERTIFICATE and held.action is None
    assert not [a for a in held.record.attempts if a.step == 4]
    assert held.code is Code.KEYSTORE_UNUSABLE and said(held).get("holds_action") is not None


def test_once_the_certificate_changed_the_keystore_no_longer_holds_anything() -> None:
    driver = at(Phase.UPDATING_CERTIFICATE, update_certificate="manual")
    driver.world.install(NEW, ("clients",))  # the operator started the swap
    decision = driver.decide()
    assert decision.record.facts.certificate_changed_at is not None
    driver.world.install(NEW)
    done = decide(
        driver.spec, NEW, driver.world.observe(driver.record), driver.record, now=driver.world.now,
        spec_revision="rev-1", tuning=driver.tuning, keystore_error=KEYSTORE_BROKEN,
    )  # fmt: skip
    assert done.phase is Phase.FETCHING_CERTIFICATE
