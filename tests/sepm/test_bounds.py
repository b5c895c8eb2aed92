"""What a hostile or broken manager cannot do to the reconciler: answers too large, Retry-After ignored (the login
included), times in the wrong unit or absurd — each a precise error naming the call, never a traceback or a blown
memory (issue [reliability], findings 6, 7 and 8). Real HTTPS, scripted answers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import sys
import tracemalloc
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.errors import ProtocolError, TemporaryError
from reconciler.sepm import ClientLedger, SepmClient, ThrottledError
from reconciler.sepm._clock import epoch_ms
from reconciler.sepm.replication import observe_replication
from tests.sepm.conftest import PASSWORD, Sleeps
from tests.sepm.pki import Issued
from tests.sepm.scripted import Reply, ScriptedServer, auth_reply

API = "/sepm/api/v1"
AUTH = f"{API}/identity/authenticate"
MakeClient = Callable[..., SepmClient]
NOW_MS = 1_796_112_000_000  # 2026-12-01 08:00 UTC


# --- answers too large ---------------------------------------------------------------------------------------------


def _chunked(payload: bytes, status: int = 200) -> bytes:
    head = f"HTTP/1.1 {status} OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    body = b"".join(f"{len(part):x}\r\n".encode() + part + b"\r\n" for part in _parts(payload, 65536))
    return head.encode() + body + b"0\r\n\r\n"


def _parts(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize("announced", [True, False], ids=["content-length", "chunked"])
async def test_an_answer_larger_than_the_cap_is_a_protocol_error_naming_the_call(
    server: ScriptedServer, make_client: MakeClient, announced: bool
) -> None:
    big = json.dumps({"content": ["x" * 1000] * 2000}).encode()  # about 2 MB
    server.on("POST", AUTH, auth_reply())
    server.on("GET", f"{API}/computers", Reply(200, big) if announced else Reply(raw=_chunked(big)))
    async with make_client(server.url, max_body=2**20) as client:
        with pytest.raises(ProtocolError) as caught:
            await client.get_json("computers")
    message = str(caught.value)
    assert message.startswith("GET computers: the answer is larger than 1,048,576 bytes")
    assert "spec.server.api.maxResponseSize" in message


@contextlib.asynccontextmanager
async def endless_error_server(context: ssl.SSLContext, size: int) -> AsyncIterator[tuple[str, list[int]]]:
    """Answers every request with an HTTP 500 announcing ``size`` bytes, and sends them as long as it is read."""
    sent: list[int] = [0]
    chunk = b"e" * 2**20

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                request = await reader.readuntil(b"\r\n\r\n")
                if request.startswith(b"POST"):
                    body = json.dumps(auth_reply().body).encode()
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
                    await writer.drain()
                    continue
                writer.write(
                    b"HTTP/1.1 500 Error\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                    % size
                )
                left = size
                while left > 0:
                    part = chunk[: min(left, len(chunk))]
                    writer.write(part)
                    await writer.drain()
                    left -= len(part)
                    sent[0] += len(part)
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError, OSError):
            pass
        finally:
            writer.close()

    listener = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=context)
    port = listener.sockets[0].getsockname()[1]
    try:
        yield f"https://127.0.0.1:{port}", sent
    finally:
        listener.close()


async def test_a_300_mb_error_body_is_read_only_as_far_as_its_excerpt(
    pki: dict[str, Issued], make_client: MakeClient
) -> None:
    size = 300 * 2**20
    async with endless_error_server(pki["server"].server_context(), size) as (url, sent):
        tracemalloc.start()
        try:
            async with make_client(url) as client:
                with pytest.raises(TemporaryError) as caught:
                    await client.get_json("computers")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert "GET computers: HTTP 500, gave up after 4 tries: eeee" in str(caught.value)
    assert len(str(caught.value)) < 400
    assert peak < 40 * 2**20, f"{peak / 2**20:.0f} MB allocated for a {size / 2**20:.0f} MB error body"
    assert sent[0] < size, "the body was not read to its end"


# --- Retry-After, the login included -------------------------------------------------------------------------------


async def test_retry_after_on_the_login_is_honoured_and_worded_as_throttling(
    server: ScriptedServer, make_client: MakeClient, sleeps: Sleeps
) -> None:
    server.on("POST", AUTH, Reply(429, headers={"Retry-After": "120"}))
    async with make_client(server.url) as client:
        with pytest.raises(ThrottledError) as caught:
            await client.get_json("groups")
    assert caught.value.delay == 120.0
    assert str(caught.value) == (
        "POST identity/authenticate: throttled by the manager (HTTP 429); it asks to come back in 120 s"
    )
    assert "authentication" not in str(caught.value).split(":", 1)[1]
    assert len(server.calls("POST", AUTH)) == 1 and sleeps.delays == []  # no retry before the time asked


async def test_a_short_retry_after_on_the_login_is_slept_through(
    server: ScriptedServer, make_client: MakeClient, sleeps: Sleeps
) -> None:
    server.on("POST", AUTH, Reply(429, headers={"Retry-After": "2"}), auth_reply())
    server.on("GET", f"{API}/groups", Reply(200, {"content": []}))
    async with make_client(server.url) as client:
        await client.get_json("groups")
    assert sleeps.delays == [2.0] and len(server.calls("POST", AUTH)) == 2


async def test_a_429_without_retry_after_is_waited_out_by_the_window_within_a_budget(
    server: ScriptedServer, make_client: MakeClient, sleeps: Sleeps
) -> None:
    from reconciler.sepm import RetryPolicy

    server.on("POST", AUTH, auth_reply())
    server.on("GET", f"{API}/groups", Reply(429), Reply(429), Reply(200, {"content": []}))
    retry = RetryPolicy(attempts=2, throttle_window=60.0, throttle_budget=100.0)
    async with make_client(server.url, retry=retry) as client:
        await client.get_json("groups")  # two 429s do not use up the two tries
        assert sleeps.delays == [15.0, 30.0]  # a quarter of the window, then half
        server.on("GET", f"{API}/groups", Reply(429))
        with pytest.raises(ThrottledError) as caught:
            await client.get_json("groups")
    assert "throttled by the manager (HTTP 429, no Retry-After) for more than 100 s" in str(caught.value)
    assert "spec.server.api.throttleWindow" in str(caught.value)
    assert caught.value.delay is not None and 0 < caught.value.delay <= 60


# --- absurd times --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "hint"),
    [
        (NOW_MS // 1000, "as seconds it would be 2026-12-01 08:00 UTC"),
        (NOW_MS * 1000, "as microseconds it would be 2026-12-01 08:00 UTC"),
        (1e20, "outside the years 2000-2100 in any unit"),
        (-5, "outside the years 2000-2100 in any unit"),
        (float("nan"), "is not a time in epoch milliseconds"),
        ("soon", "is not a time in epoch milliseconds"),
        (True, "is not a time in epoch milliseconds"),
    ],
    ids=["seconds", "microseconds", "1e20", "negative", "nan", "text", "boolean"],
)
async def test_an_absurd_server_time_is_a_protocol_error_with_the_likely_unit(
    server: ScriptedServer, make_client: MakeClient, value: Any, hint: str
) -> None:
    server.on("POST", AUTH, Reply(200, {"token": "t", "tokenExpiration": 3600, "serverTime": value}))
    async with make_client(server.url) as client:
        with pytest.raises(ProtocolError) as caught:
            await client.authenticate()
    assert str(caught.value).startswith("POST identity/authenticate: serverTime: ")
    assert hint in str(caught.value)
    assert epoch_ms(NOW_MS, "x") == datetime(2026, 12, 1, 8, tzinfo=UTC)


async def test_absurd_times_in_replication_are_a_protocol_error_and_in_computers_unknown(
    server: ScriptedServer, make_client: MakeClient
) -> None:
    server.on("POST", AUTH, auth_reply())
    server.on("GET", f"{API}/replication/is_replicated", Reply(200, True))
    partner = {"name": "Site West", "status_code": "SUCCEEDED", "lastRunTime": 1e20}
    status = {"replicationStatus": [{"siteName": "Site East", "replicationPartnerStatusList": [partner]}]}
    server.on("GET", f"{API}/replication/status", Reply(200, status))
    computer = {
        "uniqueId": "U1",
        "computerName": "PC-1",
        "profileSerialNo": "718B-12/01/2026 07:00:00 000",
        "lastUpdateTime": 1e20,
        "onlineStatus": 1,
        "group": {"id": "718B"},
    }
    page = {"content": [computer], "lastPage": True, "totalElements": 1, "numberOfElements": 1}
    server.on("GET", f"{API}/computers", Reply(200, page))
    async with make_client(server.url) as client:
        observation, problems = await observe_replication(client)
        ledger = ClientLedger()
        await ledger.refresh(
            client, manager_time=datetime(2026, 12, 1, 8, tzinfo=UTC), change_time=None, now=datetime.now(UTC)
        )
    assert observation is None
    assert problems == [
        "GET replication/status: lastRunTime: 1e+20 is not a plausible time in epoch milliseconds (outside the "
        "years 2000-2100 in any unit); nothing measured on the manager's clock can be trusted"
    ]
    entry = ledger.get("U1")
    assert entry is not None and entry.last_update_ms == -1  # unknown, not a crash


async def test_plan_against_a_manager_whose_clock_says_1e20_exits_1_with_a_message_not_a_traceback(
    server: ScriptedServer, pki: dict[str, Issued], tmp_path: Path
) -> None:
    server.on("POST", AUTH, Reply(200, {"token": "t", "tokenExpiration": 3600, "serverTime": 1e20}))
    server.on("GET", f"{API}/version", Reply(200, {"version": "14.3.9816.7000"}))
    port = int(server.url.rsplit(":", 1)[1])
    (tmp_path / "pw").write_text(PASSWORD + "\n")
    spec = {
        "apiVersion": "sepm-reconciler/v1",
        "kind": "ManagedServer",
        "metadata": {"name": "sepm-odd"},
        "spec": {
            "server": {
                "apiUrl": server.url,
                "site": "Site Odd",
                "ports": {"clients": port, "console": port, "api": port},
                "caBundle": str(pki["ca"].cert_file),
                "credentials": {"username": "admin", "password": {"file": "pw"}},
                "timeout": "5s",
            },
            "certificate": {"fingerprint": "sha256:" + "0" * 64},
        },
    }
    (tmp_path / "odd.yaml").write_text(yaml.safe_dump(spec))
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "reconciler",
        "plan",
        "--specs",
        str(tmp_path),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    text = out.decode() + err.decode()
    assert proc.returncode == 1, text
    assert "Traceback" not in text
    assert "serverTime: 1e+20 is not a plausible time in epoch milliseconds" in text
