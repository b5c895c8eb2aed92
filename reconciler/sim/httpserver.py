"""A small HTTPS/1.1 server (asyncio + h11) that runs an ASGI app, and can be stopped and started on its port.

Why not uvicorn: a SEPM restart must close the listening socket (clients get *connection refused*), drop every
open connection, and come back on the same port with another certificate; and the SEPM 14.3 quirk (a connection
dropped when reused after a POST) needs control of the connection itself. Both are a few lines here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

import h11

__all__ = ["Listener"]

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[
    [Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]
]

_MAX_BODY = 16 * 1024 * 1024


@dataclass(slots=True)
class _Connection:
    writer: asyncio.StreamWriter
    busy: bool = False


class Listener:
    """One TLS port. ``port`` 0 picks a free port at the first :meth:`start`; later starts reuse it."""

    def __init__(
        self,
        host: str,
        port: int,
        app: ASGIApp,
        *,
        close_after_post: Callable[[], bool] = lambda: False,
    ) -> None:
        self.host = host
        self.port = port
        self.app = app
        self.close_after_post = close_after_post
        self._server: asyncio.Server | None = None
        self._connections: dict[asyncio.Task[None], _Connection] = {}
        self._closing = False
        self._stopping: asyncio.Server | None = None
        self._generation = 0  # +1 at every close: a connection accepted before a restart never outlives it

    def _ended(self, generation: int) -> bool:
        """Whether a connection accepted in ``generation`` must end (its listener was closed since)."""
        return self._closing or generation != self._generation

    @property
    def running(self) -> bool:
        return self._server is not None

    async def start(self, context: ssl.SSLContext) -> None:
        if self._server is not None:
            return
        self._closing = False
        self._server = await asyncio.start_server(
            self._serve, self.host, self.port, ssl=context, reuse_address=True, ssl_handshake_timeout=10
        )
        if self.port == 0:
            self.port = int(self._server.sockets[0].getsockname()[1])

    def close(self) -> asyncio.Server | None:
        """Synchronously stop listening (new connections are refused from now on) and drop idle connections.

        A request in progress still gets its answer (with ``Connection: close``). Await :meth:`stop` to wait for
        the connections to end.
        """
        server, self._server = self._server, None
        if server is None:
            return None
        self._closing = True
        self._generation += 1
        server.close()
        for task, conn in list(self._connections.items()):
            if not conn.busy:
                task.cancel()
        self._stopping = server
        return server

    async def stop(self) -> None:
        """:meth:`close`, then wait (up to 2 s, then cancel hung requests) for every connection to end."""
        self.close()
        server, self._stopping = self._stopping, None
        if server is None:
            return
        pending = list(self._connections)
        if pending:
            _, still = await asyncio.wait(pending, timeout=2.0)
            for task in still:  # hung requests (the timeout fault)
                task.cancel()
            if still:
                await asyncio.wait(still, timeout=2.0)
        with contextlib.suppress(Exception):
            await server.wait_closed()

    # --- one connection -----------------------------------------------------------------------------------------
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None  # noqa: S101 - always inside a task here
        conn = _Connection(writer)
        self._connections[task] = conn
        h11conn = h11.Connection(h11.SERVER)
        poisoned = False
        generation = self._generation
        try:
            while not self._ended(generation):
                event = await self._next_event(h11conn, reader)
                if not isinstance(event, h11.Request):
                    break
                if poisoned:  # SEPM 14.3: a reused connection after a POST is dropped without an answer
                    writer.transport.abort()
                    return
                conn.busy = True
                body = bytearray()
                while True:
                    part = await self._next_event(h11conn, reader)
                    if isinstance(part, h11.Data):
                        body += part.data
                        if len(body) > _MAX_BODY:
                            raise h11.RemoteProtocolError("request body too large")
                    elif isinstance(part, h11.EndOfMessage):
                        break
                    else:
                        return
                status, headers, payload = await self._call(event, bytes(body), writer, reader, h11conn)
                if self._ended(generation):  # the answer to a request that was in flight during a restart
                    headers.append((b"connection", b"close"))
                writer.write(h11conn.send(h11.Response(status_code=status, headers=headers)) or b"")
                if event.method != b"HEAD":
                    writer.write(h11conn.send(h11.Data(data=payload)) or b"")
                writer.write(h11conn.send(h11.EndOfMessage()) or b"")
                await writer.drain()
                conn.busy = False
                if event.method == b"POST" and self.close_after_post():
                    poisoned = True
                if h11conn.our_state is h11.MUST_CLOSE or self._ended(generation):
                    break
                h11conn.start_next_cycle()
        except (
            h11.ProtocolError,
            ConnectionError,
            ssl.SSLError,
            asyncio.IncompleteReadError,
            OSError,
        ) as exc:
            log.debug("connection ended: %s", exc)
        except asyncio.CancelledError:
            pass
        finally:
            self._connections.pop(task, None)
            writer.transport.abort() if self._ended(generation) else writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    @staticmethod
    async def _next_event(h11conn: h11.Connection, reader: asyncio.StreamReader) -> Any:
        while True:
            event = h11conn.next_event()
            if event is not h11.NEED_DATA:
                return event
            data = await reader.read(65536)
            h11conn.receive_data(data)
            if not data and h11conn.their_state is not h11.DONE:
                return h11.ConnectionClosed()

    async def _run_app(
        self,
        scope: Scope,
        receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
        reader: asyncio.StreamReader,
        h11conn: h11.Connection,
    ) -> None:
        """Run the app while watching the connection: a client that hangs up cancels its (hung) request."""
        app = asyncio.ensure_future(self.app(scope, receive, send))
        while not app.done():
            read = asyncio.ensure_future(reader.read(65536))
            done, _ = await asyncio.wait({app, read}, return_when=asyncio.FIRST_COMPLETED)
            if read in done:
                data = read.result()
                if not data:
                    app.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await app
                    raise ConnectionResetError("the client hung up before the answer")
                h11conn.receive_data(data)  # a pipelined request: h11 keeps it for the next cycle
            else:
                read.cancel()
                try:
                    late = await read
                except asyncio.CancelledError:
                    continue
                h11conn.receive_data(late)  # bytes (or EOF) that arrived as the app finished: keep them
        app.result()

    async def _call(
        self,
        request: h11.Request,
        body: bytes,
        writer: asyncio.StreamWriter,
        reader: asyncio.StreamReader,
        h11conn: h11.Connection,
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        target = request.target.decode("latin-1")
        path, _, query = target.partition("?")
        peer = writer.get_extra_info("peername") or ("", 0)
        scope: Scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": request.method.decode("ascii"),
            "scheme": "https",
            "path": path,
            "raw_path": path.encode("latin-1"),
            "query_string": query.encode("latin-1"),
            "root_path": "",
            "headers": [(k.lower(), v) for k, v in request.headers],
            "server": (self.host, self.port),
            "client": (str(peer[0]), int(peer[1])),
            "state": {},
        }
        sent_body = False

        async def receive() -> Message:
            nonlocal sent_body
            if not sent_body:
                sent_body = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.Event().wait()  # a disconnect is never reported: requests are short
            return {"type": "http.disconnect"}  # pragma: no cover

        status = 500
        headers: list[tuple[bytes, bytes]] = []
        chunks: list[bytes] = []

        async def send(message: Message) -> None:
            nonlocal status, headers
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = [(bytes(k), bytes(v)) for k, v in message.get("headers", [])]
            elif message["type"] == "http.response.body":
                chunks.append(bytes(message.get("body", b"")))

        try:
            await self._run_app(scope, receive, send, reader, h11conn)
        except ConnectionError:
            raise
        except Exception:
            log.exception("the simulator's app failed on %s %s", scope["method"], path)
            return (
                500,
                [(b"content-type", b"application/json")],
                b'{"errorCode":"500","errorMessage":"internal error"}',
            )
        payload = b"".join(chunks)
        headers = [(k, v) for k, v in headers if k.lower() not in (b"content-length", b"transfer-encoding")]
        headers.append((b"content-length", str(len(payload)).encode()))
        return status, headers, payload
