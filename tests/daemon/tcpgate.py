"""A TCP relay with a gate, between a reconciler and a simulated manager: while the gate is closed, new connections
are accepted but not relayed — held — until it opens. Tests use it to stop a tick at its first request to the manager
(an observable, deterministic point: :attr:`TcpGate.held`) instead of racing the wall clock. TLS passes through
untouched (the relay never looks at the bytes)."""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType
from typing import Self

__all__ = ["TcpGate"]

_CHUNK = 65536


class TcpGate:
    """``127.0.0.1:port`` relayed to ``target``. :meth:`close` holds new connections, :meth:`open` lets them (and
    those held) through; :attr:`held` counts the connections waiting now."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._open = threading.Event()
        self._open.set()
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self._held = 0
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._spawn(self._accept)

    # --- control ---------------------------------------------------------------------------------------------------

    def close(self) -> None:
        self._open.clear()

    def open(self) -> None:
        self._open.set()

    @property
    def held(self) -> int:
        with self._lock:
            return self._held

    def stop(self) -> None:
        self._stopped.set()
        self._open.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.close()
        for thread in self._threads:
            thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()

    # --- relaying --------------------------------------------------------------------------------------------------

    def _spawn(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        self._threads.append(thread)
        thread.start()

    def _track(self, sock: socket.socket) -> socket.socket:
        with self._lock:
            self._sockets.append(sock)
        return sock

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self._spawn(self._serve, self._track(client))

    def _serve(self, client: socket.socket) -> None:
        if not self._open.is_set():
            with self._lock:
                self._held += 1
            self._open.wait()
            with self._lock:
                self._held -= 1
        if self._stopped.is_set():
            return
        try:
            upstream = self._track(socket.create_connection(self._target, timeout=10))
        except OSError:
            with contextlib.suppress(OSError):
                client.close()
            return
        upstream.settimeout(None)
        self._spawn(self._pump, upstream, client)
        self._pump(client, upstream)

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(_CHUNK):
                sink.sendall(data)
        except OSError:
            pass
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)
