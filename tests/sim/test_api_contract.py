"""Every answer of the vendor API, validated against the vendor Swagger strictly (no property the Swagger does not
declare where it declares the object), on a strict fleet with churn, two domains and two sites; plus the fields
the reconciler reads. Where the simulator departs from the Swagger on purpose, the test says so and checks the
shape it answers instead."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from jsonschema import ValidationError

from reconciler.sim import Simulator
from reconciler.sim.settings import MODEL, Arr, Bool, Free, Int, Obj, Str, reset
from tests.sim.conftest import LAPTOPS, SERVERS, Client, fleet, manager
from tests.sim.swagger import response_schema, swagger, validate_definition, validate_response

SERIAL = re.compile(r"^[0-9A-F]{4}-\d{2}/\d{2}/\d{4} \d{2}:\d{2}:\d{2} \d{3}$")
COMPUTER_FIELDS = {
    "profileSerialNo", "profileVersion", "onlineStatus", "lastUpdateTime", "group", "agentVersion", "lastServerName",
    "lastSiteName", "deleted", "computerName", "uniqueId", "hardwareKey",
}  # fmt: skip
CORP = {
    "name": "Corp",
    "groups": [{"name": "My Company"}, {"name": "My Company\\Branch", "inherits": False}],
    "clients": {"count": 10, "heartbeat": "5m"},
}


def contract_fleet() -> dict[str, Any]:
    churning = {
        "count": 50,
        "heartbeat": "5m",
        "offline": {"share": 0.2},
        "churn": {"addPerDay": 24, "removePerDay": 12, "reimagePerDay": 12},
    }
    return fleet(
        manager("sepm-east", "Site East", partners=["Site West"], clients=churning, domains=[CORP]),
        manager("sepm-west", "Site West", partners=["Site East"], count=20),
    )


def declared(definition: str) -> Any:
    """The Swagger definition resolved into nested dicts of property names (leaves: the property schema)."""
    schema = swagger()["definitions"][definition]
    return {
        key: declared(prop["$ref"].rsplit("/", 1)[-1]) if "$ref" in prop else prop
        for key, prop in schema.get("properties", {}).items()
    }


def shape(value: Any) -> Any:
    """Nested property names; leaves (and objects without properties, e.g. ``lockedoptions: {}``) are None."""
    return {k: shape(v) for k, v in value.items()} if isinstance(value, dict) and value else None


def swagger_shape(tree: Any) -> Any:
    """The nested property names of a resolved definition, without the strings that have a minimum length (left
    out of the document while unset: the password, the proxy credentials)."""
    return {
        k: swagger_shape(v) if isinstance(v, dict) and v and "type" not in v else None
        for k, v in tree.items()
        if not (isinstance(v, dict) and v.get("minLength"))
    }


async def test_the_strict_validator_refuses_what_the_swagger_does_not_declare() -> None:
    # The contract tests below are only worth something if validation can fail.
    with pytest.raises(ValidationError):
        validate_definition({"replicationStatus": {"siteName": 3}}, "ReplicationStatusResponse")
    with pytest.raises(ValidationError):
        validate_response("GET", "/computers", {"content": [], "totalElements": "many"})
    with pytest.raises(ValidationError, match="invented"):
        validate_definition(
            {"configuration": {"general_settings": {"invented": 1}}},
            "SettingsGroupSettingsConfigurationObject",
        )
    validate_definition(
        {"configuration": {"general_settings": {"invented": 1}}},
        "SettingsGroupSettingsConfigurationObject",
        strict=False,
    )


def test_the_simulators_settings_model_is_the_swaggers_field_for_field() -> None:
    def compare(mine: Any, theirs: Any, where: str) -> None:
        if isinstance(mine, Obj):
            assert isinstance(theirs, dict) and "type" not in theirs, where
            assert set(mine.fields) == set(theirs), f"{where}: {set(mine.fields) ^ set(theirs)}"
            for key, sub in mine.fields.items():
                compare(sub, theirs[key], f"{where}.{key}")
        elif isinstance(mine, Free):
            assert theirs == {} or theirs.get("type") == "object", where
        elif isinstance(mine, Arr):
            assert theirs["type"] == "array", where
            item = declared(theirs["items"]["$ref"].rsplit("/", 1)[-1])
            compare(mine.item, item, f"{where}[]")
        else:
            kind = {Bool: "boolean", Int: "integer", Str: "string"}[type(mine)]
            assert theirs["type"] == kind, where
            if isinstance(mine, Str):
                assert tuple(theirs.get("enum", ())) == mine.enum, where
            if isinstance(mine, Bool):
                assert theirs.get("default", False) is mine.default, where

    compare(MODEL, declared("SettingsGroupSettingsConfigurationObject"), "settings")
    validate_definition(reset(MODEL), "SettingsGroupSettingsConfigurationObject")


async def test_every_answer_matches_the_vendor_swagger_strictly(http: httpx.AsyncClient) -> None:
    async with Simulator(contract_fleet()) as sim:
        east = Client(sim, "sepm-east", http)

        version = (await http.get(f"{east.api}/version")).json()
        validate_response("GET", "/version", version)
        assert set(version) == {"API_SEQUENCE", "API_VERSION", "version"}

        token = await east.login()
        validate_response("POST", "/identity/authenticate", token)
        assert token["tokenExpiration"] == 3600 and token["role"]["bitMask"] == 8
        assert token["serverTime"] == 1796112000000  # 2026-12-01T08:00:00Z: the virtual clock, frozen here
        await east.advance(86400)  # a day of churn: machines added, removed, re-imaged
        await east.login()

        domains = (await east.get("/domains")).json()
        validate_response("GET", "/domains", domains)
        assert [d["name"] for d in domains] == ["Default", "Corp"]
        corp_id = domains[1]["id"]

        page = (await east.get("/computers", pageSize=1000)).json()
        validate_response("GET", "/computers", page)
        assert page["totalElements"] == page["numberOfElements"] == len(page["content"]) == 50 + 24 + 12
        assert sum(c["deleted"] for c in page["content"]) == 12 + 12  # removed and re-imaged records linger
        for computer in page["content"]:
            validate_definition(computer, "Computer")
            assert set(computer) >= COMPUTER_FIELDS
            assert computer["onlineStatus"] in (0, 1) and SERIAL.match(computer["profileSerialNo"])
            validate_definition(computer["group"], "GroupSummary")
            assert computer["group"]["domain"]["name"] == "Default"
        corp = (await east.get("/computers", domain=corp_id, pageSize=100)).json()
        validate_response("GET", "/computers", corp)
        assert {c["group"]["domain"]["name"] for c in corp["content"]} == {"Corp"}

        groups = (await east.get("/groups")).json()
        validate_response("GET", "/groups", groups)
        assert [g["fullPathName"] for g in groups["content"]] == ["My Company", LAPTOPS, SERVERS]
        for group in groups["content"]:
            validate_definition(group, "Group")
            assert (
                SERIAL.match(group["policySerialNumber"])
                and group["policySerialNumber"][:4] == group["id"][:4]
            )
        laptops = next(g for g in groups["content"] if g["fullPathName"] == LAPTOPS)
        one = (await east.get(f"/groups/{laptops['id']}")).json()
        validate_response("GET", "/groups/{groupId}", one)
        assert one == laptops
        members = (await east.get(f"/groups/{laptops['id']}/computers", pageSize=100)).json()
        validate_response("GET", "/groups/{groupId}/computers", members)
        assert {c["group"]["id"] for c in members["content"]} == {laptops["id"]}

        # Swagger says "array of objects"; NOTES.md [C] (public client code) says strings whose last segment is the
        # id, and, with hasName=true, "NAME:" before it (PSSymantecSEPM splits on ":" and "/").
        assert response_schema("GET", "/groups/{groupId}/locations")["type"] == "array"
        plain = (await east.get(f"/groups/{laptops['id']}/locations")).json()
        named = (await east.get(f"/groups/{laptops['id']}/locations", hasName="true")).json()
        assert plain[0].rsplit("/", 1)[-1] == laptops["defaultLocationId"]
        assert named == [f"Default:{plain[0]}"]

        settings_path = f"/groups/{laptops['id']}/locations/{laptops['defaultLocationId']}/settings"
        settings = (await east.get(settings_path)).json()
        validate_response("GET", "/groups/{groupId}/locations/{locationId}/settings", settings)
        validate_definition(settings, "SettingsGroupSettingsConfigurationObject")
        expected = swagger_shape(declared("SettingsGroupSettingsConfigurationObject"))
        del expected["configuration"]["communication_settings"]["sem_server"]  # listNameInSettings: false
        assert shape(settings) == expected
        assert (
            settings["configuration"]["general_settings"]["security_settings"]["secure_communications"]
            is True
        )
        await east.behave(listNameInSettings=True)
        shown = (await east.get(settings_path)).json()
        validate_definition(shown, "SettingsGroupSettingsConfigurationObject")
        assert shown["configuration"]["communication_settings"]["sem_server"] == {
            "name": "Default Management Server List",
            "description": "",
        }

        # Strict replicationStatusShape is an array (a public client wraps it); the Swagger declares an object.
        status = (await east.get("/replication/status")).json()
        assert set(status) == {"replicationStatus"} and isinstance(status["replicationStatus"], list)
        validate_definition(status["replicationStatus"][0], "ReplicationStatus")
        await east.behave(replicationStatusShape="object")
        status = (await east.get("/replication/status")).json()
        validate_response("GET", "/replication/status", status)
        replication = status["replicationStatus"]
        assert replication["siteName"] == "Site East"
        assert [p["name"] for p in replication["replicationPartnerStatusList"]] == ["Site West"]

        replicated = (await east.get("/replication/is_replicated")).json()
        validate_response("GET", "/replication/is_replicated", replicated)
        assert replicated is True
        params = {"partnerSiteName": "Site West", "logs": "false", "content": "false"}
        now = await http.post(f"{east.api}/replication/replicatenow", params=params, headers=east.headers)
        validate_response("POST", "/replication/replicatenow", now.json())

        online = (await east.get("/stats/client/onlinestatus")).json()
        validate_response("GET", "/stats/client/onlinestatus", online)
        assert (
            sum(s["clientsCount"] for s in online["clientCountStatsList"]) == 50 + 24 - 12 + 10
        )  # live ones

        logout = await http.post(f"{east.api}/identity/logout", headers=east.headers)
        assert logout.status_code == 204
        assert (await east.get("/groups")).status_code == 401


def test_the_swagger_used_is_the_vendors() -> None:
    assert swagger()["basePath"] == "/sepm/api/v1"
    assert "Computer" in swagger()["definitions"]
