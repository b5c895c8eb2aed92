"""Helpers for the simulator-backed adapter tests: a fleet, a spec and a client for one simulated manager."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from reconciler.core.spec import ManagedServer
from reconciler.sepm import RetryPolicy, SepmClient, SepmCredentials, tls_context
from reconciler.sim.simulator import Simulator
from tests.sepm.pki import Issued
from tests.support import sim as support_sim

GROUPS = [
    {"name": "My Company", "inherits": False},
    {"name": "My Company\\Servers", "inherits": True},
    {"name": "My Company\\Servers\\SQL", "inherits": True},
    {"name": "My Company\\Laptops", "inherits": False},
    {"name": "My Company\\Laptops\\Executives", "inherits": True},
    {"name": "My Company\\Kiosks", "inherits": False},
]


def manager(
    name: str, site: str, cert: Issued, *, clients: int = 3000, groups: Any = GROUPS, **extra: Any
) -> dict[str, Any]:
    return support_sim.manager(
        name,
        site,
        cert=cert,
        groups=groups,
        clients=clients,
        offline_share=0.1,
        offline_for=("1d", "10d"),
        agent_versions={"14.3.9816.7000": 0.95, "14.2.5587.2100": 0.05},
        restart_down=0.5,
        **extra,
    )


START = "2026-12-01T08:00:00Z"


def fleet(
    *managers: dict[str, Any], speed: float = 0, start: str = START, behaviours: Any = None
) -> dict[str, Any]:
    """A fleet on a frozen clock (``speed`` 0) unless told otherwise: tests move time explicitly.

    The simulator's strict behaviours, all of them (deleted records, replicationStatus as an array, the replacing
    settings PATCH, lists that do not show in the settings, …) — except the throttle, off unless ``behaviours`` says
    otherwise: on a frozen clock its window ends only when a test moves time, and the throttle has its own tests.
    """
    return support_sim.fleet(
        *managers,
        speed=speed,
        seed=7,
        start=start,
        behaviours={"throttle": False} if behaviours is None else behaviours,
    )


def spec_for(sim: Simulator, name: str, ca: Issued, **rollout: Any) -> ManagedServer:
    return ManagedServer.model_validate(
        {
            "apiVersion": "sepm-reconciler/v1",
            "kind": "ManagedServer",
            "metadata": {"name": name},
            "spec": {
                "server": support_sim.server_spec(
                    sim, name, ca_file=ca.cert_file, password_env="SEPM_TEST_PASSWORD"
                ),
                "certificate": {"fingerprint": "sha256:" + "0" * 64},
                "rollout": {"clients": rollout} if rollout else {},
            },
        }
    )


@dataclass
class Seen:
    method: str
    path: str
    params: dict[str, str]
    status: int | None


@dataclass
class RecordingTransport(httpx.AsyncBaseTransport):
    """The real HTTPS transport, with every exchange recorded; ``override`` may answer a request itself (to make
    one endpoint fail while the others are real)."""

    inner: httpx.AsyncBaseTransport
    override: Callable[[httpx.Request], httpx.Response | None] | None = None
    seen: list[Seen] = field(default_factory=list)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/sepm/api/v1/")
        params = dict(request.url.params)
        replaced = self.override(request) if self.override else None
        if replaced is not None:
            self.seen.append(Seen(request.method, path, params, replaced.status_code))
            return replaced
        try:
            response = await self.inner.handle_async_request(request)
        except httpx.TransportError:
            self.seen.append(Seen(request.method, path, params, None))
            raise
        self.seen.append(Seen(request.method, path, params, response.status_code))
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()

    def statuses(self, path: str) -> list[int | None]:
        return [s.status for s in self.seen if s.path == path]


def client_for(
    sim: Simulator,
    name: str,
    ca: Issued,
    *,
    recorder: list[RecordingTransport] | None = None,
    override: Callable[[httpx.Request], httpx.Response | None] | None = None,
    **options: Any,
) -> SepmClient:
    """A client for manager ``name`` trusting ``ca``; when ``recorder`` is a list, the transport is appended to it."""
    info = sim.ports_info()["managers"][name]
    verify = tls_context(str(ca.cert_file))
    transport: httpx.AsyncBaseTransport = httpx.AsyncHTTPTransport(verify=verify)
    if recorder is not None or override is not None:
        recording = RecordingTransport(transport, override)
        if recorder is not None:
            recorder.append(recording)
        transport = recording
    options.setdefault("retry", RetryPolicy(attempts=5, base_delay=0.01, max_delay=2.0))
    options.setdefault("timeout", 5.0)
    return SepmClient(
        info["api_url"], SepmCredentials("admin", "admin-pass", ""), transport=transport, **options
    )


class Admin(support_sim.Admin):
    """The simulator's ``/_sim`` admin API, over HTTPS, for one manager (trusting ``ca``)."""

    def __init__(self, sim: Simulator, name: str, ca: Issued) -> None:
        super().__init__(sim, name, ca.cert_file)
