"""A tiny HTTPS server whose answers a test scripts, for what the simulator cannot be made to do on cue.

Real TLS, real sockets, HTTP/1.1 keep-alive. Each route holds a list of :class:`Reply`; each request takes the next
one, and the last one repeats. Every request is recorded (method, path, query, headers, body). A reply can also
hang (``delay``), send raw bytes, close the connection after answering, or leave the *next* request on the same
connection unanswered (what SEPM 14.3 is reported to do after a POST).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found"}
REASONS |= {429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable"}


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # JSON-encoded unless bytes/str
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    raw: bytes | None = None  # sent as-is instead of a response
    drop_next: bool = False  # the next request on this connection is read, then the connection is closed

    def encode(self) -> bytes:
        if self.raw is not None:
            return self.raw
        if isinstance(self.body, bytes):
            payload = self.body
        elif isinstance(self.body, str):
            payload = self.body.encode()
        elif self.body is None:
            payload = b""
        else:
            payload = json.dumps(self.body).encode()
        head = [f"HTTP/1.1 {self.status} {REASONS.get(self.status, 'Status')}"]
        head += [f"Content-Length: {len(payload)}", "Content-Type: application/json"]
        head += [f"{k}: {v}" for k, v in self.headers.items()]
        return ("\r\n".join(head) + "\r\n\r\n").encode() + payload


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    connection: int

    def json(self) -> Any:
        return json.loads(self.body)


Responder = Callable[[Recorded], Reply]


class ScriptedServer:
    """``async with ScriptedServer(context) as server``: ``server.url``, ``server.on(...)``, ``server.requests``."""

    def __init__(self, context: ssl.SSLContext | None) -> None:
        self.context = context
        self.routes: dict[tuple[str, str], list[Reply] | Responder] = {}
        self.requests: list[Recorded] = []
        self.port = 0
        self._server: asyncio.Server | None = None
        self._connections = 0
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def on(self, method: str, path: str, *replies: Reply | Responder) -> None:
        """Script ``method path`` (path without query, e.g. ``/sepm/api/v1/computers``)."""
        if len(replies) == 1 and callable(replies[0]) and not isinstance(replies[0], Reply):
            self.routes[(method, path)] = replies[0]
        else:
            self.routes[(method, path)] = [r for r in replies if isinstance(r, Reply)]

    def calls(self, method: str, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path == path]

    async def __aenter__(self) -> ScriptedServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.context)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._server.wait_closed(), 2)

    def _reply(self, request: Recorded) -> Reply:
        script = self.routes.get((request.method, request.path))
        if script is None:
            return Reply(404, {"errorCode": "404", "errorMessage": f"no route {request.path}"})
        if callable(script):
            return script(request)
        return script.pop(0) if len(script) > 1 else script[0]

    async def _read(self, reader: asyncio.StreamReader, connection: int) -> Recorded | None:
        line = await reader.readline()
        if not line:
            return None
        method, target, _ = line.decode().split(" ", 2)
        headers: dict[str, str] = {}
        while (header := await reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = header.decode().partition(":")
            headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        parts = urlsplit(target)
        return Recorded(method, parts.path, parse_qs(parts.query), headers, body, connection)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._connections += 1
        connection = self._connections
        self._writers.add(writer)
        drop_next = False
        try:
            while (request := await self._read(reader, connection)) is not None:
                self.requests.append(request)
                if drop_next:
                    return  # read it, answer nothing, close: "Server disconnected without sending a response"
                reply = self._reply(request)
                if reply.delay:
                    await asyncio.sleep(reply.delay)
                writer.write(reply.encode())
                await writer.drain()
                drop_next = reply.drop_next
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1)


def auth_reply(
    token: str = "tok-1",  # noqa: S107 - a fake token the scripted server hands out
    lifetime: int = 3600,
    server_time_ms: int = 1_796_112_000_000,
) -> Reply:
    """A vendor-shaped answer to POST identity/authenticate."""
    return Reply(
        200,
        {
            "token": token,
            "tokenExpiration": lifetime,
            "refreshToken": "refresh-" + token,
            "adminId": "A1B2",
            "serverTime": server_time_ms,
            "username": "admin",
            "domain": "",
        },
    )
