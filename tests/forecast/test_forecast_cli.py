"""``sepm-reconciler forecast`` against a running fleet: it changes nothing there, keeps no client name, and says how
the rollout will go — durations, clients at risk, approvals, windows, stalls, the latest start."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import yaml

from reconciler.cli._demo_lab import ManagerPlan
from tests.forecast.kit import forecast_json, real_fleet, run_forecast, server

DAY = 86400


def test_forecast_changes_nothing_on_the_managers_and_no_client_name_leaves_the_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with real_fleet(tmp_path) as fleet:
        before = fleet.truth()
        names = fleet.names()
        twin = tmp_path / "twin"
        outputs = []
        for output in ("text", "json", "markdown"):
            code, out, err = run_forecast(
                fleet, monkeypatch, capsys, "--runs", "1", "--output", output, "--twin", str(twin)
            )
            assert code == 0, err
            outputs.append(out + err)
        after = fleet.truth()
    assert (
        after == before
    )  # served certificates, partners, groups, flags, serials, lists, every client, settings
    written = (twin / "fleet.yaml").read_text(encoding="utf-8") + "".join(outputs)
    assert names and not [n for n in names if n in written]
    assert "away" in outputs[0]  # the text says how many are away: numbers, not names


def test_the_forecast_of_a_plain_rollout_times_each_step_and_counts_the_laptops_away(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = {"minSoak": "6h", "excludeOfflineFor": "12h", "maxSoak": "3d"}
    with real_fleet(tmp_path, policy=policy) as fleet:
        away = {name: m["clients"]["offline"] for name, m in fleet.sim.state()["managers"].items()}
        document = forecast_json(fleet, monkeypatch, capsys, "--runs", "3", "--resolution", "30m")
    assert document["runs"] == 3 and document["errors"] == {}
    for name in ("sepm-east", "sepm-west"):
        s = server(document, name)
        assert s["finished"] == 3 and s["ends"] == {"in_sync": 3}
        steps = {step["step"]: step for step in s["steps"]}
        wait = steps["3"]["seconds"]
        # laptops away less than 12 h are waited for until they age past excludeOfflineFor (from up to 12 h on)
        assert 6 * 3600 - 60 <= wait["median"] <= 12 * 3600 + 1800
        assert steps["6"]["seconds"]["median"] >= 6 * 3600 - 60
        assert 12 * 3600 <= s["total_seconds"]["median"] <= 2 * DAY
        first_risk = next(iter(s["at_risk"].values()))
        assert first_risk["median"] == away[name]  # nobody away comes back in the twin: every one at risk
        assert s["read"]["clients"] == fleet.lab.plans[0 if name == "sepm-east" else 1].clients
        assert s["stalls"] == [] and s["approvals"] == []
        assert s["latest_start"] is not None and s["not_after"] is not None
        latest, expires = (
            datetime.fromisoformat(s[k].replace("Z", "+00:00")) for k in ("latest_start", "not_after")
        )
        assert expires - latest >= timedelta(seconds=s["total_seconds"]["p90"]) - timedelta(hours=1)
        assert any("stay away" in a for a in s["assumed"])


def test_approvals_and_windows_are_granted_and_waited_for_and_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    plans = (
        ManagerPlan("sepm-dmz", "Site DMZ", 150, offline_share=0.02, groups=(("My Company\\DMZ", False),)),
    )
    with real_fleet(tmp_path, plans, policy={"minSoak": "2h", "excludeOfflineFor": "1d"}) as fleet:
        spec_file = fleet.specs / "sepm-dmz.yaml"
        spec = yaml.safe_load(spec_file.read_text(encoding="utf-8"))
        now = fleet.sim.world.clock.now()
        day = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[(now + timedelta(days=2)).weekday()]
        spec["spec"]["rollout"]["approvals"] = [4]
        spec["spec"]["rollout"]["window"] = {
            "days": [day],
            "start": "01:00",
            "end": "03:00",
            "timezone": "UTC",
        }
        spec_file.write_text(yaml.safe_dump(spec), encoding="utf-8")
        document = forecast_json(fleet, monkeypatch, capsys, "--runs", "2", "--resolution", "30m")
    s = server(document, "sepm-dmz")
    assert s["finished"] == 2
    assert [(a["step"], a["accept_at_risk"], a["runs"]) for a in s["approvals"]] == [(4, False, 2)]
    assert s["window_wait_seconds"]["median"] > 0  # the window of a day two days on
    assert s["total_seconds"]["median"] >= DAY


def test_an_unreadable_manager_is_an_error_and_the_others_are_still_forecast(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with real_fleet(tmp_path) as fleet:
        spec_file = fleet.specs / "sepm-west.yaml"
        spec = yaml.safe_load(spec_file.read_text(encoding="utf-8"))
        spec["spec"]["server"]["apiUrl"] = "https://127.0.0.1:9/sepm/api/v1"  # nothing listens there
        spec_file.write_text(yaml.safe_dump(spec), encoding="utf-8")
        code, out, err = run_forecast(
            fleet, monkeypatch, capsys, "--runs", "1", "--output", "json", "--timeout", "20s"
        )
    document = json.loads(out)
    assert code == 1
    assert list(document["errors"]) == ["sepm-west"] and "sepm-west" in err
    assert [s["server"] for s in document["servers"]] == ["sepm-east"]


def test_spec_errors_and_unknown_servers_are_refused_before_anything_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with real_fleet(tmp_path) as fleet:
        code, _, err = run_forecast(fleet, monkeypatch, capsys, "--server", "nope")
        assert code == 64 and "no server nope" in err
        (fleet.specs / "broken.yaml").write_text(
            "apiVersion: sepm-reconciler/v1\nkind: ManagedServer\nmetadata: {name: x}\nspec: {}\n",
            encoding="utf-8",
        )
        code, _, err = run_forecast(fleet, monkeypatch, capsys)
    assert code == 1 and "broken.yaml:" in err


def test_runs_in_worker_processes_give_the_same_forecast_as_in_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with real_fleet(tmp_path, policy={"minSoak": "3h", "excludeOfflineFor": "6h"}) as fleet:
        inline = forecast_json(fleet, monkeypatch, capsys, "--runs", "2", "--seed", "4")
        done = subprocess.run(
            [sys.executable, "-m", "reconciler", "forecast", "--specs", str(fleet.specs), "--runs", "2",
             "--seed", "4", "--jobs", "2", "--output", "json"],
            env={**os.environ, **fleet.lab.environment()}, capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    pooled = json.loads(done.stdout)
    for name in ("sepm-east", "sepm-west"):
        keys = ("steps", "total_seconds", "at_risk", "orphaned_in_twin", "stalls", "approvals")
        assert {k: server(pooled, name)[k] for k in keys} == {k: server(inline, name)[k] for k in keys}
