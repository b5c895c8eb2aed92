"""The served-certificate observer: real TLS handshakes against local servers, one outcome per way it can end."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from cryptography.hazmat.primitives import hashes

from reconciler.core.observation import PortOutcome
from reconciler.sepm import observe_port, observe_ports
from tests.sepm.pki import Issued

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@contextlib.asynccontextmanager
async def tcp_server(handler: Handler, ssl_context: ssl.SSLContext | None = None) -> AsyncIterator[int]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0, ssl=ssl_context)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


async def _idle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(Exception):
        await reader.read()  # until the client goes away
    writer.close()


async def _garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
    with contextlib.suppress(Exception):
        await writer.drain()
    writer.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("which", ["server", "other"], ids=["ca-signed", "self-signed-untrusted"])
async def test_a_presented_certificate_is_read_whether_trusted_or_not(
    pki: dict[str, Issued], which: str
) -> None:
    issued = pki[which]
    async with tcp_server(_idle, issued.server_context()) as port:
        obs = await observe_port("clients", "127.0.0.1", port, within=5)
    assert obs.outcome is PortOutcome.PRESENTED, obs.error
    assert obs.certificate is not None
    assert obs.fingerprint == "sha256:" + issued.cert.fingerprint(hashes.SHA256()).hex()
    assert obs.certificate.subject == issued.cert.subject.rfc4514_string()
    assert obs.certificate.sans == ("localhost", "127.0.0.1")
    assert obs.certificate.not_after == issued.cert.not_valid_after_utc
    assert obs.port == port and obs.name == "clients" and obs.error is None


async def test_a_closed_port_is_refused() -> None:
    obs = await observe_port("api", "127.0.0.1", _free_port(), within=5)
    assert obs.outcome is PortOutcome.REFUSED
    assert obs.certificate is None and "refused" in (obs.error or "")


async def test_a_server_that_never_answers_the_handshake_times_out() -> None:
    async with tcp_server(_idle) as port:
        started = time.monotonic()
        obs = await observe_port("console", "127.0.0.1", port, within=0.3)
    assert obs.outcome is PortOutcome.TIMEOUT
    assert obs.error == "no TLS handshake within 0.3 s"
    assert time.monotonic() - started < 30  # ended by the timeout: the server would have kept it forever


async def test_a_plain_http_answer_is_a_failed_handshake() -> None:
    async with tcp_server(_garbage) as port:
        obs = await observe_port("clients", "127.0.0.1", port, within=5)
    assert obs.outcome is PortOutcome.HANDSHAKE_FAILED
    assert (obs.error or "").startswith("TLS handshake failed")


async def test_a_name_that_does_not_resolve_is_another_error() -> None:
    obs = await observe_port("api", "no-such-host.invalid", 443, within=5)
    assert obs.outcome is PortOutcome.ERROR
    assert obs.error


async def test_ports_are_observed_concurrently_with_distinct_outcomes(pki: dict[str, Issued]) -> None:
    both_open = asyncio.Event()
    open_now = 0

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal open_now
        open_now += 1
        if open_now == 2:
            both_open.set()
        try:
            await _idle(reader, writer)
        finally:
            open_now -= 1

    async with (
        tcp_server(_idle, pki["server"].server_context()) as good,
        tcp_server(silent) as silent_one,
        tcp_server(silent) as silent_two,
    ):
        observing = asyncio.ensure_future(
            observe_ports(
                "127.0.0.1",
                [("clients", good), ("console", silent_one), ("api", silent_two)],
                within=4,
            )
        )
        # Side by side, not one after the other: both silent ports hold a connection at once. One after the other,
        # the second connection would open only when the first timed out, 4 s in.
        async with asyncio.timeout(3.5):
            await both_open.wait()
        seen = await observing
    assert {name: obs.outcome for name, obs in seen.items()} == {
        "clients": PortOutcome.PRESENTED,
        "console": PortOutcome.TIMEOUT,
        "api": PortOutcome.TIMEOUT,
    }
