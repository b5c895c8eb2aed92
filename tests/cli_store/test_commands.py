"""The store-only commands through the real CLI entry point: status, history, approve, suspend, resume, abort."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from reconciler.cli import main
from reconciler.core.events import EventKind
from reconciler.core.procedure import Phase
from reconciler.store import open_store
from tests.support.manager import NEW, Driver, World, hooked, make_spec

DOCUMENTED = [
    "name",
    "phase",
    "step",
    "in_sync",
    "stalled",
    "reason",
    "desired_fingerprint",
    "observed_fingerprints",
    "next_check_at",
    "code",
]


def persist(store_url: str, driver: Driver) -> None:
    """Store the driver's record and events as the engine would."""
    assert driver.record is not None
    with open_store(store_url) as store:
        existing = store.get(driver.record.server)
        store.save(replace(driver.record, version=existing.version if existing else 0), driver.events)


@pytest.fixture
def state(tmp_path: Path) -> str:
    """A state with four managers: rotating (step 3), stalled (step 3), in sync, and at a manual step 4."""
    store_url = f"sqlite:///{tmp_path / 'state.db'}"
    east = Driver(hooked(approvals=(4,)), World())
    east.run_until(Phase.WAITING_UNVERIFIED, step=timedelta(hours=1))
    east.world.acknowledged, east.world.pending_offline = 1834, 66
    east.decide()
    persist(store_url, east)

    west = Driver(
        hooked(name="sepm-west-01", site="Site West", partners=(), max_soak="2d"), World(name="sepm-west-01")
    )
    west.world.partners.clear()
    west.run_until(Phase.WAITING_UNVERIFIED, step=timedelta(hours=1))
    west.world.acknowledged = 1800
    west.run_until(Phase.STALLED, step=timedelta(hours=6))
    persist(store_url, west)

    north_world = World(name="sepm-north-01")
    north_world.install(NEW)
    north = Driver(make_spec("sepm-north-01", site="Site North", partners=()), north_world)
    north.decide()
    persist(store_url, north)

    south = Driver(
        hooked(name="sepm-south-01", site="Site South", partners=(), update_certificate="manual"),
        World(name="sepm-south-01"),
    )
    south.world.partners.clear()
    south.run_until(Phase.UPDATING_CERTIFICATE, step=timedelta(hours=1))
    south.decide()
    persist(store_url, south)
    return store_url


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    captured = capsys.readouterr()
    code = exit_info.value.code
    return (code if isinstance(code, int) else 1), captured.out, captured.err


# --- status --------------------------------------------------------------------------------------------------------


def test_status_json_has_the_documented_shape(capsys: pytest.CaptureFixture[str], state: str) -> None:
    code, out, err = run(capsys, "status", "--state", state, "--output", "json")
    assert code == 0, err
    servers = json.loads(out)["servers"]
    assert [s["name"] for s in servers] == ["sepm-east-01", "sepm-north-01", "sepm-south-01", "sepm-west-01"]
    for server in servers:
        assert list(server)[: len(DOCUMENTED)] == DOCUMENTED
        assert set(server["observed_fingerprints"]) == {"clients", "console", "api"}
        assert server["next_check_at"].endswith("Z")
        assert isinstance(server["step"], int) and 0 <= server["step"] <= 7
    east, north, south, west = servers
    assert (east["phase"], east["step"], east["in_sync"], east["stalled"]) == (
        "waiting_unverified",
        3,
        False,
        False,
    )
    assert east["code"] == "SoakNotOver"
    assert "1,834 / 1,900 eligible have the policy (96.5%, need 100%)" in east["reason"]
    assert east["clients"]["at_risk_count"] == 66
    assert east["desired_fingerprint"] == NEW
    assert (north["phase"], north["step"], north["in_sync"], north["code"]) == ("in_sync", 0, True, "InSync")
    assert north["observed_fingerprints"] == {"clients": NEW, "console": NEW, "api": NEW}
    assert (west["phase"], west["step"], west["stalled"], west["code"]) == (
        "stalled",
        3,
        True,
        "MaxSoakExceeded",
    )
    assert "raise spec.rollout.clients.maxSoak" in west["remedy"]
    assert south["code"] == "ManualStepPending"
    assert south["action"]["performer"] == "manual"
    assert "Manage Server Certificate" in south["action"]["instructions"]
    # the sub-step: 4a for the manual swap, none in step 3 or in sync; how 2a was seen done
    assert [s["substep"] for s in servers] == [None, None, "4a", None]
    assert south["management_server_list"] == {"switch": "read_back", "restore": None}
    assert north["management_server_list"] is None


