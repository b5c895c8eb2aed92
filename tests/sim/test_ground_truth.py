"""The ground truth (``GET /_sim/state``) other tools rely on: its keys, and counts that agree with the REST API."""

from __future__ import annotations

import re
from typing import Any

import httpx

from reconciler.sim import Simulator
from tests.sim.conftest import LAPTOPS, Client, manager

FINGERPRINT = re.compile(r"^sha256:[0-9a-f]{64}$")


def laptops_fleet() -> dict[str, Any]:
    away = {"count": 40, "heartbeat": "5m", "offline": {"share": 0.25, "forMin": "1d", "forMax": "2d"}}
    return {
        "clock": {"start": "2026-12-01T08:00:00Z", "speed": 0},
        "seed": 5,
        "managers": [manager("sepm-east", "Site East", clients=away)],
    }


async def test_the_ground_truth_has_the_documented_keys_and_agrees_with_the_rest_api(
    http: httpx.AsyncClient,
) -> None:
    async with Simulator(laptops_fleet()) as sim:
        east = Client(sim, "sepm-east", http)
        await east.login()
        state = (await http.get(f"{east.admin_url}/state", headers=east.admin_headers)).json()
        assert set(state) == {"clock", "managers", "sites"} and state["clock"] == "2026-12-01T08:00:00.000Z"
        assert state["sites"] == {"Site East": {"managers": ["sepm-east"]}}
        truth = state["managers"]["sepm-east"]
        assert set(truth) >= {"site", "served", "replication", "groups", "clients", "orphaned_clients"}
        assert truth["site"] == "Site East" and truth["replication"]["partners"] == []
        assert set(truth["served"]) == {"clients", "console", "api"}
        assert all(FINGERPRINT.match(fp) for fp in truth["served"].values())
        assert truth["domains"] == ["Default"]
        assert truth["lists"] == [{"name": "Default Management Server List", "protocol": "https"}]
        assert set(truth["clients"]) >= {"by_list", "orphaned_by", "deleted"}
        assert truth["clients"]["by_list"] == {"Default Management Server List": 40}
        assert truth["clients"]["orphaned_by"] == {"verification": 0, "tls": 0, "stale_certificate": 0}
        assert truth["clients"]["deleted"] == 0
        groups = {g["name"]: g for g in truth["groups"]}
        assert {(g["domain"], g["list"]) for g in groups.values()} == {
            ("Default", "Default Management Server List")
        }
        for group in (await east.get("/groups")).json()["content"]:
            mine = groups[group["fullPathName"]]
            assert set(mine) >= {"id", "name", "secure_communications", "policySerialNumber"}
            assert (mine["id"], mine["policySerialNumber"]) == (group["id"], group["policySerialNumber"])

        computers = await east.all_computers()
        online = sum(c["onlineStatus"] for c in computers)
        counts = truth["clients"]
        assert set(counts) >= {"total", "online", "orphaned", "with_current_policy"}
        assert (counts["total"], counts["online"], counts["orphaned"]) == (40, online, 0)
        assert 0 < online < 40 and truth["orphaned_clients"] == []
        assert counts["with_current_policy"] == 40  # everyone applied the policies saved before the start
        stats = (await east.get("/stats/client/onlinestatus")).json()["clientCountStatsList"]
        assert {s["status"]: s["clientsCount"] for s in stats} == {"ONLINE": online, "OFFLINE": 40 - online}

        laptops = [c for c in computers if c["group"]["fullPathName"] == LAPTOPS]
        assert (await east.set_secure(LAPTOPS, False)).status_code == 200  # a new policy for the laptops
        assert east.truth()["clients"]["with_current_policy"] == 40 - len(laptops)
        await east.advance(300)  # one heartbeat: the laptops that are on apply it, the ones away do not
        away = [c for c in laptops if c["onlineStatus"] == 0]
        assert away and east.truth()["clients"]["with_current_policy"] == 40 - len(away)

        rows = sim.state(clients=True)["managers"]["sepm-east"]["client_rows"]
        assert set(rows[0]) >= {
            "name", "group", "online", "orphaned", "orphaned_at", "verifies", "policySerialNumber", "trusts",
            "lastUpdateTime", "offline_until", "orphaned_by", "list", "uniqueId", "deleted", "domain", "home",
        }  # fmt: skip
