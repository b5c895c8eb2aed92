"""Replication between the managers of a fleet: schedule, propagation, FAILED_CONNECT, partner delete and re-add."""

from __future__ import annotations

import httpx

from reconciler.sim import Simulator, generate_certificate
from tests.sim.conftest import LAPTOPS, Client, two_managers


async def partner_status(client: Client) -> dict[str, str]:
    body = await client.replication()
    return {p["name"]: p["status_code"] for p in body["replicationPartnerStatusList"]}


async def started(sim: Simulator, http: httpx.AsyncClient) -> tuple[Client, Client]:
    east, west = Client(sim, "sepm-east", http), Client(sim, "sepm-west", http)
    await east.login()
    await west.login()
    return east, west


async def test_replication_runs_on_schedule_and_carries_a_settings_change_to_the_partner(
    http: httpx.AsyncClient,
) -> None:
    async with Simulator(two_managers(count=20)) as sim:
        east, west = await started(sim, http)
        assert await partner_status(east) == {"Site West": "NEVER_REPLICATED"}
        assert (await east.set_secure(LAPTOPS, False)).status_code == 200
        serial = (await east.group(LAPTOPS))["policySerialNumber"]
        assert (await west.group(LAPTOPS))["policySerialNumber"] != serial
        await east.advance(3601)  # one replication interval
        assert await partner_status(east) == {"Site West": "SUCCEEDED"}
        assert await partner_status(west) == {"Site East": "SUCCEEDED"}
        assert (await west.group(LAPTOPS))["policySerialNumber"] == serial
        assert {g["name"]: g["secure_communications"] for g in west.truth()["groups"]}[LAPTOPS] is False
        status = (await west.replication())["replicationPartnerStatusList"][0]
        assert (
            status["lastSuccessfulRunTime"] == status["lastRunTime"]
            and status["nextRunTime"] > status["lastRunTime"]
        )


async def test_a_partner_presenting_a_certificate_the_other_side_no_longer_trusts_fails_to_connect(
    http: httpx.AsyncClient,
) -> None:
    async with Simulator(two_managers(count=20)) as sim:
        east, west = await started(sim, http)
        cert, key = generate_certificate("rotated.corp.example")
        await east.admin("/certificate", {"cert_pem": cert.decode(), "key_pem": key.decode()})
        await sim.restart_services("sepm-east")
        await sim.wait_services_up("sepm-east")
        await east.login()
        params = {"partnerSiteName": "Site East", "logs": "false", "content": "false"}
        r = await http.post(f"{west.api}/replication/replicatenow", params=params, headers=west.headers)
        assert r.json() == {"code": 0}
        assert await partner_status(west) == {"Site East": "FAILED_CONNECT"}
        assert await partner_status(east) == {"Site West": "FAILED_CONNECT"}


async def test_deleting_a_partner_removes_the_partnership_on_both_sides(http: httpx.AsyncClient) -> None:
    async with Simulator(two_managers(count=20)) as sim:
        east, west = await started(sim, http)
        answer = await east.admin("/replication/partners/delete", {"partner": "Site West"})
        assert answer == {"site": "Site East", "partners": []}
        for side in (east, west):
            assert (await side.get("/replication/is_replicated")).json() is False
            assert await partner_status(side) == {}
        again = await east.admin("/replication/partners/delete", {"partner": "Site West"}, expect=404)
        assert "no replication partner" in again["errorMessage"]


async def test_re_adding_a_partner_overwrites_the_joining_sites_settings(http: httpx.AsyncClient) -> None:
    async with Simulator(two_managers(count=20)) as sim:
        east, west = await started(sim, http)
        await east.admin("/replication/partners/delete", {"partner": "Site West"})
        await east.set_secure(LAPTOPS, False)  # changed only on the detached site
        await east.advance(600)
        added = await east.admin("/replication/partners/add", {"partner": "Site West"})
        assert added["partners"] == ["Site West"]
        assert {g["name"]: g["secure_communications"] for g in east.truth()["groups"]}[
            LAPTOPS
        ] is True  # reverted
        assert (await east.group(LAPTOPS))["policySerialNumber"] == (await west.group(LAPTOPS))[
            "policySerialNumber"
        ]
        assert await partner_status(east) == {"Site West": "SUCCEEDED"}
        assert await partner_status(west) == {"Site East": "SUCCEEDED"}
        assert (await west.get("/replication/is_replicated")).json() is True
        await east.admin("/replication/partners/add", {"partner": "Site West"}, expect=409)
        await east.admin("/replication/partners/add", {"partner": "Site Nowhere"}, expect=404)


