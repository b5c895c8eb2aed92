"""Behaviours in the fleet file and at run time (``/_sim/behaviours``), the list console operations, and bad input:
a located fleet-file error, exit 1, nothing started."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.sim import FleetError, Simulator, load_fleet
from reconciler.sim.behaviours import LENIENT, STRICT, ThrottleSpec
from tests.sim.conftest import LAPTOPS, SERVERS, Client, fleet, manager, one_manager

STRICT_JSON = {
    "managementServerLists": [{"name": "Default Management Server List", "protocol": "https"}],
    "certificateWithPolicy": False,
    "listNameInSettings": False,
    "domainScope": "login",
    "deletedRows": True,
    "throttle": {"threshold": 50, "windowMinutes": 1.0, "retryAfter": False},
    "settingsPatch": "replace",
    "noopPatchBumpsSerial": False,
    "replicationStatusShape": "array",
    "rejoin": "overwrite",
}


def test_every_behaviour_defaults_to_strict_and_lenient_restores_the_earlier_simulator() -> None:
    old_file = load_fleet(
        {"managers": [{"name": "m", "site": "S"}]}
    )  # a fleet file written before behaviours
    assert old_file.managers[0].behaviours == STRICT and STRICT.to_json() == STRICT_JSON
    assert (
        load_fleet({"behaviours": "lenient", "managers": [{"name": "m", "site": "S"}]}).managers[0].behaviours
        == LENIENT
    )
    assert LENIENT.to_json() == {
        "managementServerLists": [{"name": "Default Management Server List", "protocol": "http"}],
        "certificateWithPolicy": True,
        "listNameInSettings": True,
        "domainScope": "all",
        "deletedRows": False,
        "throttle": False,
        "settingsPatch": "merge",
        "noopPatchBumpsSerial": True,
        "replicationStatusShape": "object",
        "rejoin": "overwrite",
    }


def test_a_manager_changes_the_fleet_wide_behaviours_key_by_key() -> None:
    config = load_fleet(
        {
            "behaviours": "lenient",
            "managers": [
                {
                    "name": "a",
                    "site": "A",
                    "behaviours": {"throttle": {"threshold": 100}, "settingsPatch": "replace"},
                },
                {"name": "b", "site": "B"},
            ],
        }
    )
    a, b = config.managers
    assert a.behaviours.throttle == ThrottleSpec(100, 1.0, False) and a.behaviours.settings_patch == "replace"
    assert a.behaviours.certificate_with_policy is True  # the rest stays lenient
    assert b.behaviours == LENIENT


async def test_behaviours_switch_at_run_time_and_site_behaviours_change_the_whole_site(
    http: httpx.AsyncClient,
) -> None:
    second = manager("sepm-b", "Site East", count=5)
    del second["groups"], second["replication"]
    async with Simulator(fleet(manager("sepm-east", "Site East", count=5), second)) as sim:
        east, b = Client(sim, "sepm-east", http), Client(sim, "sepm-b", http)
        assert (
            await http.get(f"{east.admin_url}/behaviours", headers=east.admin_headers)
        ).json() == STRICT_JSON
        shown = await east.behave(settingsPatch="merge", certificateWithPolicy=True)
        assert shown["settingsPatch"] == "merge" and shown["certificateWithPolicy"] is True
        on_b = (await http.get(f"{b.admin_url}/behaviours", headers=b.admin_headers)).json()
        assert on_b["certificateWithPolicy"] is True  # a site behaviour: the whole site
        assert on_b["settingsPatch"] == "replace"  # a server behaviour: only sepm-east
        lenient = await east.admin("/behaviours", "lenient")
        assert lenient["throttle"] is False and lenient["managementServerLists"] == [
            {"name": "Default Management Server List", "protocol": "http"}
        ]
        assert sim.state()["managers"]["sepm-east"]["behaviours"]["throttle"] is False


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"colour": "red"}, "colour: unknown behaviour"),
        ({"settingsPatch": "sometimes"}, "settingsPatch: expected one of: replace, merge"),
        ({"throttle": {"threshold": 0}}, "throttle.threshold: expected a whole number"),
        ({"managementServerLists": []}, "managementServerLists: expected a non-empty list"),
        ("kind", "expected strict, lenient"),
    ],
    ids=["unknown-key", "unknown-value", "bad-threshold", "no-lists", "bad-preset"],
)
async def test_a_bad_behaviour_is_refused_at_run_time_and_changes_nothing(
    http: httpx.AsyncClient, body: Any, fragment: str
) -> None:
    async with Simulator(one_manager(count=5)) as sim:
        east = Client(sim, "sepm-east", http)
        refused = await east.admin("/behaviours", body, expect=400)
        assert fragment in refused["errorMessage"]
        assert (
            await http.get(f"{east.admin_url}/behaviours", headers=east.admin_headers)
        ).json() == STRICT_JSON


async def test_list_console_operations_refuse_what_the_console_would(http: httpx.AsyncClient) -> None:
    async with Simulator(one_manager(count=5)) as sim:
        east = Client(sim, "sepm-east", http)
        base = "Default Management Server List"
        copied = await east.admin("/lists", {"name": "HTTP", "protocol": "http", "copyOf": base})
        assert copied["list"] == {"name": "HTTP", "protocol": "http"} and len(copied["lists"]) == 2
        await east.admin("/lists", {"name": "HTTP", "protocol": "http", "copyOf": base}, expect=409)
        await east.admin("/lists", {"name": "Other", "protocol": "http", "copyOf": "Nope"}, expect=404)
        await east.admin("/lists", {"name": "Nope", "protocol": "http"}, expect=404)  # edit: must exist
        await east.admin("/lists", {"name": "HTTP", "protocol": "ftp"}, expect=400)
        edited = await east.admin("/lists", {"name": "HTTP", "protocol": "https"})
        assert edited["list"] == {"name": "HTTP", "protocol": "https"}

        assert (
            "Nope"
            in (await east.admin("/lists/assign", {"list": "Nope", "groups": None}, expect=404))[
                "errorMessage"
            ]
        )
        missing = await east.admin(
            "/lists/assign", {"list": "HTTP", "groups": ["My Company\\Nowhere"]}, expect=404
        )
        assert "no group" in missing["errorMessage"]
        inherits = await east.admin("/lists/assign", {"list": "HTTP", "groups": [SERVERS]}, expect=400)
        assert "inherits its policies from 'My Company'" in inherits["errorMessage"]
        await east.admin("/lists/assign", {"list": "HTTP"}, expect=400)  # groups: [...] or null, explicitly
        done = await east.admin("/lists/assign", {"list": "HTTP", "groups": [LAPTOPS]})
        assert done == {"assigned": [LAPTOPS], "list": "HTTP"}
        groups = {g["name"]: g["list"] for g in east.truth()["groups"]}
        assert groups == {"My Company": base, SERVERS: base, LAPTOPS: "HTTP"}


GROUPS = "    groups:\n      - {name: My Company}\n      - {name: My Company\\Laptops, inherits: false}\n"
BAD = [
    (
        "managers:\n  - name: m\n    site: S\n    behaviours: {colour: red}\n",
        4,
        "managers[0].behaviours.colour",
        "unknown behaviour",
    ),
    (
        "behaviours: {settingsPatch: sometimes}\nmanagers:\n  - {name: m, site: S}\n",
        1,
        "behaviours.settingsPatch",
        "expected one of: replace, merge",
    ),
    (
        "managers:\n  - name: m\n    site: S\n    behaviours:\n      throttle: {threshold: -1}\n",
        5,
        "managers[0].behaviours.throttle.threshold",
        "whole number",
    ),
    (
        "managers:\n  - name: m\n    site: S\n"
        + GROUPS.replace("inherits: false", "inherits: false, list: HTTP"),
        6,
        "managers[0].groups[1].list",
        "no management server list named 'HTTP'",
    ),
    (
        "managers:\n  - name: m\n    site: S\n"
        + GROUPS
        + "    domains:\n      - name: Corp\n        groups:\n          - {name: My Company}\n"
        "          - {name: My Company\\Laptops}\n",
        11,
        "managers[0].domains[0].groups[1].name",
        "already in domain 'Default'",
    ),
    (
        "managers:\n  - {name: a, site: S}\n  - name: b\n    site: S\n" + GROUPS,
        5,
        "managers[1].groups",
        "belong to the site: write them on its first manager (managers[0])",
    ),
    (
        "managers:\n  - {name: a, site: S}\n  - name: b\n    site: S\n    behaviours: {certificateWithPolicy: true}\n",
        5,
        "managers[1].behaviours",
        "must be the same as on a (managers[0])",
    ),
    (
        "managers:\n  - {name: a, site: S}\n  - name: b\n    site: S\n    domains: [{name: Corp, clients: {count: 1}}]\n",
        5,
        "managers[1].domains[0].name",
        "site 'S' has no domain 'Corp'",
    ),
    (
        "managers:\n  - name: m\n    site: S\n    clients: {churn: {addPerDay: -1}}\n",
        4,
        "managers[0].clients.churn.addPerDay",
        "expected a number from 0",
    ),
]


@pytest.mark.parametrize(
    ("text", "line", "field", "fragment"),
    BAD,
    ids=[
        "unknown-behaviour", "unknown-value", "bad-threshold", "list-missing", "group-in-two-domains",
        "second-manager-groups", "site-behaviours-disagree", "domain-not-in-site", "negative-churn",
    ],
)  # fmt: skip
def test_a_bad_fleet_file_names_file_line_and_field(
    tmp_path: Path, text: str, line: int, field: str, fragment: str
) -> None:
    path = tmp_path / "fleet.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(FleetError) as caught:
        load_fleet(path)
    assert (caught.value.location, caught.value.field) == (f"{path}:{line}", field)
    assert fragment in caught.value.message


@pytest.mark.parametrize("case", [0, 3, 4], ids=["unknown-behaviour", "list-missing", "group-in-two-domains"])
def test_simulate_refuses_a_bad_behaviour_or_topology_with_exit_1_and_starts_nothing(
    tmp_path: Path, case: int
) -> None:
    text, line, field, fragment = BAD[case]
    path, ports = tmp_path / "fleet.yaml", tmp_path / "ports.json"
    path.write_text(text, encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "reconciler", "simulate", "--fleet", str(path), "--ports-file", str(ports)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1 and not ports.exists()
    [message] = proc.stderr.strip().splitlines()
    assert message.startswith(f"error: {path}:{line}: {field}: ") and fragment in message
