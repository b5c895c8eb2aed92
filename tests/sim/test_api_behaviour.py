"""The vendor API's behaviour: paging, filters, tokens, error codes, settings PATCH and policy serials."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx
import pytest

from reconciler.sim import Simulator
from tests.sim.conftest import LAPTOPS, SECURE_OFF, SERVERS, Client, one_manager


async def test_paging_visits_every_computer_exactly_once(east: Client) -> None:
    computers = await east.all_computers(page_size=7)
    names = [c["computerName"] for c in computers]
    assert len(names) == 120 == len(set(names))
    assert names == sorted(names)
    last = (await east.get("/computers", pageIndex=18, pageSize=7)).json()
    assert last["lastPage"] and not last["firstPage"] and last["numberOfElements"] == 120 - 17 * 7
    assert (last["number"], last["size"], last["totalPages"]) == (17, 7, 18)  # Spring's number is 0-based
    beyond = (await east.get("/computers", pageIndex=99, pageSize=7)).json()
    assert beyond["content"] == [] and beyond["totalElements"] == 120


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"pageIndex": 0}, "pageIndex"),
        ({"pageIndex": "one"}, "pageIndex"),
        ({"pageSize": 0}, "pageSize"),
        ({"pageSize": 1001}, "pageSize"),
        ({"order": "UP"}, "order"),
        ({"sort": "colour"}, "sort"),
        ({"lastUpdate": -5}, "lastUpdate"),
    ],
    ids=[
        "page-zero",
        "page-not-a-number",
        "size-zero",
        "size-over-max",
        "bad-order",
        "bad-sort",
        "negative-lastUpdate",
    ],
)
async def test_bad_paging_parameters_are_a_400_with_a_json_error(
    east: Client, params: dict[str, object], fragment: str
) -> None:
    r = await east.get("/computers", **params)
    assert r.status_code == 400
    assert r.headers["content-type"].startswith("application/json")
    assert fragment in r.json()["errorMessage"] and r.json()["errorCode"] == "400"


async def test_computers_sort_by_computer_id_descending(east: Client) -> None:
    page = (await east.get("/computers", pageSize=120, sort="COMPUTER_ID", order="DESC")).json()
    ids = [c["uniqueId"] for c in page["content"]]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 120
    assert page["sort"] == {"property": "COMPUTER_ID", "direction": "DESC"}


@pytest.mark.parametrize("sort", ["COMPUTER_DOMAIN_NAME", "DOMAIN_ID", "computer_name"])
async def test_sorts_the_swagger_lists_are_accepted_and_ties_keep_name_order(east: Client, sort: str) -> None:
    page = (await east.get("/computers", pageSize=120, sort=sort)).json()
    names = [c["computerName"] for c in page["content"]]
    assert names == sorted(names) and len(names) == 120


async def test_a_sort_the_swagger_does_not_list_is_refused(east: Client) -> None:
    r = await east.get("/computers", sort="LAST_UPDATE_TIME")
    assert r.status_code == 400 and "COMPUTER_ID" in r.json()["errorMessage"]


async def test_computer_name_filter_finds_one_computer(east: Client) -> None:
    name = (await east.get("/computers", pageSize=1, pageIndex=5)).json()["content"][0]["computerName"]
    page = (await east.get("/computers", computerName=name.lower())).json()
    assert [c["computerName"] for c in page["content"]] == [name]
    assert (await east.get("/computers", computerName="NO-SUCH-PC")).json()["totalElements"] == 0


async def test_last_update_returns_only_computers_that_changed_since(east: Client) -> None:
    now_ms = (await east.login())["serverTime"]
    assert (await east.get("/computers", lastUpdate=now_ms)).json()["totalElements"] == 0
    await east.advance(60)  # a fifth of the 5-minute heartbeat
    changed = (await east.get("/computers", lastUpdate=now_ms, pageSize=1000)).json()
    assert 0 < changed["totalElements"] < 120
    assert all(c["lastUpdateTime"] > now_ms for c in changed["content"])


async def test_a_missing_or_expired_token_is_a_401_and_a_new_login_works(east: Client) -> None:
    r = await east.http.get(f"{east.api}/computers")
    assert r.status_code == 401 and r.json()["errorCode"] == "401"
    await east.admin("/faults", {"token_lifetime_s": 0.3})
    body = await east.login()
    assert body["tokenExpiration"] == 0  # rounded seconds, as SEPM reports whole seconds
    assert (await east.get("/groups")).status_code == 200
    await asyncio.sleep(0.4)
    expired = await east.get("/groups")
    assert expired.status_code == 401 and "expired" in expired.json()["errorMessage"]
    await east.admin("/faults", {"token_lifetime_s": None})
    await east.login()
    assert (await east.get("/groups")).status_code == 200


async def test_wrong_credentials_are_refused(east: Client) -> None:
    r = await east.http.post(
        f"{east.api}/identity/authenticate", json={"username": "admin", "password": "nope", "domain": ""}
    )
    assert r.status_code == 401 and "Invalid" in r.json()["errorMessage"]


@pytest.mark.parametrize(
    ("domain", "status"),
    [("", 200), ("Default", 200), ("Corp", 401)],
    ids=["default-domain-empty", "default-domain-by-name", "unknown-domain"],
)
async def test_the_right_password_in_an_unknown_domain_is_refused(
    east: Client, domain: str, status: int
) -> None:
    r = await east.http.post(
        f"{east.api}/identity/authenticate",
        json={"username": "admin", "password": "admin-pass", "domain": domain},
    )
    assert r.status_code == status


@pytest.mark.parametrize(
    ("method", "path"),
    [("DELETE", "/computers"), ("POST", "/version"), ("GET", "/identity/authenticate")],
    ids=["delete-computers", "post-version", "get-authenticate"],
)
async def test_a_wrong_method_is_a_405_with_a_json_error(east: Client, method: str, path: str) -> None:
    r = await east.http.request(method, f"{east.api}{path}", headers=east.headers)
    assert r.status_code == 405 and r.headers["content-type"].startswith("application/json")
    assert r.json()["errorCode"] == "405" and method in r.json()["errorMessage"]


async def test_unknown_groups_and_locations_are_refused_as_the_swagger_says(east: Client) -> None:
    assert (await east.get("/groups/0123456789ABCDEF0123456789ABCDEF")).status_code == 410
    assert (await east.get("/groups/0123456789ABCDEF0123456789ABCDEF/locations")).status_code == 410
    laptops = await east.group(LAPTOPS)
    missing_location = await east.get(f"/groups/{laptops['id']}/locations/NOPE/settings")
    assert missing_location.status_code == 404 and "location" in missing_location.json()["errorMessage"]


async def test_a_settings_patch_gives_the_group_and_its_inheritors_a_new_serial(east: Client) -> None:
    await east.admin("/clock/set", {"time": "2026-12-03T10:11:12.345Z"})
    root, servers, laptops = [await east.group(p) for p in ("My Company", SERVERS, LAPTOPS)]
    r = await east.patch(f"/groups/{root['id']}/locations/{root['defaultLocationId']}/settings", SECURE_OFF)
    assert r.status_code == 200
    assert (await east.group("My Company"))[
        "policySerialNumber"
    ] == f"{root['id'][:4]}-12/03/2026 10:11:12 345"
    after = await east.group(SERVERS)  # inherits from My Company
    assert after["policySerialNumber"] == f"{servers['id'][:4]}-12/03/2026 10:11:12 345"
    assert after["policyDate"] == int(
        datetime(2026, 12, 3, 10, 11, 12, 345000, tzinfo=UTC).timestamp() * 1000
    )
    assert (await east.group(LAPTOPS))["policySerialNumber"] == laptops[
        "policySerialNumber"
    ]  # does not inherit
    truth = {g["name"]: g["secure_communications"] for g in east.truth()["groups"]}
    assert truth == {"My Company": False, SERVERS: False, LAPTOPS: True}


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (
            {"configuration": {"general_settings": {"security_settings": {"secure_communications": "no"}}}},
            "boolean",
        ),
        (
            {"configuration": {"general_settings": {"security_settings": {"no_such_option": True}}}},
            "unrecognized",
        ),
        ([1, 2], "JSON object"),
    ],
    ids=["wrong-type", "unknown-field", "not-an-object"],
)
async def test_a_bad_settings_body_is_a_400_and_changes_nothing(
    east: Client, body: object, fragment: str
) -> None:
    laptops = await east.group(LAPTOPS)
    r = await east.patch(f"/groups/{laptops['id']}/locations/{laptops['defaultLocationId']}/settings", body)
    assert r.status_code == 400 and fragment in r.json()["errorMessage"]
    assert (await east.group(LAPTOPS))["policySerialNumber"] == laptops["policySerialNumber"]


@pytest.mark.parametrize(
    ("behaviour", "status", "root_secure"),
    [("reject", 400, True), ("ignore", 200, True), ("parent", 200, False)],
    ids=["reject", "ignore", "apply-to-parent"],
)
async def test_patching_a_group_that_inherits_behaves_as_configured(
    http: httpx.AsyncClient, behaviour: str, status: int, root_secure: bool
) -> None:
    async with Simulator(one_manager(count=10, patchInheritingGroup=behaviour)) as sim:
        east = Client(sim, "sepm-east", http)
        await east.login()
        servers = await east.group(SERVERS)
        r = await east.patch(
            f"/groups/{servers['id']}/locations/{servers['defaultLocationId']}/settings", SECURE_OFF
        )
        assert r.status_code == status
        truth = {g["name"]: g["secure_communications"] for g in east.truth()["groups"]}
        assert truth["My Company"] is root_secure and truth[SERVERS] is root_secure


async def test_replicatenow_needs_all_three_query_parameters(east: Client) -> None:
    r = await east.http.post(
        f"{east.api}/replication/replicatenow", params={"partnerSiteName": "x"}, headers=east.headers
    )
    assert (
        r.status_code == 400 and "logs" in r.json()["errorMessage"] and "content" in r.json()["errorMessage"]
    )
    r = await east.http.post(
        f"{east.api}/replication/replicatenow",
        params={"partnerSiteName": "Nowhere", "logs": "false", "content": "false"},
        headers=east.headers,
    )
    assert r.status_code == 404


async def test_the_admin_api_needs_its_own_token(east: Client) -> None:
    r = await east.http.get(f"{east.admin_url}/state", headers=east.headers)  # a vendor token is not enough
    assert r.status_code == 401
    r = await east.http.get(f"{east.admin_url}/state", headers=east.admin_headers)
    assert r.status_code == 200 and set(r.json()["managers"]["sepm-east"]) >= {
        "site", "served", "replication", "groups", "clients", "orphaned_clients",
    }  # fmt: skip


@pytest.mark.parametrize(
    "password", ["pässwörd", "", "admin-pass "], ids=["non-ascii", "empty", "trailing-space"]
)
async def test_any_wrong_password_is_a_clean_401(east: Client, password: str) -> None:
    r = await east.http.post(
        f"{east.api}/identity/authenticate", json={"username": "admin", "password": password}
    )
    assert r.status_code == 401 and r.json()["errorCode"] == "401"


async def test_a_non_ascii_admin_token_is_a_clean_401(east: Client) -> None:
    r = await east.http.get(f"{east.admin_url}/state", headers=[(b"Authorization", "Bearer tökén".encode())])
    assert r.status_code == 401
