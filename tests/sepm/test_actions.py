"""The two changes the adapter makes — the verification flag and ``replicatenow`` — when the manager does not do what
it was asked: a scripted manager over real HTTPS (the simulator always applies a PATCH; a real SEPM may not)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from reconciler.core.observation import GroupObservation
from reconciler.errors import TemporaryError
from reconciler.sepm import CollateralSettingsChange, SepmClient, replicate_now, set_secure_communications
from tests.sepm.scripted import Reply, ScriptedServer, auth_reply

API = "/sepm/api/v1"
SETTINGS = f"{API}/groups/G1/locations/L1/settings"
MakeClient = Callable[..., SepmClient]


def laptops() -> GroupObservation:
    return GroupObservation(
        id="G1",
        full_path_name="My Company\\Laptops",
        inherits=False,
        managed=True,
        secure_communications=True,
        policy_serial=None,
        policy_time=None,
        location_id="L1",
    )


def settings(flag: Any, **security: Any) -> dict[str, Any]:
    """A settings document: the flag, and fields beside it a replacing PATCH would reset."""
    flags = {"stopped_mode": "BLOCK", **security}
    if flag is not None:
        flags["secure_communications"] = flag
    return {
        "configuration": {
            "general_settings": {"security_settings": flags, "tamper_protection": {"enabled": True}},
            "communication_settings": {"pull_mode_heartbeat_freq_in_seconds": 300},
        },
        "lockedoptions": {"x": 1},
    }


@pytest.mark.parametrize(
    ("patch", "read_back", "confirmed", "error"),
    [
        (Reply(200), Reply(200, settings(False)), False, None),
        (
            Reply(200),
            Reply(200, settings(True)),
            True,
            "accepted the PATCH but still reports secure_communications=True",
        ),
        (Reply(200), Reply(200, settings(None)), None, "the settings carry no secure_communications flag"),
        (
            Reply(400, {"errorMessage": "bad body"}),
            Reply(200, settings(True)),
            None,
            "PATCH groups/G1/locations/L1",
        ),
    ],
    ids=["applied", "accepted-not-applied", "flag-missing-on-read-back", "patch-refused"],
)
async def test_only_a_flag_read_back_as_asked_is_confirmed(
    server: ScriptedServer,
    make_client: MakeClient,
    patch: Reply,
    read_back: Reply,
    confirmed: bool | None,
    error: str | None,
) -> None:
    server.on("POST", f"{API}/identity/authenticate", auth_reply())
    server.on("PATCH", SETTINGS, patch)
    server.on("GET", SETTINGS, Reply(200, settings(True)), read_back)
    async with make_client(server.url) as client:
        (result,) = await set_secure_communications(client, [laptops()], False)
    assert result.requested is False and result.confirmed is confirmed
    assert result.ok is (error is None)
    assert (result.error is None) if error is None else (error in (result.error or ""))
    (sent,) = server.calls("PATCH", SETTINGS)
    # the whole configuration as read, only the flag changed; lockedoptions (not named) left alone
    assert sent.json() == {"configuration": settings(False)["configuration"]}


async def test_a_flag_already_as_wanted_is_a_no_op_that_sends_nothing(
    server: ScriptedServer, make_client: MakeClient
) -> None:
    server.on("POST", f"{API}/identity/authenticate", auth_reply())
    server.on("GET", SETTINGS, Reply(200, settings(False)))
    async with make_client(server.url) as client:
        (result,) = await set_secure_communications(client, [laptops()], False)
    assert result.ok and result.noop and result.confirmed is False
    assert server.calls("PATCH", SETTINGS) == []


async def test_a_patch_that_resets_other_fields_is_caught_restored_and_stops_before_the_next_group(
    server: ScriptedServer, make_client: MakeClient
) -> None:
    server.on("POST", f"{API}/identity/authenticate", auth_reply())
    server.on("PATCH", SETTINGS, Reply(200))
    reset = settings(False, stopped_mode="ALLOW")
    reset["configuration"]["general_settings"]["tamper_protection"] = {"enabled": False}
    # before, after the PATCH (two fields reset), after the restoring PATCH (as before)
    server.on("GET", SETTINGS, Reply(200, settings(True)), Reply(200, reset), Reply(200, settings(True)))
    second = replace(laptops(), id="G2", full_path_name="My Company\\Kiosks")
    async with make_client(server.url) as client:
        with pytest.raises(CollateralSettingsChange) as caught:
            await set_secure_communications(client, [laptops(), second], False)
    error = caught.value
    assert error.code == "CollateralSettingsChange" and error.group_id == "G1"
    assert error.fields == (
        "configuration.general_settings.security_settings.stopped_mode",
        "configuration.general_settings.tamper_protection.enabled",
    )
    assert error.restored is True and "written back as it was and reads as before" in str(error)
    first, restore = server.calls("PATCH", SETTINGS)
    assert first.json() == {"configuration": settings(False)["configuration"]}
    assert restore.json() == {"configuration": settings(True)["configuration"]}
    assert [r.path for r in server.requests if "G2" in r.path] == []  # the second group was never touched


@pytest.mark.parametrize(
    ("answer", "refused"),
    [(Reply(200, {"code": 0}), False), (Reply(200, b""), False), (Reply(200, {"code": 2}), True)],
    ids=["code-0", "empty-body", "code-2"],
)
async def test_replicatenow_refused_by_its_answer_code_is_a_temporary_error(
    server: ScriptedServer, make_client: MakeClient, answer: Reply, refused: bool
) -> None:
    server.on("POST", f"{API}/identity/authenticate", auth_reply())
    server.on("POST", f"{API}/replication/replicatenow", answer)
    async with make_client(server.url) as client:
        if refused:
            with pytest.raises(
                TemporaryError, match=r"replicatenow with 'Site West': the manager answered code 2"
            ):
                await replicate_now(client, "Site West")
        else:
            await replicate_now(client, "Site West")
    (sent,) = server.calls("POST", f"{API}/replication/replicatenow")
    assert sent.query == {"partnerSiteName": ["Site West"], "logs": ["false"], "content": ["false"]}
