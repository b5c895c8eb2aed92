"""The HTTP server under the endpoints: uvicorn on a socket we bind ourselves, leaving signals to the daemon.

Binding first gives a clear error (and exit code 1) for an address in use, and lets ``--listen HOST:0`` pick a free
port. uvicorn's own signal capture is switched off: the daemon handles SIGTERM/SIGINT/SIGHUP itself, and stops the
server as the last step of its shutdown.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator

import uvicorn

__all__ = ["QuietServer", "bind"]


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (``OSError`` when the address is in use or not local)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, backlog=64, reuse_port=False)


class QuietServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to its owner."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield
