"""The settings PATCH: ``settingsPatch`` (strict ``replace``: an object named in the body replaces the stored one,
its omitted fields take the Swagger defaults), ``noopPatchBumpsSerial`` (strict: a no-op moves no serial) and
``listNameInSettings`` (strict: the assigned management server list is not shown)."""

from __future__ import annotations

import copy
from typing import Any

import httpx
import pytest

from reconciler.sim import Simulator
from tests.sim.conftest import LAPTOPS, SECURE_OFF, Client, one_manager

DEFAULT_LIST = "Default Management Server List"


def fleet_with(**behaviours: Any) -> dict[str, Any]:
    return one_manager(count=20, behaviours={"throttle": False, **behaviours})


async def laptops_settings(east: Client) -> tuple[str, dict[str, Any]]:
    g = await east.group(LAPTOPS)
    path = f"/groups/{g['id']}/locations/{g['defaultLocationId']}/settings"
    return path, (await east.get(path)).json()


@pytest.mark.parametrize("mode", ["replace", "merge"])
async def test_a_minimal_patch_resets_every_other_field_under_replace(
    http: httpx.AsyncClient, mode: str
) -> None:
    async with Simulator(fleet_with(settingsPatch=mode)) as sim:
        east = Client(sim, "sepm-east", http)
        await east.login()
        path, before = await laptops_settings(east)
        security = before["configuration"]["general_settings"]["security_settings"]
        assert security == {"stopped_mode": "BLOCK", "secure_communications": True}
        assert before["configuration"]["general_settings"]["tamper_protection"]["enabled"] is True

        assert (await east.patch(path, SECURE_OFF)).status_code == 200
        _, after = await laptops_settings(east)
        general = after["configuration"]["general_settings"]
        assert general["security_settings"]["secure_communications"] is False
        if mode == "replace":  # every object named was replaced: omitted fields took the Swagger defaults
            assert general["security_settings"]["stopped_mode"] == "ALLOW"
            assert general["tamper_protection"] == {"enabled": False, "action": '"ALLOW"', "log_action": 0}
            comms = after["configuration"]["communication_settings"]
            assert comms["pull_mode_heartbeat_freq_in_seconds"] == 0 and comms["mode"] == "PULL"
            assert after["lockedoptions"] == before["lockedoptions"]  # the root is not replaced
        else:
            expected = copy.deepcopy(before)
            expected["configuration"]["general_settings"]["security_settings"]["secure_communications"] = (
                False
            )
            assert after == expected


async def test_a_whole_document_patch_changes_only_what_it_changes_under_replace(
    http: httpx.AsyncClient,
) -> None:
    async with Simulator(fleet_with()) as sim:
        east = Client(sim, "sepm-east", http)
        await east.login()
        path, before = await laptops_settings(east)
        body = copy.deepcopy(before)  # read-modify-write: the whole document, one field changed
        body["configuration"]["general_settings"]["security_settings"]["secure_communications"] = False
        assert (await east.patch(path, body)).status_code == 200
        _, after = await laptops_settings(east)
        assert after == body


@pytest.mark.parametrize(("bumps", "moves"), [(False, False), (True, True)], ids=["strict", "lenient"])
async def test_a_no_op_patch_moves_no_serial_unless_lenient(
    http: httpx.AsyncClient, bumps: bool, moves: bool
) -> None:
    async with Simulator(fleet_with(noopPatchBumpsSerial=bumps, settingsPatch="merge")) as sim:
        east = Client(sim, "sepm-east", http)
        await east.login()
        path, _ = await laptops_settings(east)
        assert (await east.patch(path, SECURE_OFF)).status_code == 200
        serial = (await east.group(LAPTOPS))["policySerialNumber"]
        await east.advance(60)
        assert (await east.patch(path, SECURE_OFF)).status_code == 200  # already off
        assert ((await east.group(LAPTOPS))["policySerialNumber"] != serial) is moves


