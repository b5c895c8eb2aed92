"""The daemon's gate on starting actions, on a real SQLite state and with the real engine against the simulator."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from reconciler.cli._demo_lab import ORIGINAL_LIST, Lab
from reconciler.core.actions import ActionKind, Performer
from reconciler.core.procedure import Phase
from reconciler.core.record import Attempt, AttemptOutcome, RolloutRecord, new_record
from reconciler.daemon.gate import GatedStore
from reconciler.engine import Engine
from reconciler.errors import ConflictError
from reconciler.specs import load_specs
from reconciler.store import open_store
from tests.daemon.kit import rig

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def _attempt(number: int, outcome: AttemptOutcome = AttemptOutcome.PENDING) -> Attempt:
    return Attempt(
        rollout_id="r-1",
        step=4,
        kind=ActionKind.UPDATE_CERTIFICATE,
        number=number,
        performer=Performer.COMMAND,
        started_at=T0,
        deadline=T0 + timedelta(minutes=30),
        outcome=outcome,
    )


@pytest.fixture
def gated(tmp_path: Path) -> GatedStore:
    store = GatedStore(open_store(f"sqlite:///{tmp_path / 'state.db'}"))
    base = replace(new_record("sepm-east", T0), phase=Phase.UPDATING_CERTIFICATE, rollout_id="r-1")
    store.save(base)
    return store


def _stored(store: GatedStore) -> RolloutRecord:
    record = store.get("sepm-east")
    assert record is not None
    return record


def test_a_shut_gate_refuses_the_save_that_would_start_an_action(gated: GatedStore) -> None:
    gated.shut("the daemon is stopping")
    starting = replace(_stored(gated), attempts=(_attempt(1),), reason="running the hook")
    with pytest.raises(ConflictError, match=r"update_certificate .*not started: the daemon is stopping"):
        gated.save(starting)
    assert gated.take_refused("sepm-east") is True
    assert gated.take_refused("sepm-east") is False  # reported once
    assert _stored(gated).attempts == ()  # nothing was written


def test_a_shut_gate_lets_an_action_already_started_record_its_result(gated: GatedStore) -> None:
    started = gated.save(replace(_stored(gated), attempts=(_attempt(1),)))
    gated.shut("the daemon is stopping")
    finished = replace(started, attempts=(_attempt(1, AttemptOutcome.SUCCEEDED),))
    gated.save(finished)  # completing an attempt starts nothing
    held = replace(_stored(gated), reason="waiting for the ports")
    gated.save(held)  # neither does a hold
    assert _stored(gated).attempts[0].outcome is AttemptOutcome.SUCCEEDED
    assert gated.take_refused("sepm-east") is False


def test_a_reopened_gate_lets_actions_start_again(gated: GatedStore) -> None:
    gated.shut("standby")
    gated.reopen()
    gated.save(replace(_stored(gated), attempts=(_attempt(1),)))
    assert gated.shut_reason is None
    assert _stored(gated).attempts[0].outcome is AttemptOutcome.PENDING


async def test_the_engine_behind_a_shut_gate_observes_but_starts_no_action(
    tmp_path: Path, base_lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    with rig(tmp_path, base_lab, only=["sepm-dmz"]) as world:
        for key, value in world.lab.environment().items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("SEPM_TEST_MARKERS", world.env["SEPM_TEST_MARKERS"])  # the hooks' run markers
        store = GatedStore(open_store(world.state_url))
        engine = Engine(load_specs(world.specs), store)
        first = await engine.tick("sepm-dmz")  # drift seen: enters step 1 (nothing to break: no partners)
        assert first.phase_after is Phase.BREAKING_REPLICATION and first.error is None
        second = await engine.tick("sepm-dmz")  # moves to step 2a; its list hook comes with the next tick
        assert second.phase_after is Phase.SWITCHING_TO_HTTP_LIST
        before = store.get("sepm-dmz")
        store.shut("the daemon is stopping")
        third = await engine.tick("sepm-dmz")
        assert third.conflict and not third.acted
        assert store.take_refused("sepm-dmz")
        assert store.get("sepm-dmz") == before  # nothing written
        groups = world.ground_truth()["managers"]["sepm-dmz"]["groups"]
        assert all(g["secure_communications"] for g in groups if not g["inherits"])
        assert {g["list"] for g in groups} == {ORIGINAL_LIST}  # the list hook never ran
        store.reopen()
        fourth = await engine.tick("sepm-dmz")
        assert fourth.acted and fourth.outcome is not None and fourth.outcome.succeeded
        store.close()