async def test_replication_carries_each_newer_change_in_its_own_direction(http: httpx.AsyncClient) -> None:
    async with Simulator(two_managers(count=20)) as sim:
        east, west = await started(sim, http)
        assert (await east.set_secure(LAPTOPS, False)).status_code == 200
        await east.advance(60)
        assert (await west.set_secure("My Company", False)).status_code == 200  # later, on the other side
        laptops, root = (await east.group(LAPTOPS))["policySerialNumber"], (await west.group("My Company"))
        params = {"partnerSiteName": "Site West", "logs": "false", "content": "false"}
        await http.post(f"{east.api}/replication/replicatenow", params=params, headers=east.headers)
        assert (await west.group(LAPTOPS))["policySerialNumber"] == laptops  # east → west
        assert (await east.group("My Company"))["policySerialNumber"] == root[
            "policySerialNumber"
        ]  # west → east
        for side in (east, west):
            flags = {g["name"]: g["secure_communications"] for g in side.truth()["groups"]}
            assert flags == {"My Company": False, "My Company\\Servers": False, LAPTOPS: False}


async def test_replication_status_is_an_array_unless_lenient(http: httpx.AsyncClient) -> None:
    async with Simulator(two_managers(count=5)) as sim:
        east, _ = await started(sim, http)
        body = (await east.get("/replication/status")).json()
        assert (
            isinstance(body["replicationStatus"], list)
            and body["replicationStatus"][0]["siteName"] == "Site East"
        )
        await east.behave(replicationStatusShape="object")
        assert (await east.get("/replication/status")).json()["replicationStatus"]["siteName"] == "Site East"


async def changes_while_apart(east: Client, west: Client) -> None:
    """Apart: east disables verification on My Company and Laptops and creates list HTTP; later, west re-enables
    Laptops (its newest change) and creates a list of the same name."""
    await east.admin("/replication/partners/delete", {"partner": "Site West"})
    await east.set_secure("My Company", False)
    await east.set_secure(LAPTOPS, False)
    await east.admin(
        "/lists", {"name": "HTTP", "protocol": "http", "copyOf": "Default Management Server List"}
    )
    await east.advance(60)
    await west.set_secure(LAPTOPS, False)
    await west.set_secure(LAPTOPS, True)
    await west.admin(
        "/lists", {"name": "HTTP", "protocol": "http", "copyOf": "Default Management Server List"}
    )
    await east.advance(60)


def flags(client: Client) -> dict[str, bool]:
    return {g["name"]: g["secure_communications"] for g in client.truth()["groups"]}


def lists(client: Client) -> list[str]:
    return sorted(entry["name"] for entry in client.truth()["lists"])


async def test_rejoining_with_merge_keeps_both_sites_changes_and_renames_the_newer_same_named_list(
    http: httpx.AsyncClient,
) -> None:
    async with Simulator(two_managers(count=20, behaviours={"rejoin": "merge", "throttle": False})) as sim:
        east, west = await started(sim, http)
        await changes_while_apart(east, west)
        await east.admin("/replication/partners/add", {"partner": "Site West"})
        for side in (east, west):
            assert flags(side) == {"My Company": False, "My Company\\Servers": False, LAPTOPS: True}
            assert lists(side) == ["Default Management Server List", "HTTP", "HTTP ~1"]
        assert await partner_status(east) == {"Site West": "SUCCEEDED"}


async def test_rejoining_with_overwrite_loses_the_joining_sites_changes(http: httpx.AsyncClient) -> None:
    async with Simulator(two_managers(count=20, behaviours={"throttle": False})) as sim:
        east, west = await started(sim, http)
        await changes_while_apart(east, west)
        await east.admin("/replication/partners/add", {"partner": "Site West"})
        for side in (east, west):
            assert flags(side) == {"My Company": True, "My Company\\Servers": True, LAPTOPS: True}
            assert lists(side) == ["Default Management Server List", "HTTP"]
        assert east.truth()["lists"] == west.truth()["lists"]
