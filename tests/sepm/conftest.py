"""Fixtures for the adapter tests: certificates, a scripted HTTPS server, clients that trust it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from reconciler.sepm import RetryPolicy, SepmClient, SepmCredentials, tls_context
from tests.sepm.pki import Issued, make_ca, make_leaf
from tests.sepm.scripted import ScriptedServer

PASSWORD = "s3cret-Pa55word!"


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Issued]:
    directory = tmp_path_factory.mktemp("pki")
    ca = make_ca(directory)
    return {
        "ca": ca,
        "server": make_leaf(directory, "sepm-test.corp.example", issuer=ca),
        "other": make_leaf(directory, "impostor.example"),  # self-signed, not trusted
        # Certificates for simulated managers, issued by the same CA (the caBundle of their specs).
        "east": make_leaf(directory, "sepm-east.corp.example", issuer=ca),
        "west": make_leaf(directory, "sepm-west.corp.example", issuer=ca),
        "east-next": make_leaf(directory, "sepm-east-2027.corp.example", issuer=ca),
    }


@pytest.fixture
async def server(pki: dict[str, Issued]) -> AsyncIterator[ScriptedServer]:
    async with ScriptedServer(pki["server"].server_context()) as srv:
        yield srv


class Sleeps:
    """An injected ``sleep`` that records the delays asked for and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def make_client(pki: dict[str, Issued], sleeps: Sleeps) -> Iterator[Callable[..., SepmClient]]:
    """``make_client(url, **overrides)``: a SepmClient trusting the test CA, with recorded (instant) sleeps."""

    def make(url: str, **overrides: Any) -> SepmClient:
        options: dict[str, Any] = {
            "verify": tls_context(str(pki["ca"].cert_file)),
            "timeout": 2.0,
            "retry": RetryPolicy(attempts=4, base_delay=0.1, max_delay=5.0),
            "sleep": sleeps,
        }
        options.update(overrides)
        return SepmClient(url, SepmCredentials("admin", PASSWORD, ""), **options)

    yield make