def test_status_text_explains_each_server(capsys: pytest.CaptureFixture[str], state: str) -> None:
    code, out, _ = run(capsys, "status", "--state", state)
    assert code == 0
    flat = " ".join(out.split())
    assert "rotating 3/7" in flat
    assert "rotating 4a/7" in flat  # the manual swap: a sub-step
    assert "stalled 3/7" in flat
    assert "in sync" in flat
    assert "sepm-west-01: remedy: raise spec.rollout.clients.maxSoak" in flat
    assert "sepm-south-01: to do by hand (step 4): In the SEPM console of sepm-south-01.corp.example" in flat


def test_status_reads_the_state_named_by_the_environment(state: str, tmp_path: Path) -> None:
    env = {**os.environ, "SEPM_RECONCILER_STATE": state}
    proc = subprocess.run(
        [sys.executable, "-m", "reconciler", "status", "--output", "json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads(proc.stdout)["servers"]) == 4
    assert not (tmp_path / ".sepm-reconciler").exists()


def test_status_without_a_state_fails_clearly_and_creates_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    missing = tmp_path / "nowhere" / "state.db"
    code, out, err = run(capsys, "status", "--state", f"sqlite:///{missing}")
    assert code == 1
    assert out == ""
    assert f"error: no state at {missing}" in err
    assert not missing.exists()


def test_status_of_an_unusable_state_url_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "status", "--state", "postgresql://u:topsecret@db/x")
    assert code == 1
    assert "the state URL 'postgresql://u:***@db/x' holds a password" in err
    assert "topsecret" not in err


# --- history -------------------------------------------------------------------------------------------------------


def test_history_shows_every_move_with_its_actor(capsys: pytest.CaptureFixture[str], state: str) -> None:
    code, out, _ = run(capsys, "history", "sepm-east-01", "--state", state, "--output", "json")
    assert code == 0
    document = json.loads(out)
    assert document["server"] == "sepm-east-01"
    moves = [(e["from_phase"], e["to_phase"]) for e in document["events"] if e["kind"] == "transition"]
    assert moves == [
        ("new", "breaking_replication"),
        ("breaking_replication", "switching_to_http_list"),
        ("switching_to_http_list", "disabling_verification"),
        ("disabling_verification", "waiting_unverified"),
    ]
    assert all(e["actor"] == "reconciler" for e in document["events"])
    code, text, _ = run(capsys, "history", "sepm-east-01", "--state", state, "--limit", "1")
    assert code == 0 and "waiting_unverified" in " ".join(text.split())


def test_history_of_an_unknown_server_names_the_known_ones(
    capsys: pytest.CaptureFixture[str], state: str
) -> None:
    code, _, err = run(capsys, "history", "sepm-nowhere", "--state", state)
    assert code == 1
    assert "unknown server 'sepm-nowhere'" in err
    assert "it knows sepm-east-01, sepm-north-01, sepm-south-01, sepm-west-01" in err


# --- approve / suspend / resume / abort ----------------------------------------------------------------------------


def test_approve_records_a_permanent_approval(capsys: pytest.CaptureFixture[str], state: str) -> None:
    code, out, err = run(
        capsys,
        "approve",
        "sepm-east-01",
        "--step",
        "4",
        "--by",
        "alice",
        "--reason",
        "CAB-1234",
        "--state",
        state,
    )
    assert code == 0, err
    assert "step 4 approved by alice: CAB-1234" in out
    with open_store(state) as store:
        record = store.get("sepm-east-01")
        events = store.events("sepm-east-01")
    assert record is not None
    [approval] = record.approvals
    assert (approval.step, approval.by, approval.reason, approval.fingerprint) == (
        4,
        "alice",
        "CAB-1234",
        NEW,
    )
    assert events[-1].kind is EventKind.APPROVAL and events[-1].actor == "alice"


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (
            ["approve", "sepm-east-01", "--step", "9", "--by", "a", "--reason", "r"],
            1,
            "--step must be a step of the procedure, 1 to 7 (got 9)",
        ),
        (
            ["approve", "sepm-nowhere", "--step", "4", "--by", "a", "--reason", "r"],
            1,
            "unknown server 'sepm-nowhere'",
        ),
        (["approve", "sepm-east-01", "--step", "2", "--by", "a", "--reason", "r"], 1, "step 2 of rollout"),
        (
            ["approve", "sepm-north-01", "--step", "4", "--by", "a", "--reason", "r"],
            1,
            "has no rollout in progress",
        ),
        (
            ["approve", "sepm-east-01", "--step", "four", "--by", "a", "--reason", "r"],
            64,
            "'four' is not a valid integer",
        ),
        (["approve", "sepm-east-01", "--step", "4", "--by", "a"], 64, "Missing option '--reason'"),
        (
            ["approve", "sepm-east-01", "--step", "5", "--by", "a", "--reason", "r"],
            1,
            "step 5 of sepm-east-01 needs no approval: spec.rollout.approvals lists 4",
        ),
        (
            ["approve", "sepm-north-01", "--step", "4", "--accept-at-risk", "--by", "a", "--reason", "r"],
            1,
            "has no rollout in progress",
        ),
        (["abort", "sepm-nowhere"], 1, "unknown server 'sepm-nowhere'"),
        (["suspend", "sepm-east-01"], 64, "Missing option '--reason'"),
    ],
    ids=[
        "step-9",
        "unknown-server",
        "step-done",
        "nothing-to-approve",
        "step-not-a-number",
        "no-reason",
        "step-needs-no-approval",
        "accept-nothing",
        "abort-unknown",
        "suspend-no-reason",
    ],
)
def test_refusals_have_a_precise_message_and_exit_code(
    capsys: pytest.CaptureFixture[str], state: str, argv: list[str], code: int, message: str
) -> None:
    got, _out, err = run(capsys, *argv, "--state", state)
    assert got == code
    assert message in err
    with open_store(state) as store:
        assert all(not r.approvals and r.suspension is None and r.abort_request is None for r in store.all())


