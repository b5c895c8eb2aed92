"""Every response the reconciler uses, validated against the vendor Swagger, plus the fields it reads."""

from __future__ import annotations

import re

import httpx
import pytest
from jsonschema import ValidationError

from reconciler.sim import Simulator
from tests.sim.conftest import LAPTOPS, SERVERS, Client, two_managers
from tests.sim.swagger import response_schema, swagger, validate_definition, validate_response

SERIAL = re.compile(r"^[0-9A-F]{4}-\d{2}/\d{2}/\d{4} \d{2}:\d{2}:\d{2} \d{3}$")
COMPUTER_FIELDS = {
    "profileSerialNo", "profileVersion", "onlineStatus", "lastUpdateTime", "group", "agentVersion", "lastServerName",
    "lastSiteName", "deleted", "computerName", "uniqueId", "hardwareKey",
}  # fmt: skip


async def test_the_swagger_validator_rejects_a_wrong_shape() -> None:
    # The contract tests below are only worth something if validation can fail.
    with pytest.raises(ValidationError):
        validate_definition({"replicationStatus": {"siteName": 3}}, "ReplicationStatusResponse")
    with pytest.raises(ValidationError):
        validate_response("GET", "/computers", {"content": [], "totalElements": "many"})


async def test_every_response_the_reconciler_uses_matches_the_vendor_swagger(http: httpx.AsyncClient) -> None:
    async with Simulator(two_managers(count=50)) as sim:
        east = Client(sim, "sepm-east", http)

        version = (await http.get(f"{east.api}/version")).json()
        validate_response("GET", "/version", version)
        assert set(version) == {"API_SEQUENCE", "API_VERSION", "version"}

        token = await east.login()
        validate_response("POST", "/identity/authenticate", token)
        validate_definition(token, "identity_UserToken")
        assert token["tokenExpiration"] == 3600 and token["role"]["bitMask"] == 8
        assert token["serverTime"] == 1796112000000  # 2026-12-01T08:00:00Z: the virtual clock, frozen here

        page = (await east.get("/computers", pageSize=10)).json()
        validate_response("GET", "/computers", page)
        assert page["totalElements"] == 50 and page["numberOfElements"] == 10 and page["totalPages"] == 5
        for computer in page["content"]:
            validate_definition(computer, "Computer")
            assert set(computer) >= COMPUTER_FIELDS
            assert computer["onlineStatus"] in (0, 1)
            assert SERIAL.match(computer["profileSerialNo"])
            validate_definition(computer["group"], "GroupSummary")
            assert set(computer["group"]) >= {"id", "name", "fullPathName", "domain"}

        groups = (await east.get("/groups")).json()
        validate_response("GET", "/groups", groups)
        assert [g["fullPathName"] for g in groups["content"]] == ["My Company", LAPTOPS, SERVERS]
        for group in groups["content"]:
            validate_definition(group, "Group")
            assert SERIAL.match(group["policySerialNumber"])
            assert group["policySerialNumber"][:4] == group["id"][:4]
        laptops = next(g for g in groups["content"] if g["fullPathName"] == LAPTOPS)

        one = (await east.get(f"/groups/{laptops['id']}")).json()
        validate_response("GET", "/groups/{groupId}", one)
        assert one == laptops

        members = (await east.get(f"/groups/{laptops['id']}/computers", pageSize=100)).json()
        validate_response("GET", "/groups/{groupId}/computers", members)
        assert members["totalElements"] == laptops["numberOfPhysicalComputers"] > 0
        assert {c["group"]["id"] for c in members["content"]} == {laptops["id"]}

        locations = (await east.get(f"/groups/{laptops['id']}/locations")).json()
        # Swagger says "array of objects"; NOTES.md [C] (public client code) says strings whose last segment is the id.
        assert response_schema("GET", "/groups/{groupId}/locations")["type"] == "array"
        assert isinstance(locations, list) and all(isinstance(x, str) for x in locations)
        assert locations[0].rsplit("/", 1)[-1] == laptops["defaultLocationId"]

        settings = (
            await east.get(f"/groups/{laptops['id']}/locations/{laptops['defaultLocationId']}/settings")
        ).json()
        validate_response("GET", "/groups/{groupId}/locations/{locationId}/settings", settings)
        assert (
            settings["configuration"]["general_settings"]["security_settings"]["secure_communications"]
            is True
        )

        status = (await east.get("/replication/status")).json()
        validate_response("GET", "/replication/status", status)
        replication = status["replicationStatus"]
        assert replication["siteName"] == "Site East"
        assert [p["name"] for p in replication["replicationPartnerStatusList"]] == ["Site West"]
        assert replication["replicationPartnerStatusList"][0]["status_code"] == "NEVER_REPLICATED"

        replicated = (await east.get("/replication/is_replicated")).json()
        validate_response("GET", "/replication/is_replicated", replicated)
        assert replicated is True

        params = {"partnerSiteName": "Site West", "logs": "false", "content": "false"}
        now = await http.post(f"{east.api}/replication/replicatenow", params=params, headers=east.headers)
        validate_response("POST", "/replication/replicatenow", now.json())
        assert now.json() == {"code": 0}

        online = (await east.get("/stats/client/onlinestatus")).json()
        validate_response("GET", "/stats/client/onlinestatus", online)
        assert sum(s["clientsCount"] for s in online["clientCountStatsList"]) == 50

        logout = await http.post(f"{east.api}/identity/logout", headers=east.headers)
        assert logout.status_code == 204
        assert (await east.get("/groups")).status_code == 401


def test_the_swagger_used_is_the_vendors() -> None:
    assert swagger()["basePath"] == "/sepm/api/v1"
    assert "Computer" in swagger()["definitions"]
