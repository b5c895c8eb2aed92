"""Sites with several managers: one database (groups, settings, lists, clients), a certificate and services per
server; clients fail over to another server of the site while theirs is down, and the check-in rule applies to the
certificate of the server they reach."""

from __future__ import annotations

from typing import Any

import httpx

from reconciler.sim import Simulator
from tests.sim.conftest import LAPTOPS, Client, fleet, manager
from tests.sim.test_hazard import pkcs12_body

HTTP_LISTS = [{"name": "Default Management Server List", "protocol": "http"}]


def site_fleet(**behaviours: Any) -> dict[str, Any]:
    """Site One served by sepm-a (the first: it owns the groups) and sepm-b; 100 clients homed on each."""
    first = manager("sepm-a", "Site One", count=100)
    second = manager("sepm-b", "Site One", count=100)
    del second["groups"], second["replication"]  # the site's: written on its first manager
    return fleet(first, second, behaviours={"throttle": False, **behaviours})


async def test_the_managers_of_a_site_share_one_database(http: httpx.AsyncClient) -> None:
    async with Simulator(site_fleet()) as sim:
        a, b = Client(sim, "sepm-a", http), Client(sim, "sepm-b", http)
        await a.login()
        await b.login()
        assert (await a.set_secure(LAPTOPS, False)).status_code == 200  # through sepm-a's API
        assert (await b.group(LAPTOPS))["policySerialNumber"] == (await a.group(LAPTOPS))[
            "policySerialNumber"
        ]
        assert (await a.get("/computers")).json()["totalElements"] == 200  # every client of the site
        assert (await b.get("/computers")).json()["totalElements"] == 200
        await a.admin(
            "/lists", {"name": "HTTP", "protocol": "http", "copyOf": "Default Management Server List"}
        )
        assert await b.admin("/behaviours", None, expect=None)  # reachable through either server
        state = sim.state()
        assert state["sites"] == {"Site One": {"managers": ["sepm-a", "sepm-b"]}}
        ta, tb = state["managers"]["sepm-a"], state["managers"]["sepm-b"]
        assert ta["groups"] == tb["groups"] and ta["lists"] == tb["lists"] == [
            {"name": "Default Management Server List", "protocol": "https"},
            {"name": "HTTP", "protocol": "http"},
        ]
        assert ta["clients"]["total"] == tb["clients"]["total"] == 100  # the clients homed on each
        assert ta["served"]["api"] != tb["served"]["api"]  # a certificate per server


async def test_clients_fail_over_and_meet_the_certificate_of_the_server_they_reach(
    http: httpx.AsyncClient,
) -> None:
    # HTTP lists, verification on: the hazard is the failover server's *new* certificate, not the list.
    async with Simulator(site_fleet(managementServerLists=HTTP_LISTS)) as sim:
        a, b = Client(sim, "sepm-a", http), Client(sim, "sepm-b", http)
        await a.login()
        await b.admin("/faults", {"restart_fails": "down"})
        await b.admin(
            "/services/restart", {"services": ["semwebsrv"]}, expect=202
        )  # b's clients port stays down
        await sim.wait_services_up("sepm-b")
        await a.advance(300)
        rows = sim.state(clients=True)["managers"]["sepm-b"]["client_rows"]
        assert {r["last_server"] for r in rows} == {"sepm-a"} and {r["home"] for r in rows} == {"sepm-b"}
        assert sim.state()["managers"]["sepm-b"]["clients"]["orphaned"] == 0  # they trust a's certificate too

        # sepm-a swaps its certificate while sepm-b is down: b's clients, failed over to a, verify and fail
        await a.admin("/certificate", pkcs12_body("sepm-a-2027.corp.example", "p12-pass"))
        await sim.restart_services("sepm-a")
        await sim.wait_services_up("sepm-a")
        await a.advance(300)
        state = sim.state()["managers"]
        assert state["sepm-a"]["clients"]["orphaned"] == 100  # their own server's new certificate
        assert (
            state["sepm-b"]["clients"]["orphaned"]
            == state["sepm-b"]["clients"]["orphaned_by"]["verification"]
            == 100
        )