def test_suspend_then_resume(capsys: pytest.CaptureFixture[str], state: str) -> None:
    code, out, _ = run(
        capsys, "suspend", "sepm-east-01", "--reason", "change freeze", "--by", "bob", "--state", state
    )
    assert code == 0 and "suspended by bob: change freeze" in out
    code, _, err = run(capsys, "suspend", "sepm-east-01", "--reason", "again", "--state", state)
    assert code == 1 and "already suspended (by bob" in err
    code, out, _ = run(capsys, "status", "--state", state, "--output", "json")
    east = json.loads(out)["servers"][0]
    assert east["suspended"] is True and east["suspension"]["by"] == "bob"
    code, out, _ = run(capsys, "resume", "sepm-east-01", "--by", "bob", "--state", state)
    assert code == 0 and "suspension lifted" in out
    code, _, err = run(capsys, "resume", "sepm-east-01", "--state", state)
    assert code == 1 and "nothing to resume" in err
    with open_store(state) as store:
        kinds = [(e.kind, e.actor) for e in store.events("sepm-east-01")][-2:]
    assert kinds == [(EventKind.SUSPENDED, "bob"), (EventKind.RESUMED, "bob")]


def test_resume_asks_a_stalled_rollout_to_continue(capsys: pytest.CaptureFixture[str], state: str) -> None:
    code, out, err = run(
        capsys, "resume", "sepm-west-01", "--by", "carol", "--reason", "maxSoak raised", "--state", state
    )
    assert code == 0, err
    assert "stalled rollout asked to continue at step 3" in out
    with open_store(state) as store:
        record = store.get("sepm-west-01")
    assert record is not None and record.resume_request is not None and record.resume_request.by == "carol"


def test_abort_before_step4_is_accepted_and_after_is_refused(
    capsys: pytest.CaptureFixture[str], state: str
) -> None:
    code, out, err = run(capsys, "abort", "sepm-east-01", "--by", "eve", "--state", state)
    assert code == 0, err
    assert "abort requested by eve" in out
    code, out, _ = run(capsys, "status", "--state", state, "--output", "json")
    assert json.loads(out)["servers"][0]["abort_requested"] is True
    code, _, err = run(capsys, "abort", "sepm-south-01", "--by", "eve", "--state", state)
    assert code == 1
    assert "abort refused: sepm-south-01 is at step 4 and the certificate update has begun" in err
    assert "only goes forward" in err
