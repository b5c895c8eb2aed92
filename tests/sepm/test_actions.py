"""The two changes the adapter makes — the verification flag and ``replicatenow`` — when the manager does not do what
it was asked: a scripted manager over real HTTPS (the simulator always applies a PATCH; a real SEPM may not)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from reconciler.core.observation import GroupObservation
from reconciler.errors import TemporaryError
from reconciler.sepm import SepmClient, replicate_now, set_secure_communications
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


def settings(flag: Any) -> dict[str, Any]:
    return {"configuration": {"general_settings": {"security_settings": {"secure_communications": flag}}}}


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
        (
            Reply(200),
            Reply(200, {"configuration": {}}),
            None,
            "the settings carry no secure_communications flag",
        ),
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
    server.on("GET", SETTINGS, read_back)
    async with make_client(server.url) as client:
        (result,) = await set_secure_communications(client, [laptops()], False)
    assert result.requested is False and result.confirmed is confirmed
    assert result.ok is (error is None)
    assert (result.error is None) if error is None else (error in (result.error or ""))
    (sent,) = server.calls("PATCH", SETTINGS)
    assert sent.json() == settings(False), "the minimal body, nothing else"


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
