"""The simulator rig every test folder uses: fleet entries, fleets, the ``spec.server`` block that points a spec at a
simulated manager, and the ``/_sim`` admin API of one manager.

The folders keep their own defaults (how many clients, which groups, which seed) in thin wrappers
(``tests/sim/conftest.py``, ``tests/sepm/simkit.py``, ``tests/e2e/kit.py``, ``tests/report/conftest.py``).
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol

import httpx

from reconciler.sim import Simulator

__all__ = [
    "FROZEN_CLOCK",
    "GROUPS",
    "HTTP_LIST",
    "ORIGINAL_LIST",
    "START",
    "Admin",
    "CertFiles",
    "copy_http_lists",
    "fleet",
    "manager",
    "server_spec",
]

START = "2026-12-01T08:00:00Z"
GROUPS: tuple[tuple[str, bool], ...] = (
    ("My Company", False),
    ("My Company\\Servers", True),
    ("My Company\\Laptops", False),
)
"""(full path, inherits) of the default group tree."""

ORIGINAL_LIST = "Default Management Server List"
"""The strict simulator's one list (HTTPS): what every group uses until step 2a."""
HTTP_LIST = "Default Management Server List (HTTP)"
"""The HTTP copy of it that :func:`copy_http_lists` makes, as an operator would before the rollout (KB 187099)."""

FROZEN_CLOCK: dict[str, Any] = {"throttle": False}
"""The strict simulator, every behaviour, but its throttle — for fleets on a frozen virtual clock (``speed`` 0), where
a throttle window (50 calls per simulated minute, no ``Retry-After``) would never end: time moves only when a test
moves it. The throttle has its own tests (``tests/sim/test_throttle.py``, ``tests/sepm/test_throttle_and_budget.py``)
and runs in the demo's and the daemon tests' fleets, whose clocks move."""


class CertFiles(Protocol):
    """A certificate on disk (a :class:`tests.support.pki.Leaf`)."""

    @property
    def cert_file(self) -> Path: ...

    @property
    def key_file(self) -> Path: ...


def manager(
    name: str,
    site: str,
    *,
    cert: CertFiles | None = None,
    groups: Iterable[tuple[str, bool] | Mapping[str, Any]] = GROUPS,
    clients: int = 300,
    heartbeat: str = "5m",
    offline_share: float = 0.0,
    offline_for: tuple[str, str] | None = None,
    agent_versions: Mapping[str, float] | None = None,
    partners: Iterable[str] | None = None,
    replication_interval: str = "1h",
    restart_down: float = 0.2,
    **extra: Any,
) -> dict[str, Any]:
    """One manager of a fleet file on ephemeral ports: serving ``cert`` (or a generated one), its groups and
    clients; a ``replication`` block when ``partners`` is given (even empty)."""
    offline: dict[str, Any] = {"share": offline_share}
    if offline_for is not None:
        offline |= {"forMin": offline_for[0], "forMax": offline_for[1]}
    entry: dict[str, Any] = {
        "name": name,
        "site": site,
        "host": "127.0.0.1",
        "ports": {"clients": 0, "console": 0, "api": 0},
        "admin": {"username": "admin", "password": "admin-pass", "domain": ""},
        "certificate": {"certFile": str(cert.cert_file), "keyFile": str(cert.key_file)}
        if cert is not None
        else {"generate": {"commonName": f"{name}.corp.example"}},
        "groups": [
            dict(group) if isinstance(group, Mapping) else {"name": group[0], "inherits": group[1]}
            for group in groups
        ],
        "clients": {"count": clients, "heartbeat": heartbeat, "offline": offline},
        "restart": {"downSeconds": restart_down},
    }
    if agent_versions is not None:
        entry["clients"]["agentVersions"] = dict(agent_versions)
    if partners is not None:
        entry["replication"] = {"partners": list(partners), "interval": replication_interval}
    entry.update(extra)
    return entry


def fleet(
    *managers: dict[str, Any], speed: float = 0, seed: int = 7, start: str = START, behaviours: Any = None
) -> dict[str, Any]:
    """A fleet on a frozen clock (``speed`` 0) unless told otherwise: time moves only when a test advances it.
    Behaviours are the simulator's strict defaults unless ``behaviours`` says otherwise (fleet-wide)."""
    out: dict[str, Any] = {
        "clock": {"start": start, "speed": speed},
        "seed": seed,
        "managers": list(managers),
    }
    if behaviours is not None:
        out["behaviours"] = behaviours
    return out


def server_spec(
    sim: Simulator,
    name: str,
    *,
    ca_file: Path,
    password_env: str,
    ports: Mapping[str, int] | None = None,
    timeout: str = "5s",
) -> dict[str, Any]:
    """The ``spec.server`` block of a spec for simulated manager ``name`` (``ports`` overrides where it is looked
    for: a port nothing listens on…)."""
    info = sim.ports_info()["managers"][name]
    where = dict(ports or info["ports"])
    return {
        "apiUrl": f"https://127.0.0.1:{where['api']}/sepm/api/v1",
        "site": info["site"],
        "ports": where,
        "caBundle": str(ca_file),
        "credentials": {"username": "admin", "password": {"env": password_env}},
        "timeout": timeout,
    }


class Admin:
    """The simulator's ``/_sim`` admin API of one manager, over HTTPS. ``ca_file`` None: the certificate the manager
    presents is not verified (it changes during the tests; the admin token authenticates us)."""

    def __init__(self, sim: Simulator, name: str, ca_file: Path | None = None) -> None:
        info = sim.ports_info()["managers"][name]
        self.url = info["admin_url"]
        self.headers = {"Authorization": f"Bearer {info['admin_token']}"}
        self.verify: ssl.SSLContext | bool = (
            ssl.create_default_context(cafile=str(ca_file)) if ca_file is not None else False
        )

    async def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        async with httpx.AsyncClient(verify=self.verify, timeout=10) as http:
            response = await http.post(f"{self.url}/{path}", json=body or {}, headers=self.headers)
        response.raise_for_status()
        return response.json()

    def post_now(self, path: str, body: dict[str, Any] | None = None) -> Any:
        """:meth:`post` from synchronous code (a simulator running in a thread)."""
        with httpx.Client(verify=self.verify, timeout=10) as http:
            response = http.post(f"{self.url}/{path}", json=body or {}, headers=self.headers)
        response.raise_for_status()
        return response.json()

    async def faults(self, **faults: Any) -> Any:
        return await self.post("faults", faults)

    async def advance(self, seconds: float) -> Any:
        return await self.post("clock/advance", {"seconds": seconds})

    async def stage_certificate(self, cert: CertFiles) -> Any:
        return await self.post(
            "certificate", {"cert_pem": cert.cert_file.read_text(), "key_pem": cert.key_file.read_text()}
        )

    async def restart(self, *services: str) -> Any:
        return await self.post("services/restart", {"services": list(services)} if services else {})


def copy_http_lists(sim: Simulator, *, protocol: str = "http") -> None:
    """What an operator does once before the rollout (KB 187099): on every site, copy the clients' list as
    :data:`HTTP_LIST` and set the copy to HTTP — the console operation of ``POST /_sim/lists``, done in-process so
    that it works from a test sharing the simulator's event loop."""
    world = sim.world
    with world.lock:
        for site in {
            world.manager(name).site_obj.name: world.manager(name).site_obj
            for name in sim.ports_info()["managers"]
        }.values():
            site.set_list(HTTP_LIST, protocol, ORIGINAL_LIST, world.advance(site))
