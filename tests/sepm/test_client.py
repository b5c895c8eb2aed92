"""The one request path: authentication, retries, timeouts, TLS, error translation — over real HTTPS.

The server here is a scripted one (tests/sepm/scripted.py) because these cases need an exact answer at an exact
moment; the simulator-backed tests (test_observe_sim.py) cover the same behaviours under its fault injection.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from reconciler.errors import (
    AuthenticationError,
    PermanentError,
    ProtocolError,
    TemporaryError,
    UnreachableError,
)
from reconciler.sepm import ApiError, RetryPolicy, SepmClient, tls_context
from reconciler.sepm.client import UntrustedCertificateError
from tests.sepm.conftest import PASSWORD, Sleeps
from tests.sepm.pki import Issued, make_leaf
from tests.sepm.scripted import Recorded, Reply, ScriptedServer, auth_reply

API = "/sepm/api/v1"
AUTH = f"{API}/identity/authenticate"
MakeClient = Callable[..., SepmClient]


def _bearer(request: Recorded) -> str | None:
    return request.headers.get("authorization")


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# --- authentication ----------------------------------------------------------------------------------------------


async def test_authenticates_once_then_sends_the_bearer_token(
    server: ScriptedServer, make_client: MakeClient
) -> None:
    server.on("POST", AUTH, auth_reply("tok-A"))
    server.on("GET", f"{API}/groups", Reply(200, {"content": []}))
    async with make_client(server.url) as client:
        for _ in range(3):
            await client.get_json("groups")
    assert len(server.calls("POST", AUTH)) == 1
    assert server.calls("POST", AUTH)[0].json() == {"username": "admin", "password": PASSWORD, "domain": ""}
    assert [_bearer(r) for r in server.calls("GET", f"{API}/groups")] == ["Bearer tok-A"] * 3


async def test_session_carries_the_manager_clock_and_token_lifetime(
    server: ScriptedServer, make_client: MakeClient
) -> None:
    server.on("POST", AUTH, auth_reply("tok-A", lifetime=1800, server_time_ms=1_796_112_000_123))
    async with make_client(server.url) as client:
        session = await client.authenticate()
    assert session.lifetime == 1800
    assert session.server_time == datetime(2026, 12, 1, 8, 0, 0, 123000, tzinfo=UTC)
    assert "tok-A" not in repr(session)


async def test_reauthenticates_once_on_401_then_succeeds(
    server: ScriptedServer, make_client: MakeClient
) -> None:
    server.on("POST", AUTH, auth_reply("tok-old"), auth_reply("tok-new"))
    server.on("GET", f"{API}/groups", Reply(401, {"errorCode": "401"}), Reply(200, {"content": [1]}))
    async with make_client(server.url) as client:
        assert await client.get_json("groups") == {"content": [1]}
    assert [_bearer(r) for r in server.calls("GET", f"{API}/groups")] == ["Bearer tok-old", "Bearer tok-new"]
    assert len(server.calls("POST", AUTH)) == 2


async def test_a_fresh_token_refused_again_is_an_authentication_error(
    server: ScriptedServer, make_client: MakeClient
) -> None:
    server.on("POST", AUTH, auth_reply("tok-1"), auth_reply("tok-2"))
    server.on("GET", f"{API}/groups", Reply(401, {"errorCode": "401"}))
    async with make_client(server.url) as client:
        with pytest.raises(AuthenticationError, match="refused a fresh token"):
            await client.get_json("groups")
    assert len(server.calls("GET", f"{API}/groups")) == 2  # once per token, no more


@pytest.mark.parametrize("status", [400, 401, 403], ids=["bad-request", "unauthorized", "forbidden"])
async def test_refused_credentials_are_an_authentication_error_without_the_password(
    server: ScriptedServer, make_client: MakeClient, caplog: pytest.LogCaptureFixture, status: int
) -> None:
    server.on("POST", AUTH, Reply(status, {"errorMessage": f"bad password {PASSWORD}"}))
    caplog.set_level(logging.DEBUG)
    async with make_client(server.url) as client:
        with pytest.raises(AuthenticationError) as caught:
            await client.get_json("groups")
    message = str(caught.value)
    assert "user 'admin'" in message and f"HTTP {status}" in message
    assert PASSWORD not in message
    assert PASSWORD not in caplog.text
    assert server.calls("GET", f"{API}/groups") == []


async def test_reauthenticates_shortly_before_the_token_expires(
    server: ScriptedServer, make_client: MakeClient
) -> None:
    clock = FakeMonotonic()
    server.on("POST", AUTH, auth_reply("tok-1", lifetime=600), auth_reply("tok-2", lifetime=600))
    server.on("GET", f"{API}/version", Reply(200, {"version": "14.3"}))
    async with make_client(server.url, monotonic=clock) as client:
        await client.get_json("version")
        clock.now += 500  # 100 s left: more than the margin (60 s)
        await client.get_json("version")
        clock.now += 45  # 55 s left: inside the margin, renew before sending
        await client.get_json("version")
    assert [_bearer(r) for r in server.calls("GET", f"{API}/version")] == [
        "Bearer tok-1",
        "Bearer tok-1",
        "Bearer tok-2",
    ]


async def test_concurrent_calls_share_one_authentication(
    server: ScriptedServer, make_client: MakeClient
) -> None:
    server.on("POST", AUTH, Reply(200, auth_reply("tok-1").body, delay=0.2))
    server.on("GET", f"{API}/groups", Reply(200, {"content": []}))
    async with make_client(server.url) as client:
        await asyncio.gather(*(client.get_json("groups") for _ in range(6)))
    assert len(server.calls("POST", AUTH)) == 1


# --- retries ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("draw", "delays"),
    [(1.0, [0.1, 0.2, 0.4]), (0.25, [0.025, 0.05, 0.1])],
    ids=["whole-window", "quarter-window"],
)
async def test_5xx_are_retried_with_growing_jittered_backoff(
    server: ScriptedServer, make_client: MakeClient, sleeps: Sleeps, draw: float, delays: list[float]
) -> None:
    server.on("POST", AUTH, auth_reply())
    server.on("GET", f"{API}/groups", Reply(500), Reply(503), Reply(502), Reply(200, {"content": []}))
    async with make_client(server.url, rng=lambda: draw) as client:
        assert await client.get_json("groups") == {"content": []}
    # base 0.1 doubled each time; the random draw picks a point in [0, window] ("full jitter")
    assert sleeps.delays == pytest.approx(delays)


async def test_5xx_exhaustion_is_temporary_with_a_truncated_scrubbed_body(
    server: ScriptedServer, make_client: MakeClient
) -> None:
    body = '{"error": "boom", "token": "leaked-token-value", "trace": "' + "x" * 1000 + '"}'
    server.on("POST", AUTH, auth_reply())
    server.on("GET", f"{API}/groups", Reply(500, body))
    async with make_client(server.url) as client:
        with pytest.raises(TemporaryError) as caught:
            await client.get_json("groups")
    message = str(caught.value)
    assert message.startswith("GET groups: HTTP 500, gave up after 4 tries: {")
    assert "leaked-token-value" not in message and '"token": "***"' in message
    assert len(message) < 400
    assert len(server.calls("GET", f"{API}/groups")) == 4


@pytest.mark.parametrize(
    "retry_after",
    ["3", "Wed, 21 Oct 2015 07:28:00 GMT"],
    ids=["seconds", "http-date-in-the-past"],
)
async def test_429_honours_retry_after(
    server: ScriptedServer, make_client: MakeClient, sleeps: Sleeps, retry_after: str
) -> None:
    server.on("POST", AUTH, auth_reply())
    server.on(
        "GET", f"{API}/groups", Reply(429, headers={"Retry-After": retry_after}), Reply(200, {"content": []})
    )
    async with make_client(server.url) as client:
        await client.get_json("groups")
    assert sleeps.delays == [3.0 if retry_after == "3" else 0.0]


async def test_429_asking_for_longer_than_the_cap_ends_the_call_with_that_delay(
    server: ScriptedServer, make_client: MakeClient, sleeps: Sleeps
) -> None:
    server.on("POST", AUTH, auth_reply())
    server.on("GET", f"{API}/groups", Reply(429, headers={"Retry-After": "120"}))
    async with make_client(server.url) as client:
        with pytest.raises(TemporaryError, match="come back in 120 s") as caught:
            await client.get_json("groups")
    assert caught.value.delay == 120.0
    assert sleeps.delays == []
    assert len(server.calls("GET", f"{API}/groups")) == 1


async def test_a_connection_dropped_after_a_post_is_retried_on_a_new_one(
    server: ScriptedServer, make_client: MakeClient
) -> None:
    token = auth_reply("tok-1")
    token.drop_next = True  # SEPM 14.3: the request after a POST on the same connection gets no answer
    server.on("POST", AUTH, token)
    server.on("GET", f"{API}/groups", Reply(200, {"content": []}))
    async with make_client(server.url) as client:
        assert await client.get_json("groups") == {"content": []}
    gets = server.calls("GET", f"{API}/groups")
    assert len(gets) == 2
    assert gets[0].connection == server.calls("POST", AUTH)[0].connection
    assert gets[1].connection != gets[0].connection


async def test_a_hung_call_times_out_and_is_retried(server: ScriptedServer, make_client: MakeClient) -> None:
    server.on("POST", AUTH, auth_reply())
    # The first answer comes far too late; the retry's answer comes at once (the generous timeout leaves room for a
    # loaded machine to answer it: only the hung call must exceed it).
    server.on("GET", f"{API}/groups", Reply(200, {"content": []}, delay=60.0), Reply(200, {"content": [7]}))
    async with make_client(server.url, timeout=3.0) as client:
        assert await client.get_json("groups") == {"content": [7]}


async def test_every_try_timing_out_is_unreachable(server: ScriptedServer, make_client: MakeClient) -> None:
    server.on("POST", AUTH, auth_reply())
    server.on("GET", f"{API}/groups", Reply(200, {}, delay=1.0))
    retry = RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.01)
    async with make_client(server.url, timeout=0.2, retry=retry) as client:
        with pytest.raises(UnreachableError, match=r"no answer in 0.2 s"):
            await client.get_json("groups")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_a_refused_port_is_unreachable_after_the_retries(
    make_client: MakeClient, sleeps: Sleeps
) -> None:
    async with make_client(f"https://127.0.0.1:{_free_port()}") as client:
        with pytest.raises(UnreachableError, match="cannot connect"):
            await client.get_json("version", authenticated=False)
    assert len(sleeps.delays) == 3  # 4 tries


# --- TLS ----------------------------------------------------------------------------------------------------------


async def test_an_untrusted_api_certificate_is_permanent_and_points_at_ca_bundle(
    pki: dict[str, Issued], make_client: MakeClient, sleeps: Sleeps
) -> None:
    async with ScriptedServer(pki["other"].server_context()) as impostor:
        impostor.on("GET", f"{API}/version", Reply(200, {"version": "14.3"}))
        async with make_client(impostor.url) as client:
            with pytest.raises(UntrustedCertificateError, match="caBundle") as caught:
                await client.get_json("version", authenticated=False)
    assert isinstance(caught.value, PermanentError)
    assert sleeps.delays == []  # not retried
    assert impostor.requests == []


async def test_a_trusted_certificate_for_another_host_says_to_fix_the_api_url(
    pki: dict[str, Issued], make_client: MakeClient, tmp_path: Path
) -> None:
    elsewhere = make_leaf(
        tmp_path, "sepm.elsewhere.example", issuer=pki["ca"], dns=("sepm.elsewhere.example",), ips=()
    )
    async with ScriptedServer(elsewhere.server_context()) as other:
        other.on("GET", f"{API}/version", Reply(200, {"version": "14.3"}))
        async with make_client(other.url) as client:
            with pytest.raises(UntrustedCertificateError) as caught:
                await client.get_json("version", authenticated=False)
    assert "not valid for '127.0.0.1'" in str(caught.value)
    assert "write in spec.server.apiUrl a host name the certificate lists" in str(caught.value)
    assert "caBundle" not in str(caught.value), "the CA is trusted: the host name is what is wrong"


async def test_the_system_trust_store_does_not_trust_a_private_ca(
    server: ScriptedServer, make_client: MakeClient
) -> None:
    server.on("GET", f"{API}/version", Reply(200, {"version": "14.3"}))
    async with make_client(server.url, verify=tls_context(None)) as client:
        with pytest.raises(UntrustedCertificateError):
            await client.get_json("version", authenticated=False)


def test_an_unreadable_ca_bundle_is_a_permanent_error() -> None:
    with pytest.raises(PermanentError, match=r"caBundle /nonexistent/ca\.pem: cannot be loaded"):
        tls_context("/nonexistent/ca.pem")


# --- answers we cannot use ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [400, 404, 410], ids=["bad-request", "not-found", "gone"])
async def test_other_4xx_are_api_errors_with_the_status(
    server: ScriptedServer, make_client: MakeClient, status: int
) -> None:
    server.on("POST", AUTH, auth_reply())
    server.on("GET", f"{API}/groups/XYZ", Reply(status, {"errorMessage": "no such group"}))
    async with make_client(server.url) as client:
        with pytest.raises(ApiError) as caught:
            await client.get_json("groups/XYZ")
    assert caught.value.status == status
    assert f"GET groups/XYZ: HTTP {status}" in str(caught.value)
    assert len(server.calls("GET", f"{API}/groups/XYZ")) == 1  # not retried


async def test_malformed_json_is_a_protocol_error_naming_the_call(
    server: ScriptedServer, make_client: MakeClient
) -> None:
    server.on("POST", AUTH, auth_reply())
    server.on("GET", f"{API}/groups", Reply(200, '{"content": [ {"id": "A"'))
    async with make_client(server.url) as client:
        with pytest.raises(ProtocolError, match="GET groups: the answer is not valid JSON"):
            await client.get_json("groups")


async def test_an_authentication_answer_without_token_is_a_protocol_error_that_quotes_nothing(
    server: ScriptedServer, make_client: MakeClient
) -> None:
    server.on("POST", AUTH, Reply(200, {"refreshToken": "r-secret", "adminId": "x"}))
    async with make_client(server.url) as client:
        with pytest.raises(ProtocolError, match="no token") as caught:
            await client.authenticate()
    assert "r-secret" not in str(caught.value)


async def test_neither_password_nor_token_reach_the_logs(
    server: ScriptedServer, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server.on("POST", AUTH, Reply(503), auth_reply("tok-visible-nowhere"))
    server.on(
        "GET", f"{API}/groups", Reply(500, {"token": "tok-visible-nowhere"}), Reply(200, {"content": []})
    )
    async with make_client(server.url) as client:
        await client.get_json("groups")
        assert "tok-visible-nowhere" not in repr(client) + repr(client.session)
    assert "POST identity/authenticate" in caplog.text  # the retry was logged…
    assert PASSWORD not in caplog.text and "tok-visible-nowhere" not in caplog.text  # …without secrets
