"""The forecast's operator: manual steps done the moment they are due, a stall of clients that never come back
answered by accepting them at risk (reported both ways), any other stall ends the run with its code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.cli._demo_lab import ManagerPlan
from tests.forecast.kit import forecast_json, real_fleet, server

ONE = (ManagerPlan("sepm-dmz", "Site DMZ", 160, offline_share=0.05, groups=(("My Company\\DMZ", False),)),)


def _edit_spec(specs: Path, name: str, change: Any) -> None:
    path = specs / f"{name}.yaml"
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(document["spec"])
    path.write_text(yaml.safe_dump(document), encoding="utf-8")


def test_manual_steps_are_done_when_due_and_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with real_fleet(tmp_path, policy={"minSoak": "2h", "excludeOfflineFor": "1d"}) as fleet:
        for name in ("sepm-east", "sepm-west"):
            _edit_spec(fleet.specs, name, lambda s: s["rollout"].update(actions={}))  # every step manual
        document = forecast_json(fleet, monkeypatch, capsys, "--runs", "1")
    east, west = server(document, "sepm-east"), server(document, "sepm-west")
    assert east["ends"] == west["ends"] == {"in_sync": 1}
    assert [m["step"] for m in east["manual_steps"]] == ["1", "2a", "4a", "5b", "7"]
    # deleting and adding a partnership is done for both sites at once: west's steps 1 and 7 find it done; the lists
    # (2a, 5b) and the certificate (4a) are each site's own
    assert [m["step"] for m in west["manual_steps"]] == ["2a", "4a", "5b"]


def test_clients_that_never_come_back_stall_the_wait_and_are_accepted_at_risk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # away for up to 5 days (the demo's laptops) and waited for 7: nobody ages out before maxSoak (1 day)
    policy = {"minSoak": "2h", "maxSoak": "1d", "excludeOfflineFor": "7d"}
    with real_fleet(tmp_path, ONE, policy=policy) as fleet:
        document = forecast_json(fleet, monkeypatch, capsys, "--runs", "1")
        away = fleet.sim.state()["managers"]["sepm-dmz"]["clients"]["offline"]
    s = server(document, "sepm-dmz")
    assert s["ends"] == {"in_sync": 1}
    stalls = {(x["code"], x["step"], x["continued"]) for x in s["stalls"]}
    assert ("MaxSoakExceeded", "3", True) in stalls
    accepted = [a for a in s["approvals"] if a["accept_at_risk"]]
    assert accepted and accepted[0]["step"] == 4
    assert s["at_risk"]["4a"]["median"] == away > 0


def test_a_stall_no_operator_can_answer_ends_the_run_with_its_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with real_fleet(tmp_path, ONE) as fleet:
        _edit_spec(
            fleet.specs,
            "sepm-dmz",
            lambda s: s["rollout"].setdefault("clients", {}).update(groups=["My Company\\Nope"]),
        )
        document = forecast_json(fleet, monkeypatch, capsys, "--runs", "1")
    s = server(document, "sepm-dmz")
    assert s["finished"] == 0 and s["ends"] == {"stalled": 1}
    assert [(x["code"], x["continued"]) for x in s["stalls"]] == [("NoManagedGroups", False)]
    assert s["latest_start"] is None and s["not_finished"]
