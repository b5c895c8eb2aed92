"""The forecast's rig: a "real" fleet (the simulator, in a thread of the test, its clock frozen) with the demo's
specs pointing at it, and the forecast command run against it in this process.

The fleet is strict in every behaviour but the REST throttle, whose window is wall-free but needs the managers' clock
to move (it is frozen while the forecast reads); before anything runs, the HTTP copy of each site's list is made as
an operator does before a rollout (KB 187099)."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.cli import main
from reconciler.cli._demo_lab import Lab, ManagerPlan, build_lab, copy_http_lists, write_specs
from reconciler.sim import Simulator, run_in_thread

SMALL = (
    ManagerPlan("sepm-east", "Site East", 240, partners=("Site West",), offline_share=0.05),
    ManagerPlan("sepm-west", "Site West", 200, partners=("Site East",), offline_share=0.05),
)
"""Two replicating managers, a few hundred clients: a forecast of them takes seconds."""

STRICT_FROZEN: Mapping[str, Any] = {"throttle": False}
"""Every behaviour at its strict default but the throttle (the managers' clock is frozen while the forecast reads)."""


@dataclass
class RealFleet:
    lab: Lab
    sim: Simulator
    specs: Path

    def names(self) -> list[str]:
        """Every client name of the fleet (what must never leave the reading)."""
        state = self.sim.state(clients=True)["managers"]
        return [row["name"] for manager in state.values() for row in manager.get("client_rows", [])]

    def truth(self) -> dict[str, Any]:
        """The ground truth of every manager, with every group's whole settings document."""
        world = self.sim.world
        with world.lock:
            settings = {
                name: {
                    group.path: json.dumps(group.settings, sort_keys=True)
                    for domain in m.site_obj.domains
                    for group in domain.tree.groups
                }
                for name, m in world.managers.items()
            }
        return {"state": self.sim.state(clients=True), "settings": settings}


@contextlib.contextmanager
def real_fleet(
    root: Path,
    plans: Sequence[ManagerPlan] = SMALL,
    *,
    behaviours: Any = STRICT_FROZEN,
    policy: Mapping[str, Any] | None = None,
    edit: Any = None,
) -> Iterator[RealFleet]:
    """Start the fleet of ``plans`` (frozen clock) and write specs for it; ``edit(fleet_document)`` may change the
    fleet before it starts."""
    lab = build_lab(root / "lab", plans, speed=0)
    document = yaml.safe_load(lab.fleet_file.read_text(encoding="utf-8"))
    document["behaviours"] = behaviours
    if edit is not None:
        edit(document)
    with run_in_thread(document, ports_file=lab.ports_file) as sim:
        copy_http_lists(lab, sim.ports_info())
        specs = write_specs(lab, sim.ports_info(), policy=policy)
        yield RealFleet(lab, sim, specs)


def run_forecast(
    fleet: RealFleet, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str, str]:
    """``sepm-reconciler forecast --specs SPECS ARGS`` in this process (one job: no worker processes)."""
    for key, value in fleet.lab.environment().items():
        monkeypatch.setenv(key, value)
    argv = ["forecast", "--specs", str(fleet.specs), "--jobs", "1", *args]
    with pytest.raises(SystemExit) as ended:
        main(argv)
    out = capsys.readouterr()
    code = ended.value.code
    return int(code) if isinstance(code, int) else 1, out.out, out.err


def forecast_json(
    fleet: RealFleet, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> dict[str, Any]:
    code, out, err = run_forecast(fleet, monkeypatch, capsys, "--output", "json", *args)
    assert code == 0, err
    document: dict[str, Any] = json.loads(out)
    return document


def server(document: Mapping[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(s for s in document["servers"] if s["server"] == name)
    return found


def environ() -> dict[str, str]:
    return dict(os.environ)
