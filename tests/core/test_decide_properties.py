"""Properties of ``decide`` over states Hypothesis builds: any stage, anything the manager may show (flags, ports,
partners, clients, unknowns, a rogue certificate), any desired certificate, approvals, a stall.

* it is deterministic: the same inputs give the same decision;
* it never goes back past the point of no return: once the certificate may have changed, no decision rolls back or
  returns before the swap.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.core.observation import PORT_NAMES
from reconciler.core.procedure import STANDARD, Phase
from reconciler.core.record import RolloutRecord
from tests.support.manager import NEW, NEWER, OLD, ROGUE
from tests.support.states import Scene, at

PHASES = [s.phase for s in STANDARD.stages if s.phase not in (Phase.NEW, Phase.IN_SYNC)]
FINGERPRINTS = st.sampled_from([OLD, NEW, NEWER, ROGUE, None])


@st.composite
def scenes(draw: st.DrawFn) -> Scene:
    phase = draw(st.sampled_from(PHASES))
    approvals = tuple(draw(st.sets(st.integers(1, 7), max_size=3)))
    scene = at(phase, approvals=approvals)
    world = scene.world
    for group in world.groups:
        group.flag = draw(st.sampled_from([True, False, None]))
        if draw(st.booleans()):
            group.policy_time = world.manager_time - timedelta(minutes=draw(st.integers(0, 5000)))
    for port in PORT_NAMES:
        if draw(st.integers(0, 4)) == 0:
            world.served[port] = draw(FINGERPRINTS)
    if draw(st.booleans()):
        world.break_replication()
    elif draw(st.booleans()):
        world.restore_replication("Site West")
        world.replicate("Site West", status=draw(st.sampled_from(["SUCCEEDED", "FAILED_CONNECT"])))
    world.acknowledged = draw(st.none() | st.integers(0, world.eligible))
    world.unknown = set(draw(st.sets(st.sampled_from(["groups", "replication", "clients", "manager_time"]))))
    world.api_error = draw(st.none() | st.just("the manager refused the credentials"))
    world.advance(timedelta(hours=draw(st.integers(-30, 30) | st.integers(30, 400))))
    scene.desired = draw(st.sampled_from([NEW, NEW, OLD, NEWER]))
    for step in approvals:
        if draw(st.booleans()):
            scene.approve(step)
    if draw(st.integers(0, 5)) == 0:
        scene.stall()
    if phase is Phase.UPDATING_CERTIFICATE and draw(st.booleans()):
        scene.record = replace(
            scene.record,
            facts=replace(scene.record.facts, certificate_changed_at=world.now - timedelta(hours=1)),
        )
    return scene


def past_no_return(record: RolloutRecord) -> bool:
    """The served certificate may already have changed: the rollout only goes forward."""
    working = record.working_phase
    return STANDARD.past_no_return(working) or (
        working is STANDARD.point_of_no_return.phase and record.facts.certificate_changed_at is not None
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenes())
def test_decide_is_deterministic(scene: Scene) -> None:
    first = scene.decide()
    second = scene.decide()
    assert first == second


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenes(), st.integers(1, 4))
def test_decide_never_goes_back_past_the_point_of_no_return(scene: Scene, ticks: int) -> None:
    point = STANDARD.point_of_no_return
    for _ in range(ticks):
        before = scene.record
        decision = scene.decide()
        after = decision.record
        if past_no_return(before):
            assert after.working_phase is not Phase.ROLLING_BACK, decision.reason
            assert (
                after.phase in (Phase.IN_SYNC, Phase.DRIFTED)
                or STANDARD.number_of(after.working_phase) >= point.number
            ), (before.phase, after.phase, decision.reason)
        scene.then(decision)
        scene.world.advance(timedelta(hours=1))
