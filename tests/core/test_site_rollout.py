"""The site rollout as pure decisions: a server of a site with several managed servers follows the site's lead in
the site stages, swaps in its turn, begins 5a only when the whole site swapped, never forks a site rollout; waves."""

from __future__ import annotations

from dataclasses import replace

from reconciler.core.actions import SetVerification
from reconciler.core.checks import summarize
from reconciler.core.codes import Code
from reconciler.core.events import EventKind
from reconciler.core.procedure import Phase
from reconciler.core.record import Request, RolloutRecord
from reconciler.core.site import SiteView
from tests.support.states import Scene, at


def _peer(phase: Phase, name: str, *, healthy: bool = True, code: str | None = None) -> RolloutRecord:
    """The record of another server of the site standing in ``phase`` (seen completely unless ``healthy`` is
    False)."""
    scene = at(phase)
    record = replace(scene.record, server=name, observed=summarize(scene.observe()))
    if code is not None:
        record = replace(record, code=code)
    return record if healthy else replace(record, observation_failures=3)


def _site(scene: Scene, *peers: RolloutRecord, **options: int) -> SiteView:
    members = tuple(sorted({scene.spec.name, *(p.server for p in peers)}))
    return SiteView("Site East", members, {p.server: p for p in peers}, **options)


def test_a_follower_does_not_act_in_a_site_stage_while_the_lead_is_in_it() -> None:
    scene = at(Phase.DISABLING_VERIFICATION)
    for group in scene.world.groups:
        group.flag = True  # not off yet: the lead's PATCH is still to come
    decision = scene.decide(site=_site(scene, _peer(Phase.DISABLING_VERIFICATION, "aaa-lead")))
    assert decision.code is Code.SITE_STEP_ON_PEER and decision.action is None
    assert "on the API of aaa-lead" in decision.reason


def test_the_lead_acts_in_a_site_stage() -> None:
    scene = at(Phase.DISABLING_VERIFICATION)
    for group in scene.world.groups:
        group.flag = True
    decision = scene.decide(site=_site(scene, _peer(Phase.DISABLING_VERIFICATION, "zzz-follower")))
    assert isinstance(decision.action, SetVerification) and not decision.action.enabled


def test_a_follower_passes_a_site_stage_once_the_lead_is_past_it_with_the_leads_change_times() -> None:
    scene = at(Phase.DISABLING_VERIFICATION)
    lead = _peer(Phase.WAITING_UNVERIFIED, "aaa-lead")
    decision = scene.decide(site=_site(scene, lead))
    assert decision.phase is Phase.WAITING_UNVERIFIED and decision.code is Code.SITE_STEP_DONE_ON_PEER
    assert decision.record.facts.verification_off_at == lead.facts.verification_off_at


def test_an_unhealthy_lead_hands_the_site_stage_to_the_next_server_that_answers() -> None:
    scene = at(Phase.DISABLING_VERIFICATION)
    for group in scene.world.groups:
        group.flag = True
    decision = scene.decide(site=_site(scene, _peer(Phase.DISABLING_VERIFICATION, "aaa-lead", healthy=False)))
    assert isinstance(decision.action, SetVerification)


def test_the_swap_waits_for_the_turn_and_for_every_other_server_of_the_site_to_answer() -> None:
    scene = at(Phase.WAITING_UNVERIFIED)
    swapping = scene.decide(site=_site(scene, _peer(Phase.UPDATING_CERTIFICATE, "zzz-other")))
    assert swapping.phase is Phase.WAITING_UNVERIFIED and swapping.code is Code.SITE_SWAP_TURN
    down = scene.decide(site=_site(scene, _peer(Phase.WAITING_UNVERIFIED, "zzz-other", healthy=False)))
    assert down.phase is Phase.WAITING_UNVERIFIED and down.code is Code.SITE_PEER_DOWN
    two = scene.decide(site=_site(scene, _peer(Phase.UPDATING_CERTIFICATE, "zzz-other"), swap_concurrency=2))
    assert two.phase is Phase.UPDATING_CERTIFICATE
    turn = scene.decide(site=_site(scene, _peer(Phase.FETCHING_CERTIFICATE, "zzz-other")))
    assert turn.phase is Phase.UPDATING_CERTIFICATE


