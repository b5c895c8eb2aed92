"""Swagger fidelity (not switchable): every filter of ``GET computers`` the Swagger lists is honoured, and a
``semapisrv`` restart invalidates the tokens it issued."""

from __future__ import annotations

import httpx
import pytest

from reconciler.sim import Simulator
from tests.sim.conftest import Client, one_manager


async def test_computer_name_and_mac_take_wildcards(east: Client) -> None:
    everyone = await east.all_computers(page_size=1000)
    by_name = (await east.get("/computers", computerName="sepm-east-pc00001*", pageSize=100)).json()
    assert [c["computerName"] for c in by_name["content"]] == [f"SEPM-EAST-PC0000{i}" for i in range(10, 20)]
    assert (await east.get("/computers", computerName="*pc000011")).json()["totalElements"] == 1
    mac = everyone[7]["macAddresses"][0]
    found = (await east.get("/computers", mac=mac[:8] + "*" + mac[-2:])).json()["content"]
    assert everyone[7]["uniqueId"] in {c["uniqueId"] for c in found}
    assert all(c["macAddresses"][0].startswith(mac[:8]) for c in found)
    assert (await east.get("/computers", mac=mac.replace("-", ":"))).json()["content"][0][
        "uniqueId"
    ] == everyone[7]["uniqueId"]


async def test_os_filters_by_the_swaggers_codes(east: Client) -> None:
    win11 = (await east.get("/computers", os="Win11", pageSize=1000)).json()["content"]
    assert win11 and {c["operatingSystem"] for c in win11} == {"Windows 11 Enterprise Edition"}
    both = (await east.get("/computers", os=["Win10", "Win2K19"], pageSize=1000)).json()
    assert both["totalElements"] == 120 - len(win11)
    assert (await east.get("/computers", os="MacOSX")).json()["totalElements"] == 0
    bad = await east.get("/computers", os="Amiga")
    assert bad.status_code == 400 and "Amiga" in bad.json()["errorMessage"]


async def test_computer_id_and_hardware_key_return_the_one_live_record_ignoring_other_filters(
    east: Client,
) -> None:
    one = (await east.get("/computers", pageIndex=3, pageSize=1)).json()["content"][0]
    by_id = (
        await east.get("/computers", computer_id=one["uniqueId"], computerName="NOBODY", os="MacOSX")
    ).json()
    assert [c["uniqueId"] for c in by_id["content"]] == [one["uniqueId"]]
    by_key = (await east.get("/computers", hardware_key=one["hardwareKey"])).json()
    assert [c["uniqueId"] for c in by_key["content"]] == [one["uniqueId"]]
    assert (await east.get("/computers", computer_id="F" * 32)).json()["totalElements"] == 0


async def test_a_reimaged_machine_is_found_by_hardware_key_as_its_new_record(http: httpx.AsyncClient) -> None:
    churn = {"count": 30, "heartbeat": "5m", "churn": {"reimagePerDay": 30}}
    async with Simulator(one_manager(clients=churn, behaviours={"throttle": False})) as sim:
        east = Client(sim, "sepm-east", http)
        await east.login()
        before = {c["hardwareKey"]: c["uniqueId"] for c in await east.all_computers(page_size=100)}
        await east.advance(86400)
        rows = await east.all_computers(page_size=100)
        reimaged = next(c for c in rows if c["deleted"] == 1)
        current = (await east.get("/computers", hardware_key=reimaged["hardwareKey"])).json()["content"]
        assert len(current) == 1 and current[0]["deleted"] == 0
        assert current[0]["uniqueId"] != before[reimaged["hardwareKey"]] == reimaged["uniqueId"]
        assert (await east.get("/computers", computer_id=reimaged["uniqueId"])).json()["totalElements"] == 0


@pytest.mark.parametrize("service", ["semapisrv", "semwebsrv"])
async def test_a_semapisrv_restart_invalidates_its_tokens(http: httpx.AsyncClient, service: str) -> None:
    async with Simulator(one_manager(count=5)) as sim:
        east = Client(sim, "sepm-east", http)
        await east.login()
        assert (await east.get("/groups")).status_code == 200
        await sim.restart_services("sepm-east", (service,))
        await sim.wait_services_up("sepm-east")
        after = await east.get("/groups")
        if service == "semapisrv":
            assert after.status_code == 401 and "authenticate again" in after.json()["errorMessage"]
            await east.login()
            assert (await east.get("/groups")).status_code == 200
        else:
            assert after.status_code == 200
