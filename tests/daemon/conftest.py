"""Fixtures of the daemon tests: one lab (CA, certificates, fleet file) per session, and a webhook receiver."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from reconciler.cli._demo_lab import Lab
from tests.daemon.kit import make_lab


@pytest.fixture(scope="session")
def base_lab(tmp_path_factory: pytest.TempPathFactory) -> Lab:
    return make_lab(tmp_path_factory.mktemp("lab"))


@dataclass
class Receiver:
    """A real HTTP endpoint standing in for Slack/Teams: records every POST (path and JSON body)."""

    url: str
    posts: list[tuple[str, Any]] = field(default_factory=list)
    status: int = 200

    def topics(self) -> list[str]:
        return [body["blocks"][-1]["elements"][0]["text"].split(" · ")[1] for _, body in self.posts]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    box: list[Receiver] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"null")
            box[0].posts.append((self.path, body))
            self.send_response(box[0].status)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    box.append(Receiver(f"http://127.0.0.1:{server.server_address[1]}"))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield box[0]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