def test_5a_waits_until_every_server_of_the_site_finished_4a_and_its_own_4b() -> None:
    scene = at(Phase.FETCHING_CERTIFICATE)
    behind = scene.decide(site=_site(scene, _peer(Phase.WAITING_UNVERIFIED, "zzz-other")))
    assert behind.phase is Phase.FETCHING_CERTIFICATE and behind.code is Code.SITE_SWAPS_PENDING
    soaking = scene.decide(
        site=_site(scene, _peer(Phase.FETCHING_CERTIFICATE, "zzz-other", code="SoakNotOver"))
    )
    assert soaking.code is Code.SITE_SWAPS_PENDING
    done = _peer(Phase.FETCHING_CERTIFICATE, "zzz-other", code=Code.SITE_SWAPS_PENDING.value)
    assert scene.decide(site=_site(scene, done)).phase is Phase.ENABLING_VERIFICATION


def test_a_server_drifting_while_its_site_is_past_step_3_waits_for_the_next_site_rollout() -> None:
    scene = at(Phase.DRIFTED)
    busy = scene.decide(site=_site(scene, _peer(Phase.ENABLING_VERIFICATION, "zzz-other")))
    assert busy.phase is Phase.DRIFTED and busy.code is Code.SITE_ROLLOUT_BUSY
    joins = scene.decide(site=_site(scene, _peer(Phase.WAITING_UNVERIFIED, "zzz-other")))
    assert joins.phase is Phase.BREAKING_REPLICATION


def test_a_later_wave_begins_4a_only_when_every_earlier_wave_passed_4b() -> None:
    scene = at(Phase.WAITING_UNVERIFIED)
    site = SiteView("Site West", (scene.spec.name,), wave=2)
    early = replace(site, earlier={"sepm-first": (1, _peer(Phase.UPDATING_CERTIFICATE, "sepm-first"))})
    held = scene.decide(site=early)
    assert held.phase is Phase.WAITING_UNVERIFIED and held.code is Code.EARLIER_WAVE_PENDING
    unseen = replace(site, earlier={"sepm-first": (1, None)})
    assert scene.decide(site=unseen).code is Code.EARLIER_WAVE_PENDING
    passed = replace(site, earlier={"sepm-first": (1, _peer(Phase.ENABLING_VERIFICATION, "sepm-first"))})
    assert scene.decide(site=passed).phase is Phase.UPDATING_CERTIFICATE


def test_an_abort_is_refused_while_another_server_of_the_site_is_past_step_3() -> None:
    scene = at(Phase.WAITING_UNVERIFIED)
    scene.record = replace(scene.record, abort_request=Request("eve", scene.world.now, "CAB said no"))
    refused = scene.decide(site=_site(scene, _peer(Phase.UPDATING_CERTIFICATE, "zzz-other")))
    assert refused.phase is not Phase.ROLLING_BACK
    (event,) = [e for e in refused.events if e.kind is EventKind.ABORT_REFUSED]
    assert "zzz-other, which is past step 3" in event.reason
    allowed = scene.decide(site=_site(scene, _peer(Phase.WAITING_UNVERIFIED, "zzz-other")))
    assert allowed.phase is Phase.ROLLING_BACK


def test_step7_waits_for_every_other_server_of_the_site_before_replication_comes_back() -> None:
    """The site is one database: its lead restoring the partnership while another server of the site is still in
    step 6 makes replication come back under that server after its swap (a stall a person must undo). Found by CI: the
    demo's two-server site, under load."""
    scene = at(Phase.RESTORING_REPLICATION)
    behind = scene.decide(site=_site(scene, _peer(Phase.WAITING_VERIFIED, "zzz-follower")))
    assert behind.phase is Phase.RESTORING_REPLICATION and behind.action is None
    assert behind.code is Code.PARTNER_ROTATING
    assert "zzz-follower" in behind.reason and "step 6" in behind.reason
    there = scene.decide(site=_site(scene, _peer(Phase.RESTORING_REPLICATION, "zzz-follower")))
    assert there.code is not Code.PARTNER_ROTATING and there.action is not None
