"""Each stage of the table, from a state built directly: what one decision concludes — its code, where it moves, the
action it asks for. One row per case: the stage, what the scene changes, and the expected outcome."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta

import pytest

from reconciler.core.actions import (
    Action,
    BreakReplication,
    Performer,
    ReplicateNow,
    RestoreOriginalList,
    RestoreReplication,
    SetVerification,
    SwitchToHttpList,
    UpdateCertificate,
)
from reconciler.core.codes import Code
from reconciler.core.decide import Act, Hold, Move
from reconciler.core.procedure import Phase
from reconciler.core.record import Attempt, AttemptOutcome, Request
from reconciler.core.trust import NewCertificateTrust
from tests.support.manager import HTTP_LIST, NEWER, OLD, ORIGINAL_LIST, ROGUE
from tests.support.states import ROLLOUT, SOAKED, Scene, at

Change = Callable[[Scene], None]
WEEKEND = {
    "days": ["sat", "sun"],
    "start": "22:00",
    "end": "04:00",
    "timezone": "Europe/Madrid",
}  # T0 is a Tuesday
KEYSTORE_BROKEN = (
    "east.yaml:20:7: spec.certificate.keystore.password: the password does not open the keystore"
)
UNTRUSTED = NewCertificateTrust(
    "sepm-east-01.corp.example",
    "caBundle /etc/sepm/ca.pem",
    problem="it does not chain to caBundle /etc/sepm/ca.pem",
    issuer="CN=Other CA",
)
SKIP = {"skip": True, "reason": "every client uses the HTTP list already"}


@dataclass(frozen=True)
class Case:
    phase: Phase
    change: Change | None
    code: Code
    to: Phase | None = None  # the phase moved to (None: stays)
    action: type[Action] | None = None
    performer: Performer | None = None
    spec: dict[str, object] | None = None
    keystore_error: str | None = None
    trust: NewCertificateTrust | None = None


def nothing(scene: Scene) -> None:
    return None


def _partner_gone(s: Scene) -> None:
    s.world.break_replication()


def _flags(value: bool) -> Change:
    def change(s: Scene) -> None:
        s.world.set_verification(value)

    return change


def _acknowledged(count: int) -> Change:
    def change(s: Scene) -> None:
        s.world.acknowledged = count

    return change


def _soak_young(s: Scene) -> None:
    s.world.advance(-SOAKED + timedelta(hours=2))  # the change is only 2 h old on this clock


def _aged(delta: timedelta, count: int) -> Change:
    def change(s: Scene) -> None:
        s.world.acknowledged = count
        s.world.advance(delta)

    return change


def _replicated(s: Scene) -> None:
    s.world.restore_replication("Site West")
    s.world.replicate("Site West")


def _partner_at_step_3(s: Scene) -> None:
    west = replace(at(Phase.WAITING_UNVERIFIED).record, server="sepm-west-01")
    s.partners = {"Site West": west}


def _suspended(s: Scene) -> None:
    s.record = replace(s.record, suspension=Request("bob", s.world.now, "change freeze"))


def _approved(step: int) -> Change:
    def change(s: Scene) -> None:
        s.approve(step)

    return change


def _desired(fingerprint: str) -> Change:
    def change(s: Scene) -> None:
        s.desired = fingerprint

    return change


def _accepted(count: int, step: int = 4) -> Change:
    def change(s: Scene) -> None:
        s.world.acknowledged = 1900 - count
        s.approve(step, accept_at_risk=count)

    return change


def _assigned(name: str, *, shown: bool = True) -> Change:
    def change(s: Scene) -> None:
        s.world.lists_shown = shown
        s.world.assign_list(name)

    return change


def _hidden(s: Scene) -> None:
    s.world.lists_shown = False


def _hook_succeeded(name: str) -> Change:
    """The list hook ran (attempt 1, exit 0) and assigned ``name``; the manager does not show lists."""

    def change(s: Scene) -> None:
        _assigned(name, shown=False)(s)
        now = s.world.now
        kind = SwitchToHttpList.kind if name == HTTP_LIST else RestoreOriginalList.kind
        step = 2 if name == HTTP_LIST else 5
        attempt = Attempt(ROLLOUT, step, kind, 1, Performer.COMMAND, now, now + timedelta(minutes=30))
        done = replace(attempt, outcome=AttemptOutcome.SUCCEEDED, finished_at=now, exit_code=0)
        s.record = replace(s.record, attempts=(done,))

    return change


def _confirmed(name: str, step: int) -> Change:
    def change(s: Scene) -> None:
        _assigned(name, shown=False)(s)
        s.approve(step)

    return change


def _one_group_on(name: str) -> Change:
    def change(s: Scene) -> None:
        s.world.groups[1].list_name = name

    return change


def _never_switched(s: Scene) -> None:
    s.record = replace(s.record, facts=replace(s.record.facts, list_switch=None), procedure_version=1)


def _old_sepm(s: Scene) -> None:
    s.world.version = "12.1.6867.6400"


def _unknown(part: str) -> Change:
    def change(s: Scene) -> None:
        s.world.unknown.add(part)

    return change


def _rogue(s: Scene) -> None:
    s.world.install(ROGUE, ("console",))


def _swapped(s: Scene) -> None:
    s.world.install(s.desired)


def _restored_flags_and_partner(s: Scene) -> None:
    s.world.set_verification(True)
    s.world.restore_replication("Site West")
    s.world.replicate("Site West")


def _unmanaged(s: Scene) -> None:
    for group in s.world.groups:
        group.managed = False


def _served_new(s: Scene) -> None:
    s.world.install(s.desired)


CASES = [
    # drifted: a rollout is due and held
    pytest.param(Case(Phase.DRIFTED, nothing, Code.APPROVAL_MISSING, spec={"approvals": (1,)}), id="drifted-approval"),
    pytest.param(Case(Phase.DRIFTED, _approved(1), Code.ROLLOUT_STARTED, Phase.BREAKING_REPLICATION, spec={"approvals": (1,)}), id="drifted-approved"),
    pytest.param(Case(Phase.DRIFTED, _suspended, Code.SUSPENDED), id="drifted-suspended"),
    pytest.param(Case(Phase.DRIFTED, nothing, Code.REPORT_MODE, spec={"mode": "report"}), id="drifted-report-mode"),
    pytest.param(Case(Phase.DRIFTED, nothing, Code.KEYSTORE_UNUSABLE, keystore_error=KEYSTORE_BROKEN), id="drifted-keystore"),
    pytest.param(Case(Phase.DRIFTED, _served_new, Code.CONVERGED, Phase.IN_SYNC), id="drifted-converged"),
    pytest.param(Case(Phase.DRIFTED, _unknown("replication"), Code.OBSERVATION_UNKNOWN), id="drifted-replication-unknown"),
    pytest.param(Case(Phase.DRIFTED, nothing, Code.NEW_CERTIFICATE_UNTRUSTED, trust=UNTRUSTED), id="drifted-untrusted"),
    pytest.param(Case(Phase.DRIFTED, nothing, Code.MANAGEMENT_SERVER_LIST_MISSING, spec={"lists": None}), id="drifted-lists-missing"),
    pytest.param(Case(Phase.DRIFTED, _old_sepm, Code.ROLLOUT_STARTED, Phase.BREAKING_REPLICATION, spec={"lists": None}), id="drifted-sepm-12-needs-no-lists"),
    # step 1
    pytest.param(Case(Phase.BREAKING_REPLICATION, nothing, Code.ACTION_STARTED, action=BreakReplication, performer=Performer.COMMAND), id="1-hook"),
    pytest.param(Case(Phase.BREAKING_REPLICATION, nothing, Code.MANUAL_STEP_PENDING, action=BreakReplication, performer=Performer.MANUAL, spec={"break_replication": "manual"}), id="1-manual"),
    pytest.param(Case(Phase.BREAKING_REPLICATION, _partner_gone, Code.REPLICATION_BROKEN, Phase.SWITCHING_TO_HTTP_LIST), id="1-done"),
    pytest.param(Case(Phase.BREAKING_REPLICATION, _partner_gone, Code.APPROVAL_MISSING, spec={"approvals": (2,)}), id="1-done-approval-of-2"),
    pytest.param(Case(Phase.BREAKING_REPLICATION, _unknown("replication"), Code.OBSERVATION_UNKNOWN), id="1-replication-unknown"),
    pytest.param(Case(Phase.BREAKING_REPLICATION, _desired(OLD), Code.SPEC_REVERTED, Phase.ROLLING_BACK), id="1-spec-reverted"),
    # step 2a
    pytest.param(Case(Phase.SWITCHING_TO_HTTP_LIST, nothing, Code.ACTION_STARTED, action=SwitchToHttpList, performer=Performer.COMMAND), id="2a-hook"),
    pytest.param(Case(Phase.SWITCHING_TO_HTTP_LIST, nothing, Code.MANUAL_STEP_PENDING, action=SwitchToHttpList, performer=Performer.MANUAL, spec={"switch_to_http_list": "manual"}), id="2a-manual"),
    pytest.param(Case(Phase.SWITCHING_TO_HTTP_LIST, _assigned(HTTP_LIST), Code.LIST_SWITCHED, Phase.DISABLING_VERIFICATION), id="2a-read-back"),
    pytest.param(Case(Phase.SWITCHING_TO_HTTP_LIST, _hook_succeeded(HTTP_LIST), Code.LIST_SWITCHED, Phase.DISABLING_VERIFICATION), id="2a-serial-and-hook"),
    pytest.param(Case(Phase.SWITCHING_TO_HTTP_LIST, _assigned(HTTP_LIST, shown=False), Code.MANUAL_STEP_PENDING, action=SwitchToHttpList, performer=Performer.MANUAL, spec={"switch_to_http_list": "manual"}), id="2a-serial-awaits-confirmation"),
    pytest.param(Case(Phase.SWITCHING_TO_HTTP_LIST, _confirmed(HTTP_LIST, 2), Code.LIST_SWITCHED, Phase.DISABLING_VERIFICATION, spec={"switch_to_http_list": "manual"}), id="2a-serial-and-confirmed"),
    pytest.param(Case(Phase.SWITCHING_TO_HTTP_LIST, _hidden, Code.ACTION_STARTED, action=SwitchToHttpList, performer=Performer.COMMAND), id="2a-hidden-serial-not-moved"),
    pytest.param(Case(Phase.SWITCHING_TO_HTTP_LIST, nothing, Code.LIST_SWITCH_SKIPPED, Phase.DISABLING_VERIFICATION, spec={"lists": SKIP}), id="2a-skip"),
    pytest.param(Case(Phase.SWITCHING_TO_HTTP_LIST, _old_sepm, Code.LIST_SWITCHED, Phase.DISABLING_VERIFICATION, spec={"lists": None}), id="2a-sepm-12"),
    pytest.param(Case(Phase.SWITCHING_TO_HTTP_LIST, nothing, Code.MANAGEMENT_SERVER_LIST_MISSING, Phase.STALLED, spec={"lists": None}), id="2a-lists-missing"),
    pytest.param(Case(Phase.SWITCHING_TO_HTTP_LIST, _unknown("groups"), Code.OBSERVATION_UNKNOWN), id="2a-groups-unknown"),
    pytest.param(Case(Phase.SWITCHING_TO_HTTP_LIST, _desired(OLD), Code.SPEC_REVERTED, Phase.ROLLING_BACK), id="2a-spec-reverted"),
    # step 2b
    pytest.param(Case(Phase.DISABLING_VERIFICATION, nothing, Code.ACTION_STARTED, action=SetVerification, performer=Performer.API), id="2b-patch"),
    pytest.param(Case(Phase.DISABLING_VERIFICATION, _flags(False), Code.VERIFICATION_DISABLED, Phase.WAITING_UNVERIFIED), id="2b-done"),
    pytest.param(Case(Phase.DISABLING_VERIFICATION, _unknown("groups"), Code.OBSERVATION_UNKNOWN), id="2b-groups-unknown"),
    pytest.param(Case(Phase.DISABLING_VERIFICATION, _unmanaged, Code.NO_MANAGED_GROUPS, Phase.STALLED, spec={"groups": ("My Company\\Nowhere",)}), id="2b-no-groups"),
    pytest.param(Case(Phase.DISABLING_VERIFICATION, _one_group_on(ORIGINAL_LIST), Code.LIST_REVERTED, Phase.SWITCHING_TO_HTTP_LIST), id="2b-list-reverted"),
    # step 3
    pytest.param(Case(Phase.WAITING_UNVERIFIED, nothing, Code.CLIENTS_READY, Phase.UPDATING_CERTIFICATE), id="3-done"),
    pytest.param(Case(Phase.WAITING_UNVERIFIED, _acknowledged(1834), Code.CLIENTS_NOT_READY), id="3-clients-not-ready"),
    pytest.param(Case(Phase.WAITING_UNVERIFIED, _soak_young, Code.SOAK_NOT_OVER), id="3-soak-not-over"),
    pytest.param(Case(Phase.WAITING_UNVERIFIED, nothing, Code.APPROVAL_MISSING, spec={"approvals": (4,)}), id="3-approval-of-4"),
    pytest.param(Case(Phase.WAITING_UNVERIFIED, _approved(4), Code.CLIENTS_READY, Phase.UPDATING_CERTIFICATE, spec={"approvals": (4,)}), id="3-approved"),
    pytest.param(Case(Phase.WAITING_UNVERIFIED, nothing, Code.WINDOW_CLOSED, spec={"window": WEEKEND}), id="3-window-closed"),
    pytest.param(Case(Phase.WAITING_UNVERIFIED, nothing, Code.KEYSTORE_UNUSABLE, keystore_error=KEYSTORE_BROKEN), id="3-keystore"),
    pytest.param(Case(Phase.WAITING_UNVERIFIED, _flags(True), Code.VERIFICATION_REVERTED, Phase.DISABLING_VERIFICATION), id="3-reverted"),
    pytest.param(Case(Phase.WAITING_UNVERIFIED, _aged(timedelta(days=14), 1890), Code.MAX_SOAK_EXCEEDED, Phase.STALLED), id="3-max-soak"),
    pytest.param(Case(Phase.WAITING_UNVERIFIED, _accepted(10), Code.AT_RISK_ACCEPTED, Phase.UPDATING_CERTIFICATE), id="3-at-risk-accepted"),
    pytest.param(Case(Phase.WAITING_UNVERIFIED, _unknown("clients"), Code.OBSERVATION_UNKNOWN), id="3-clients-unknown"),
    pytest.param(Case(Phase.WAITING_UNVERIFIED, _desired(OLD), Code.SPEC_REVERTED, Phase.ROLLING_BACK), id="3-spec-reverted"),
    pytest.param(Case(Phase.WAITING_UNVERIFIED, _one_group_on(ORIGINAL_LIST), Code.LIST_REVERTED, Phase.SWITCHING_TO_HTTP_LIST), id="3-list-reverted"),
    pytest.param(Case(Phase.WAITING_UNVERIFIED, _never_switched, Code.LIST_REVERTED, Phase.SWITCHING_TO_HTTP_LIST), id="3-begun-before-2a"),
    pytest.param(Case(Phase.WAITING_UNVERIFIED, nothing, Code.NEW_CERTIFICATE_UNTRUSTED, trust=UNTRUSTED), id="3-untrusted"),
    # step 4
    pytest.param(Case(Phase.UPDATING_CERTIFICATE, nothing, Code.ACTION_STARTED, action=UpdateCertificate, performer=Performer.COMMAND), id="4-hook"),
    pytest.param(Case(Phase.UPDATING_CERTIFICATE, nothing, Code.MANUAL_STEP_PENDING, action=UpdateCertificate, performer=Performer.MANUAL, spec={"update_certificate": "manual"}), id="4-manual"),
    pytest.param(Case(Phase.UPDATING_CERTIFICATE, _swapped, Code.CERTIFICATE_SERVED, Phase.FETCHING_CERTIFICATE), id="4-done"),
    pytest.param(Case(Phase.UPDATING_CERTIFICATE, nothing, Code.WINDOW_CLOSED, spec={"window": WEEKEND}), id="4-window-closed"),
    pytest.param(Case(Phase.UPDATING_CERTIFICATE, nothing, Code.KEYSTORE_UNUSABLE, keystore_error=KEYSTORE_BROKEN), id="4-keystore"),
    pytest.param(Case(Phase.UPDATING_CERTIFICATE, _rogue, Code.UNEXPECTED_CERTIFICATE, Phase.STALLED), id="4-unexpected-certificate"),
    pytest.param(Case(Phase.UPDATING_CERTIFICATE, _flags(True), Code.VERIFICATION_REVERTED, Phase.DISABLING_VERIFICATION), id="4-reverted-before-swap"),
    pytest.param(Case(Phase.UPDATING_CERTIFICATE, _unknown("groups"), Code.OBSERVATION_UNKNOWN), id="4-groups-unknown"),
    pytest.param(Case(Phase.UPDATING_CERTIFICATE, nothing, Code.NEW_CERTIFICATE_UNTRUSTED, trust=UNTRUSTED), id="4-untrusted"),
    pytest.param(Case(Phase.UPDATING_CERTIFICATE, _one_group_on(ORIGINAL_LIST), Code.LIST_REVERTED, Phase.SWITCHING_TO_HTTP_LIST), id="4-list-reverted-before-swap"),
    # step 4b
    pytest.param(Case(Phase.FETCHING_CERTIFICATE, nothing, Code.CLIENTS_READY, Phase.ENABLING_VERIFICATION), id="4b-done"),
    pytest.param(Case(Phase.FETCHING_CERTIFICATE, _acknowledged(1834), Code.CLIENTS_NOT_READY), id="4b-clients-not-back"),
    pytest.param(Case(Phase.FETCHING_CERTIFICATE, _soak_young, Code.SOAK_NOT_OVER), id="4b-soak-not-over"),
    pytest.param(Case(Phase.FETCHING_CERTIFICATE, nothing, Code.SOAK_NOT_OVER, spec={"after_swap": {"minSoak": "2d", "maxSoak": "3d"}}), id="4b-after-swap-rules"),
    pytest.param(Case(Phase.FETCHING_CERTIFICATE, _accepted(10, step=5), Code.AT_RISK_ACCEPTED, Phase.ENABLING_VERIFICATION), id="4b-at-risk-accepted"),
    pytest.param(Case(Phase.FETCHING_CERTIFICATE, _accepted(10, step=4), Code.CLIENTS_NOT_READY), id="4b-acceptance-of-4-does-not-count"),
    pytest.param(Case(Phase.FETCHING_CERTIFICATE, _rogue, Code.UNEXPECTED_CERTIFICATE, Phase.STALLED), id="4b-unexpected-certificate"),
    pytest.param(Case(Phase.FETCHING_CERTIFICATE, nothing, Code.APPROVAL_MISSING, spec={"approvals": (5,)}), id="4b-approval-of-5"),
    # step 5
    pytest.param(Case(Phase.ENABLING_VERIFICATION, nothing, Code.ACTION_STARTED, action=SetVerification, performer=Performer.API), id="5-patch"),
    pytest.param(Case(Phase.ENABLING_VERIFICATION, _flags(True), Code.VERIFICATION_ENABLED, Phase.RESTORING_ORIGINAL_LIST), id="5-done"),
    pytest.param(Case(Phase.ENABLING_VERIFICATION, _rogue, Code.UNEXPECTED_CERTIFICATE, Phase.STALLED), id="5-unexpected-certificate"),
    # step 5b
    pytest.param(Case(Phase.RESTORING_ORIGINAL_LIST, nothing, Code.ACTION_STARTED, action=RestoreOriginalList, performer=Performer.COMMAND), id="5b-hook"),
    pytest.param(Case(Phase.RESTORING_ORIGINAL_LIST, _assigned(ORIGINAL_LIST), Code.LIST_RESTORED, Phase.WAITING_VERIFIED), id="5b-read-back"),
    pytest.param(Case(Phase.RESTORING_ORIGINAL_LIST, _hook_succeeded(ORIGINAL_LIST), Code.LIST_RESTORED, Phase.WAITING_VERIFIED), id="5b-serial-and-hook"),
    pytest.param(Case(Phase.RESTORING_ORIGINAL_LIST, _confirmed(ORIGINAL_LIST, 5), Code.LIST_RESTORED, Phase.WAITING_VERIFIED, spec={"restore_original_list": "manual"}), id="5b-serial-and-confirmed"),
    pytest.param(Case(Phase.RESTORING_ORIGINAL_LIST, _assigned(ORIGINAL_LIST), Code.APPROVAL_MISSING, spec={"approvals": (6,)}), id="5b-done-approval-of-6"),
    pytest.param(Case(Phase.RESTORING_ORIGINAL_LIST, _rogue, Code.UNEXPECTED_CERTIFICATE, Phase.STALLED), id="5b-unexpected-certificate"),
    # step 6
    pytest.param(Case(Phase.WAITING_VERIFIED, nothing, Code.CLIENTS_READY, Phase.RESTORING_REPLICATION), id="6-done"),
    pytest.param(Case(Phase.WAITING_VERIFIED, _acknowledged(1880), Code.CLIENTS_NOT_READY), id="6-clients-not-ready"),
    pytest.param(Case(Phase.WAITING_VERIFIED, _flags(False), Code.VERIFICATION_REVERTED, Phase.ENABLING_VERIFICATION), id="6-reverted"),
    pytest.param(Case(Phase.WAITING_VERIFIED, nothing, Code.APPROVAL_MISSING, spec={"approvals": (7,)}), id="6-approval-of-7"),
    pytest.param(Case(Phase.WAITING_VERIFIED, _rogue, Code.UNEXPECTED_CERTIFICATE, Phase.STALLED), id="6-unexpected-certificate"),
    pytest.param(Case(Phase.WAITING_VERIFIED, _one_group_on(HTTP_LIST), Code.LIST_REVERTED, Phase.RESTORING_ORIGINAL_LIST), id="6-list-reverted"),
    # step 7
    pytest.param(Case(Phase.RESTORING_REPLICATION, nothing, Code.ACTION_STARTED, action=RestoreReplication, performer=Performer.COMMAND), id="7-restore"),
    pytest.param(Case(Phase.RESTORING_REPLICATION, _partner_at_step_3, Code.PARTNER_ROTATING), id="7-partner-rotating"),
    pytest.param(Case(Phase.RESTORING_REPLICATION, lambda s: s.world.restore_replication("Site West"), Code.ACTION_STARTED, action=ReplicateNow, performer=Performer.API), id="7-replicate-now"),
    pytest.param(Case(Phase.RESTORING_REPLICATION, _replicated, Code.ROLLOUT_COMPLETE, Phase.IN_SYNC), id="7-done"),
    pytest.param(Case(Phase.RESTORING_REPLICATION, lambda s: (_replicated(s), _desired(NEWER)(s)), Code.ROLLOUT_SUPERSEDED, Phase.DRIFTED), id="7-superseded"),
    pytest.param(Case(Phase.RESTORING_REPLICATION, lambda s: (_replicated(s), _flags(False)(s)), Code.VERIFICATION_REVERTED, Phase.ENABLING_VERIFICATION), id="7-rejoin-reverted"),
    pytest.param(Case(Phase.RESTORING_REPLICATION, lambda s: (_replicated(s), _one_group_on(HTTP_LIST)(s)), Code.LIST_REVERTED, Phase.RESTORING_ORIGINAL_LIST), id="7-rejoin-list-reverted"),
    pytest.param(Case(Phase.RESTORING_REPLICATION, lambda s: (_one_group_on(HTTP_LIST)(s), s.world.restore_replication("Site West")), Code.ACTION_STARTED, action=ReplicateNow, performer=Performer.API), id="7-list-judged-after-rejoin"),
    # rolling back (from step 3)
    pytest.param(Case(Phase.ROLLING_BACK, nothing, Code.ACTION_STARTED, action=SetVerification, performer=Performer.API), id="rb-restore-verification"),
    pytest.param(Case(Phase.ROLLING_BACK, _flags(True), Code.ACTION_STARTED, action=RestoreOriginalList, performer=Performer.COMMAND), id="rb-restore-list"),
    pytest.param(Case(Phase.ROLLING_BACK, lambda s: (_flags(True)(s), _assigned(ORIGINAL_LIST)(s)), Code.ACTION_STARTED, action=RestoreReplication, performer=Performer.COMMAND), id="rb-restore-replication"),
    pytest.param(Case(Phase.ROLLING_BACK, lambda s: (_restored_flags_and_partner(s), _assigned(ORIGINAL_LIST)(s)), Code.ROLLED_BACK, Phase.DRIFTED), id="rb-done"),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES)
def test_one_decision_in_a_stage(case: Case) -> None:
    scene = at(case.phase, **(case.spec or {}))
    before = scene.record
    if case.change is not None:
        case.change(scene)
    decision = scene.decide(keystore_error=case.keystore_error, trust=case.trust)
    assert decision.code is case.code, decision.reason
    assert decision.record.code == case.code.value
    if case.to is None:
        assert decision.phase is before.phase, decision.reason
        assert not isinstance(decision.outcome, Move)
    else:
        assert decision.phase is case.to, decision.reason
        assert isinstance(decision.outcome, Move) and decision.moved
    if case.action is None:
        assert decision.action is None
    else:
        assert isinstance(decision.outcome, Act)
        assert isinstance(decision.action, case.action) and decision.action.performer is case.performer
        assert decision.record.pending_action is not None
    assert decision.reason  # every code has its sentence


def test_a_hold_says_when_to_look_again_and_keeps_the_record_in_place() -> None:
    scene = at(Phase.WAITING_UNVERIFIED)
    scene.world.acknowledged = 1834
    decision = scene.decide()
    assert isinstance(decision.outcome, Hold)
    assert decision.next_check_at == scene.world.now + timedelta(minutes=5)  # the waiting interval of FAST
    assert set(decision.patch.changes) <= {"reason", "code", "updated_at", "next_check_at", "observed", "desired_fingerprint", "spec_revision", "approval_steps"}  # fmt: skip


def test_decide_mutates_nothing_and_returns_its_patch() -> None:
    scene = at(Phase.BREAKING_REPLICATION)
    record = scene.record
    copy = replace(record)
    decision = scene.decide()
    assert scene.record == copy  # the input record is untouched
    assert decision.patch.apply(record) == decision.record
    assert "attempts" in decision.patch.changes and "pending_action" in decision.patch.changes


def test_stall_keeps_its_step_and_holds_with_its_code_until_resumed() -> None:
    scene = at(Phase.WAITING_UNVERIFIED)
    scene.stall("MaxSoakExceeded")
    decision = scene.decide()
    assert (decision.phase, decision.step, decision.code) == (Phase.STALLED, 3, Code.MAX_SOAK_EXCEEDED)
    assert decision.reason == "stalled: MaxSoakExceeded"
    scene.record = replace(scene.record, resume_request=Request("bob", scene.world.now, "fixed"))
    resumed = scene.decide()
    assert (resumed.phase, resumed.code) == (Phase.WAITING_UNVERIFIED, Code.RESUMED)
    assert resumed.events[-1].actor == "bob"


def test_an_unusable_manager_is_looked_at_again_with_a_backoff_kept_in_the_record() -> None:
    scene = at(Phase.DISABLING_VERIFICATION)  # looked at every 30 s (FAST's active interval) while it acts
    scene.world.api_error = (
        "the manager refused the credentials of user 'admin'"  # so nothing of the API is known
    )
    scene.world.unknown |= {"groups", "clients", "replication"}
    for failures, delay in ((1, 30), (2, 60), (3, 120), (4, 240), (5, 300), (6, 300)):
        decision = scene.decide()
        assert decision.code is Code.OBSERVATION_UNKNOWN
        assert decision.record.observation_failures == failures
        assert decision.next_check_at == scene.world.now + timedelta(seconds=delay)
        scene.then(decision)
    scene.world.api_error = None
    scene.world.unknown.clear()
    assert scene.decide().record.observation_failures == 0


def test_retry_after_lengthens_the_backoff() -> None:
    scene = at(Phase.WAITING_UNVERIFIED)
    decision = scene.decide(observe=False, observation_error="HTTP 429", retry_after=timedelta(minutes=20))
    assert decision.code is Code.OBSERVATION_UNKNOWN
    assert decision.next_check_at == scene.world.now + timedelta(minutes=20)


def test_the_rollout_id_of_a_scene_is_the_one_it_was_built_with() -> None:
    assert at(Phase.WAITING_VERIFIED).record.rollout_id == ROLLOUT
