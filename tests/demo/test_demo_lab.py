"""The demo's lab: the specs it writes are valid, keep the vendor's 24 h minimum soak, name the management server
lists, hold no secret, and run the simulator hooks for steps 2a, 4a and 5b — and 1 and 7 only where there is
replication to break. Its fleet is the strict simulator, every behaviour, with churning clients."""

from __future__ import annotations

from pathlib import Path

import yaml

from reconciler.cli._demo_lab import (
    DEMO_CHURN,
    DEMO_MANAGERS,
    HTTP_LIST,
    build_lab,
    sim_hooks_dir,
    write_specs,
)
from reconciler.sim.behaviours import STRICT
from reconciler.sim.fleet import load_fleet
from reconciler.specs import load_specs


def test_the_demo_specs_are_valid_and_keep_the_vendors_24h_soak(tmp_path: Path) -> None:
    lab = build_lab(tmp_path, DEMO_MANAGERS)
    ports = {
        "managers": {
            plan.name: {
                "api_url": f"https://127.0.0.1:{8446 + n}/sepm/api/v1",
                "ports": {"clients": 443 + n, "console": 8443 + n, "api": 8446 + n},
            }
            for n, plan in enumerate(lab.plans)
        }
    }
    specs = write_specs(lab, ports)
    loaded = load_specs(specs)
    assert loaded.valid, loaded.issues
    assert sorted(loaded.servers) == ["sepm-dmz", "sepm-east", "sepm-east-2", "sepm-west"]
    sites = {name: server.spec.spec.server.site for name, server in loaded.servers.items()}
    assert sites["sepm-east"] == sites["sepm-east-2"], "one two-server site"
    for name, server in loaded.servers.items():
        rollout = server.spec.spec.rollout
        assert rollout.clients.min_soak.total_seconds() == 24 * 3600, name
        assert rollout.management_server_list is not None and not rollout.management_server_list.skip
        assert rollout.management_server_list.http == HTTP_LIST
        hooks = {
            step: getattr(rollout.actions, field)
            for step, field in (
                ("1", "break_replication"),
                ("2a", "switch_to_http_list"),
                ("4a", "update_certificate"),
                ("5b", "restore_original_list"),
                ("7", "restore_replication"),
            )
        }
        commands = {step: getattr(action, "command", None) for step, action in hooks.items()}
        partnered = bool(server.spec.spec.replication.partners)
        expected = {"1", "2a", "4a", "5b", "7"} if partnered else {"2a", "4a", "5b"}
        assert {step for step, argv in commands.items() if argv} == expected, name
        for argv in filter(None, commands.values()):
            assert Path(argv[-1]).parent == sim_hooks_dir() and Path(argv[-1]).is_file()
    written = "".join(p.read_text(encoding="utf-8") for p in specs.glob("*.yaml"))
    assert lab.p12_password not in written  # secrets only by reference
    assert {"env": "SEPM_DEMO_P12_PASSWORD"} in [
        yaml.safe_load(p.read_text())["spec"]["certificate"]["keystore"]["password"]
        for p in specs.glob("sepm-*.yaml")
    ]
    assert sum(p.clients for p in lab.plans) == 4400
    assert [(p.name, d[0]) for p in lab.plans for d in p.domains] == [("sepm-dmz", "Partners")]


def test_the_demo_fleet_is_fully_strict_and_churns(tmp_path: Path) -> None:
    lab = build_lab(tmp_path, DEMO_MANAGERS)
    fleet = yaml.safe_load(lab.fleet_file.read_text(encoding="utf-8"))
    assert fleet["behaviours"] == "strict"
    loaded = load_fleet(fleet)
    assert all(m.behaviours == STRICT for m in loaded.managers)
    assert all(m["clients"]["churn"] == DEMO_CHURN for m in fleet["managers"])
    assert [d["clients"]["churn"] for m in fleet["managers"] for d in m.get("domains", [])] == [DEMO_CHURN]
