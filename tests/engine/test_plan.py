"""``plan_server``: the remaining steps of a server and the earliest time each can end — pure, table-driven on the
core's scriptable manager (tests.core.builders)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from reconciler.core.procedure import Phase
from reconciler.core.spec import ManagedServer
from reconciler.engine import Gathered
from reconciler.engine.plan import ServerPlan, plan_server
from reconciler.errors import CertificateError
from reconciler.specs import LoadedServer
from tests.support.manager import FAST, NEW, T0, Driver, World, hook, hooked, make_spec

WEEKEND = {"days": ["sat", "sun"], "start": "22:00", "end": "04:00", "timezone": "Europe/Madrid"}


def loaded(spec: ManagedServer) -> LoadedServer:
    return LoadedServer(
        spec=spec, source=Path("/specs/east.yaml"), line=1, base_dir=Path("/specs"), file="east.yaml"
    )


def plan_of(driver: Driver, **gathered: Any) -> ServerPlan:
    world = driver.world
    fields: dict[str, Any] = {
        "server": loaded(driver.spec),
        "desired": NEW,
        "desired_error": None,
        "record": driver.record,
        "observation": world.observe(driver.record),
    }
    fields.update(gathered)
    return plan_server(Gathered(**fields), now=world.now, revision=driver.revision, tuning=FAST)


def ends(plan: ServerPlan) -> dict[str, datetime | None]:
    return {s.label: s.earliest_end for s in plan.steps}


def test_a_drifted_server_is_planned_through_soaks_approval_and_the_weekend_window() -> None:
    driver = Driver(hooked(approvals=(4,), window=WEEKEND), World())

    plan = plan_of(driver)

    assert plan.changes and not plan.in_sync and plan.error is None
    assert plan.phase is Phase.BREAKING_REPLICATION and plan.next_action == "move new → breaking_replication"
    assert [s.status for s in plan.steps] == ["current", *["pending"] * 9]
    saturday_night = datetime(2026, 12, 5, 21, 0, tzinfo=UTC)  # Sat 22:00 Europe/Madrid
    assert ends(plan) == {
        "1": T0,
        "2a": T0,
        "2b": T0,
        "3": T0 + timedelta(hours=24),
        "4a": saturday_night,
        "4b": saturday_night + timedelta(hours=24),  # clients check in and fetch the new certificate
        "5a": saturday_night + timedelta(hours=24),
        "5b": saturday_night + timedelta(hours=24),
        "6": saturday_night + timedelta(hours=48),
        "7": saturday_night + timedelta(hours=48),
    }
    step4 = plan.steps[4]
    assert step4.earliest_start == saturday_night and step4.label == "4a"
    assert (
        step4.gates[0]
        == "step 4 needs an approval: sepm-reconciler approve sepm-east-01 --step 4 --reason WHY"
    )
    assert "opens 2026-12-05 21:00 UTC" in step4.gates[1]
    assert plan.eta == saturday_night + timedelta(hours=48)
    assert plan.to_json()["steps"][3]["earliest_end"] == "2026-12-02T08:00:00Z"
    assert [(s["step"], s["substep"]) for s in plan.to_json()["steps"][:3]] == [
        (1, None),
        (2, "2a"),
        (2, "2b"),
    ]
    # which evidence 2a and 5b rest on: the list read back, else a serial move and the hook's exit
    switch = plan.steps[1]
    assert switch.by == "hook" and "Default Management Server List (HTTP)" in switch.does
    assert "policy serial moves after the sub-step began and the hook exits 0" in switch.waits_for


def test_a_soak_in_progress_ends_at_the_recorded_change_plus_min_soak_on_the_managers_clock() -> None:
    world = World()
    driver = Driver(hooked(), world)
    driver.run_until(Phase.WAITING_UNVERIFIED)
    off_at = driver.record.facts.verification_off_at if driver.record else None
    assert off_at is not None
    world.advance(timedelta(hours=5))

    plan = plan_of(driver)

    assert [s.status for s in plan.steps[:4]] == ["done", "done", "done", "current"]
    skew = world.manager_skew  # the manager runs ahead: its soak ends earlier on our clock
    assert plan.steps[3].earliest_end == off_at - skew + timedelta(hours=24)
    assert plan.eta == off_at - skew + timedelta(hours=72)  # then 4b's and 6's days


def test_an_in_sync_server_has_nothing_to_plan() -> None:
    driver = Driver(hooked(), World())
    driver.world.install(NEW)

    plan = plan_of(driver)

    assert plan.in_sync and not plan.changes and plan.steps == () and plan.eta is None


def test_a_stalled_rollout_shows_where_it_stalled_and_no_eta() -> None:
    driver = Driver(hooked(update_certificate=hook(max_attempts=1)), World())
    driver.run_until(Phase.UPDATING_CERTIFICATE, step=timedelta(hours=2))
    driver.tick(effect=False, succeeded=False)  # the hook fails once: maxAttempts 1
    driver.world.advance(timedelta(hours=1))

    plan = plan_of(driver)

    assert plan.phase is Phase.STALLED and plan.step == 4 and plan.changes
    assert plan.remedy is not None and "sepm-reconciler resume sepm-east-01" in plan.remedy
    assert [s.status for s in plan.steps][4] == "stalled"
    assert plan.eta is None and all(s.earliest_end is None for s in plan.steps if s.status != "done")


@pytest.mark.parametrize(
    ("spec", "note"),
    [
        (
            make_spec(mode="report"),
            "report mode (spec.rollout.mode: report): the reconciler observes and never acts",
        ),
        (make_spec(), "manual steps wait for an operator: the times shown assume they are done at once"),
    ],
    ids=["report-mode-never-acts", "manual-steps-assume-an-operator"],
)
def test_plans_say_what_the_times_assume(spec: ManagedServer, note: str) -> None:
    plan = plan_of(Driver(spec, World()))

    assert plan.changes and note in plan.notes


def test_an_unusable_desired_certificate_is_an_error_not_a_plan() -> None:
    driver = Driver(hooked(), World())

    plan = plan_of(driver, desired=None, desired_error=CertificateError("certs/east.crt: no such file"))

    assert plan.error == "desired certificate: certs/east.crt: no such file"
    assert plan.steps == () and plan.changes and not plan.in_sync