async def test_the_list_is_not_shown_in_the_settings_and_an_assignment_shows_only_as_a_new_serial(
    http: httpx.AsyncClient,
) -> None:
    async with Simulator(fleet_with()) as sim:
        east = Client(sim, "sepm-east", http)
        await east.login()
        path, before = await laptops_settings(east)
        assert "sem_server" not in before["configuration"]["communication_settings"]
        serial = (await east.group(LAPTOPS))["policySerialNumber"]
        await east.admin("/lists", {"name": "HTTP", "protocol": "http", "copyOf": DEFAULT_LIST})
        await east.advance(1)
        assert await east.admin("/lists/assign", {"list": "HTTP", "groups": [LAPTOPS]}) == {
            "assigned": [LAPTOPS],
            "list": "HTTP",
        }
        _, after = await laptops_settings(east)
        assert after == before  # nothing in the settings says which list
        assert (await east.group(LAPTOPS))["policySerialNumber"] != serial  # only the serial moved
        assert {g["name"]: g["list"] for g in east.truth()["groups"]}[LAPTOPS] == "HTTP"

        # a PATCH that names a list is accepted and changes nothing when the model does not carry it
        named = {"configuration": {"communication_settings": {"sem_server": {"name": DEFAULT_LIST}}}}
        assert (await east.patch(path, named)).status_code == 200
        assert {g["name"]: g["list"] for g in east.truth()["groups"]}[LAPTOPS] == "HTTP"


async def test_with_the_list_in_the_settings_a_replacing_patch_without_it_resets_the_list(
    http: httpx.AsyncClient,
) -> None:
    async with Simulator(fleet_with(listNameInSettings=True)) as sim:
        east = Client(sim, "sepm-east", http)
        await east.login()
        await east.admin("/lists", {"name": "HTTP", "protocol": "http", "copyOf": DEFAULT_LIST})
        await east.admin("/lists/assign", {"list": "HTTP", "groups": None})
        path, shown = await laptops_settings(east)
        assert shown["configuration"]["communication_settings"]["sem_server"] == {
            "name": "HTTP",
            "description": "",
        }

        body = copy.deepcopy(shown)  # read-modify-write keeps the list
        body["configuration"]["general_settings"]["security_settings"]["secure_communications"] = False
        assert (await east.patch(path, body)).status_code == 200
        assert (await laptops_settings(east))[1] == body

        assert (
            await east.patch(path, SECURE_OFF)
        ).status_code == 200  # the minimal body: back to the first list
        _, after = await laptops_settings(east)
        assert after["configuration"]["communication_settings"]["sem_server"]["name"] == DEFAULT_LIST
        assert {g["name"]: g["list"] for g in east.truth()["groups"]}[LAPTOPS] == DEFAULT_LIST

        unknown = {"configuration": {"communication_settings": {"sem_server": {"name": "Nope"}}}}
        r = await east.patch(path, unknown)
        assert r.status_code == 400 and "no management server list named 'Nope'" in r.json()["errorMessage"]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (
            {"configuration": {"general_settings": {"security_settings": {"stopped_mode": "SOMETIMES"}}}},
            "one of",
        ),
        ({"configuration": {"client_log": {"max_upload": 0}}}, "from 1 to 500"),
        ({"configuration": {"password_protection": {"password": "abc"}}}, "6 to 256"),
    ],
    ids=["enum", "minimum", "min-length"],
)
async def test_values_outside_the_swagger_model_are_refused(
    http: httpx.AsyncClient, body: Any, fragment: str
) -> None:
    async with Simulator(fleet_with()) as sim:
        east = Client(sim, "sepm-east", http)
        await east.login()
        path, before = await laptops_settings(east)
        r = await east.patch(path, body)
        assert r.status_code == 400 and fragment in r.json()["errorMessage"]
        assert (await laptops_settings(east))[1] == before
