"""Shared helpers for the simulator's tests: small fleets, an HTTPS client, real TLS handshakes."""

from __future__ import annotations

import asyncio
import copy
import hashlib
import socket
import ssl
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from reconciler.sim import Simulator
from tests.support import sim as support_sim

LAPTOPS = "My Company\\Laptops"
SERVERS = "My Company\\Servers"
SECURE_OFF = {"configuration": {"general_settings": {"security_settings": {"secure_communications": False}}}}
SECURE_ON = {"configuration": {"general_settings": {"security_settings": {"secure_communications": True}}}}


def manager(
    name: str, site: str, *, partners: list[str] | None = None, count: int = 200, **extra: Any
) -> dict[str, Any]:
    block = extra.pop("clients", None)  # a whole clients block replaces the default one
    entry = support_sim.manager(name, site, partners=partners or [], clients=count, **extra)
    if block is not None:
        entry["clients"] = block
    return entry


def fleet(
    *managers: dict[str, Any], speed: float = 0, seed: int = 3, behaviours: Any = None
) -> dict[str, Any]:
    """A fleet with a frozen clock (speed 0) by default: time moves only when a test advances it. Behaviours are
    strict unless ``behaviours`` says otherwise (fleet-wide; a manager may add its own)."""
    return support_sim.fleet(*managers, speed=speed, seed=seed, behaviours=behaviours)


def one_manager(**extra: Any) -> dict[str, Any]:
    return fleet(manager("sepm-east", "Site East", **extra))


def two_managers(**extra: Any) -> dict[str, Any]:
    return fleet(
        manager("sepm-east", "Site East", partners=["Site West"], **copy.deepcopy(extra)),
        manager("sepm-west", "Site West", partners=["Site East"], **copy.deepcopy(extra)),
    )


def served_fingerprint(port: int, host: str = "127.0.0.1") -> str:
    """A real TLS handshake (no verification: we must see whatever is presented); ``sha256:`` of the leaf DER."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection((host, port), timeout=3) as raw, context.wrap_socket(raw) as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return "sha256:" + hashlib.sha256(der).hexdigest()


async def served_async(port: int) -> str:
    return await asyncio.to_thread(served_fingerprint, port)


async def refused_async(port: int) -> bool:
    try:
        await served_async(port)
    except ConnectionRefusedError:
        return True
    return False


class Client:
    """An HTTPS client for one manager of a running simulator: vendor API + /_sim admin API."""

    def __init__(self, sim: Simulator, name: str, http: httpx.AsyncClient) -> None:
        info = sim.ports_info()["managers"][name]
        self.sim = sim
        self.name = name
        self.api = info["api_url"]
        self.admin_url = info["admin_url"]
        self.ports = info["ports"]
        self.http = http
        self.admin_headers = {"Authorization": f"Bearer {sim.admin_token}"}
        self.token: str | None = None

    async def login(self) -> dict[str, Any]:
        r = await self.http.post(
            f"{self.api}/identity/authenticate",
            json={"username": "admin", "password": "admin-pass", "domain": ""},
        )
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        self.token = body["token"]
        return body

    @property
    def headers(self) -> dict[str, str]:
        assert self.token, "login() first"
        return {"Authorization": f"Bearer {self.token}"}

    async def get(self, path: str, **params: Any) -> httpx.Response:
        return await self.http.get(f"{self.api}{path}", params=params, headers=self.headers)

    async def patch(self, path: str, body: Any) -> httpx.Response:
        return await self.http.patch(f"{self.api}{path}", json=body, headers=self.headers)

    async def admin(self, path: str, body: Any = None, *, expect: int | None = 200) -> Any:
        r = await self.http.post(
            f"{self.admin_url}{path}", json=body if body is not None else {}, headers=self.admin_headers
        )
        if expect is not None:
            assert r.status_code == expect, r.text
        return r.json()

    async def advance(self, seconds: float) -> None:
        await self.admin("/clock/advance", {"seconds": seconds})

    async def group(self, path: str) -> dict[str, Any]:
        r = await self.get("/groups", pageSize=100)
        return next(g for g in r.json()["content"] if g["fullPathName"] == path)

    async def set_secure(self, path: str, value: bool) -> httpx.Response:
        g = await self.group(path)
        locations = (await self.get(f"/groups/{g['id']}/locations")).json()
        location = locations[0].rsplit("/", 1)[-1]
        body = SECURE_ON if value else SECURE_OFF
        return await self.patch(f"/groups/{g['id']}/locations/{location}/settings", body)

    async def all_computers(self, page_size: int = 100, **params: Any) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        page = 1
        while True:
            r = await self.get("/computers", pageIndex=page, pageSize=page_size, **params)
            assert r.status_code == 200, r.text
            body = r.json()
            out.extend(body["content"])
            if body["lastPage"]:
                return out
            page += 1

    async def replication(self) -> dict[str, Any]:
        """``replicationStatus``, whichever shape the manager answers (``replicationStatusShape``)."""
        body = (await self.get("/replication/status")).json()["replicationStatus"]
        if isinstance(body, list):
            assert len(body) == 1, body
            body = body[0]
        assert isinstance(body, dict)
        return body

    async def behave(self, **changes: Any) -> dict[str, Any]:
        """``POST /_sim/behaviours`` with ``changes``; returns the behaviours now in force."""
        answer: dict[str, Any] = await self.admin("/behaviours", changes)
        return answer

    def truth(self) -> dict[str, Any]:
        state: dict[str, Any] = self.sim.state()["managers"][self.name]
        return state


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(verify=False, timeout=10) as client:  # noqa: S501 - self-signed, rotating on purpose; identity is checked by fingerprint
        yield client


@pytest.fixture
async def east(http: httpx.AsyncClient) -> AsyncIterator[Client]:
    """One running manager, sepm-east (120 clients, frozen clock), already logged in."""
    async with Simulator(one_manager(count=120)) as sim:
        client = Client(sim, "sepm-east", http)
        await client.login()
        yield client
