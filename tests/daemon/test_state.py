"""Liveness and readiness from the daemon's runtime state (pure: times are given)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from reconciler.daemon.specwatch import SpecsStatus
from reconciler.daemon.state import DaemonState, Role, ServerRuntime

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
GRACE = timedelta(seconds=60)


def _state(role: Role = Role.LEADER, **runtime: object) -> DaemonState:
    state = DaemonState(
        holder="me",
        specs=SpecsStatus(path="specs", revision="abc", valid=True),
        started_at=T0,
        lease_period=10,
        watch_period=5,
        role=role,
        role_reason="holds the lease" if role is Role.LEADER else "another daemon holds the lease",
        lease_checked_at=T0,
        specs_checked_at=T0,
    )
    state.servers["sepm-east"] = ServerRuntime("sepm-east", timeout=300, **runtime)
    return state


@pytest.mark.parametrize(
    ("runtime", "now", "problem"),
    [
        pytest.param(
            {"due_at": T0 + timedelta(seconds=30)}, T0 + timedelta(seconds=20), None, id="due-later"
        ),
        pytest.param({"due_at": T0}, T0 + timedelta(seconds=50), None, id="late-within-grace"),
        pytest.param(
            {"due_at": T0}, T0 + timedelta(seconds=61), "the scheduler is not running ticks", id="overdue"
        ),
        pytest.param(
            {"due_at": None, "running_since": T0},
            T0 + timedelta(seconds=200),
            None,
            id="running-within-timeout",
        ),
        pytest.param(
            {"due_at": T0 - timedelta(hours=1), "running_since": T0},
            T0 + timedelta(seconds=200),
            None,
            id="running-is-not-overdue",
        ),
        pytest.param(
            {"running_since": T0}, T0 + timedelta(seconds=361), "past its timeout", id="stuck-past-timeout"
        ),
    ],
)
def test_ticks_are_stale_when_overdue_or_stuck(
    runtime: dict[str, object], now: datetime, problem: str | None
) -> None:
    state = _state(**runtime)
    state.lease_checked_at = state.specs_checked_at = now  # the loops are alive
    problems = state.health(now, GRACE)
    if problem is None:
        assert problems == []
    else:
        assert len(problems) == 1 and problem in problems[0] and problems[0].startswith("sepm-east: ")


@pytest.mark.parametrize(
    ("field", "what"), [("lease_checked_at", "the lease loop"), ("specs_checked_at", "the spec watcher")]
)
def test_a_dead_background_loop_is_unhealthy(field: str, what: str) -> None:
    state = _state(Role.STANDBY)
    now = T0 + timedelta(minutes=5)
    state.lease_checked_at = state.specs_checked_at = now
    setattr(state, field, T0)
    assert state.health(now, GRACE) == [f"{what} has not run for 5 min"]


def test_a_standby_daemon_is_alive_but_not_ready() -> None:
    state = _state(Role.STANDBY, due_at=T0 - timedelta(hours=1))  # a standby's old due times do not count
    assert state.health(T0, GRACE) == []
    assert state.readiness() == "standby: another daemon holds the lease"


@pytest.mark.parametrize(
    ("role", "revision", "errors", "ready"),
    [
        pytest.param(Role.LEADER, "abc", [], True, id="leader-with-specs"),
        pytest.param(Role.LEADER, "abc", ["east.yaml:3:1: bad"], True, id="leader-last-valid-in-force"),
        pytest.param(Role.LEADER, None, ["east.yaml:3:1: bad"], False, id="leader-without-valid-specs"),
        pytest.param(Role.STARTING, "abc", [], False, id="starting"),
        pytest.param(Role.STOPPING, "abc", [], False, id="stopping"),
    ],
)
def test_ready_means_leading_with_valid_specs_in_force(
    role: Role, revision: str | None, errors: list[str], ready: bool
) -> None:
    state = _state(role)
    state.specs = SpecsStatus(path="specs", revision=revision, valid=not errors, errors=errors)
    assert (state.readiness() is None) is ready
    if revision is None:
        assert "east.yaml:3:1: bad" in (state.readiness() or "")


def test_a_stopping_daemon_is_not_healthy() -> None:
    assert _state(Role.STOPPING).health(T0, GRACE) == ["stopping"]
