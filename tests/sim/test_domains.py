"""Several domains in one manager: ``GET /domains``, the ``domain``/``domainId`` parameters, and the hazard of a
rollout that never passes them (behaviour ``domainScope``: strict ``login`` answers for the login domain only)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from reconciler.sim import Simulator
from tests.sim.conftest import SECURE_OFF, SECURE_ON, Client, one_manager
from tests.sim.test_hazard import serial_ms
from tests.sim.test_hazard_strict import swap_certificate

CORP = {
    "name": "Corp",
    "groups": [{"name": "My Company"}, {"name": "My Company\\Branch", "inherits": False}],
    "clients": {"count": 100, "heartbeat": "5m"},
}
HTTP_LISTS = [{"name": "Default Management Server List", "protocol": "http"}]


def domains_fleet(**behaviours: Any) -> dict[str, Any]:
    """Default (200 clients) and Corp (100): HTTP lists and no throttle, so only the domains are under test."""
    extra = {"managementServerLists": HTTP_LISTS, "throttle": False, **behaviours}
    return one_manager(count=200, domains=[CORP], behaviours=extra)


async def domain_ids(east: Client) -> dict[str, str]:
    return {d["name"]: d["id"] for d in (await east.get("/domains")).json()}


async def test_without_a_domain_parameter_only_the_login_domain_answers(http: httpx.AsyncClient) -> None:
    async with Simulator(domains_fleet()) as sim:
        east = Client(sim, "sepm-east", http)
        await east.login()
        ids = await domain_ids(east)
        assert list(ids) == ["Default", "Corp"]

        unscoped = (await east.get("/groups")).json()["content"]
        assert {g["domain"]["name"] for g in unscoped} == {"Default"}
        corp = (await east.get("/groups", domain=ids["Corp"])).json()["content"]
        assert [g["fullPathName"] for g in corp] == ["My Company", "My Company\\Branch"]
        assert {g["domain"]["id"] for g in corp} == {ids["Corp"]}
        assert (await east.get("/computers")).json()["totalElements"] == 200
        assert (await east.get("/computers", domain=ids["Corp"])).json()["totalElements"] == 100

        branch = corp[1]
        assert (await east.get(f"/groups/{branch['id']}")).status_code == 410  # not in the login domain
        assert (await east.get(f"/groups/{branch['id']}", domainId=ids["Corp"])).json() == branch
        assert (await east.get(f"/groups/{branch['id']}/computers", domainId=ids["Corp"])).json()[
            "totalElements"
        ] == branch["numberOfPhysicalComputers"]
        bad = await east.get("/groups", domain="0" * 32)
        assert bad.status_code == 400 and "no domain" in bad.json()["errorMessage"]

        login = await http.post(
            f"{east.api}/identity/authenticate",
            json={"username": "admin", "password": "admin-pass", "domain": "Corp"},
        )
        assert login.json()["domain"] == "Corp" and login.json()["domainid"] == ids["Corp"]
        corp_session = {"Authorization": f"Bearer {login.json()['token']}"}
        mine = (await http.get(f"{east.api}/groups", headers=corp_session)).json()["content"]
        assert {g["domain"]["name"] for g in mine} == {"Corp"}

        truth = east.truth()
        assert truth["domains"] == ["Default", "Corp"]
        assert {(g["domain"], g["name"]) for g in truth["groups"]} >= {("Corp", "My Company\\Branch")}
        assert truth["clients"]["total"] == 300


async def test_the_lenient_scope_answers_for_every_domain(http: httpx.AsyncClient) -> None:
    async with Simulator(domains_fleet(domainScope="all")) as sim:
        east = Client(sim, "sepm-east", http)
        await east.login()
        groups = (await east.get("/groups", pageSize=100)).json()["content"]
        assert {g["domain"]["name"] for g in groups} == {"Default", "Corp"}
        assert (await east.get("/computers")).json()["totalElements"] == 300


async def set_flag_everywhere(east: Client, value: bool, domains: list[str | None]) -> int:
    """Steps 2/5 by the REST API over ``domains`` (ids; None: no domain parameter). Returns the change time."""
    change = int((await east.login())["serverTime"])
    for domain in domains:
        scope = {} if domain is None else {"domain": domain}
        for g in (await east.get("/groups", pageSize=100, **scope)).json()["content"]:
            if g["policyInheritanceEnabled"]:
                continue
            path = f"/groups/{g['id']}/locations/{g['defaultLocationId']}/settings"
            assert (await east.patch(path, SECURE_ON if value else SECURE_OFF)).status_code == 200
    return change


async def wait_for_policy(east: Client, change: int, domains: list[str | None]) -> None:
    for _ in range(20):
        await east.advance(300)
        seen = []
        for domain in domains:
            scope = {} if domain is None else {"domain": domain}
            seen += [c for c in await east.all_computers(page_size=1000, **scope) if c["onlineStatus"] == 1]
        if all(serial_ms(c["profileSerialNo"]) >= change for c in seen):
            return
    raise AssertionError("the clients never acknowledged")


@pytest.mark.parametrize(
    ("scope", "passes_domain", "corp_orphans"),
    [("login", False, True), ("login", True, False), ("all", False, False)],
    ids=["strict-rollout-without-domain", "strict-rollout-per-domain", "lenient-scope"],
)
async def test_a_rollout_that_never_passes_domain_leaves_a_second_domain_verifying(
    http: httpx.AsyncClient, scope: str, passes_domain: bool, corp_orphans: bool
) -> None:
    async with Simulator(domains_fleet(domainScope=scope)) as sim:
        east = Client(sim, "sepm-east", http)
        await east.login()
        ids = await domain_ids(east)
        domains: list[str | None] = list(ids.values()) if passes_domain else [None]
        change = await set_flag_everywhere(east, False, domains)
        await wait_for_policy(east, change, domains)
        await swap_certificate(sim, east)
        await east.advance(300)
        truth = east.truth()
        corp_flags = {g["secure_communications"] for g in truth["groups"] if g["domain"] == "Corp"}
        if corp_orphans:  # Corp was never seen: still verifying, its clients fail at the new certificate
            assert corp_flags == {True}
            assert truth["clients"]["orphaned"] == truth["clients"]["orphaned_by"]["verification"] == 100
            assert all(name.startswith("SEPM-EAST-CORP-PC") for name in truth["orphaned_clients"])
        else:
            assert corp_flags == {False} and truth["clients"]["orphaned"] == 0
