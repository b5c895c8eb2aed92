"""One simulated management server: its certificates per port, services, tokens, throttle, faults and behaviours.

Ports and services (as on SEPM): the clients port (Apache, ``semwebsrv``), the console port (Tomcat, ``semsrv``;
also used by replication) and the API port (``semapisrv``). A certificate update is *staged*; a service presents it
from the end of its next successful restart on. While a service restarts its port refuses connections. A restart
of ``semapisrv`` invalidates every token it issued. The database (groups, lists, clients) is the server's site.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from reconciler.sim.behaviours import Behaviours
from reconciler.sim.clients import ClientFleet
from reconciler.sim.faults import Faults
from reconciler.sim.fleet import ManagerConfig
from reconciler.sim.groups import hex_id
from reconciler.sim.population import Population
from reconciler.sim.throttle import Throttle

if TYPE_CHECKING:
    from reconciler.sim.site import Site

__all__ = ["PORTS", "SERVICES", "Manager", "Restart", "Token"]

Mask = npt.NDArray[np.bool_]

PORTS = ("clients", "console", "api")
SERVICES: dict[str, str] = {"semwebsrv": "clients", "semsrv": "console", "semapisrv": "api"}


@dataclass(slots=True)
class Token:
    expires_mono: float
    username: str
    domain: int  # the login domain (index in the site)


@dataclass(slots=True)
class Restart:
    """A restart in progress: the services come back when both the real and the simulated delay have passed."""

    services: tuple[str, ...]
    started_ms: int
    up_after_mono: float
    up_after_ms: int


@dataclass(slots=True)
class Manager:
    """One management server: its ports, certificates, services, tokens, faults and behaviours. The database it
    serves (groups, lists, clients) is its :class:`~reconciler.sim.site.Site`, shared with the other servers of
    that site; ``slot`` is its place among them."""

    cfg: ManagerConfig
    seed: int
    start_ms: int
    initial_cert: int
    index: int = 0
    current: dict[str, int] = field(init=False)  # what each port presents when its service is up
    running: dict[str, bool] = field(init=False)  # per service
    staged: int | None = None
    restart: Restart | None = None
    restarts: list[dict[str, Any]] = field(default_factory=list)
    tokens: dict[str, Token] = field(default_factory=dict)
    faults: Faults = field(default_factory=Faults)
    behaviours: Behaviours = field(init=False)
    throttle: Throttle = field(default_factory=Throttle)
    site_obj: Site = field(init=False)
    slot: int = 0
    site_id: str = field(init=False)
    server_id: str = field(init=False)

    def __post_init__(self) -> None:
        self.current = dict.fromkeys(PORTS, self.initial_cert)
        self.running = dict.fromkeys(SERVICES, True)
        self.behaviours = self.cfg.behaviours
        self.site_id = hex_id(self.seed, "site", self.cfg.site)
        self.server_id = hex_id(self.seed, "server", self.cfg.name)

    # --- identity -----------------------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.cfg.name

    @property
    def site(self) -> str:
        return self.cfg.site

    @property
    def host_name(self) -> str:
        return self.cfg.certificate.common_name or self.cfg.name

    @property
    def clients(self) -> ClientFleet:
        """The clients of the Default domain whose home server this is (the fleet file's top-level ``clients``)."""
        return self.site_obj.homed(self.slot)[0].fleet

    # --- ports, services ----------------------------------------------------------------------------------------
    def served(self, port: str) -> int | None:
        """The certificate index ``port`` presents now, or None while its service is down."""
        service = next(s for s, p in SERVICES.items() if p == port)
        return self.current[port] if self.running[service] else None

    def begin_restart(self, services: tuple[str, ...], now_ms: int) -> Restart:
        """Stop ``services`` now; they come back after the configured real and simulated delays."""
        for service in services:
            self.running[service] = False
        if "semapisrv" in services:
            self.tokens.clear()  # the API service's sessions live in its memory
        self.restart = Restart(
            services=services,
            started_ms=now_ms,
            up_after_mono=time.monotonic() + self.cfg.restart_down_seconds,
            up_after_ms=now_ms + int(self.cfg.restart_down_for * 1000),
        )
        return self.restart

    def restart_due(self, now_ms: int) -> bool:
        r = self.restart
        return r is not None and time.monotonic() >= r.up_after_mono and now_ms >= r.up_after_ms

    def finish_restart(self, now_ms: int) -> list[str]:
        """End the restart in progress; returns the ports that come back up (none when ``restart_fails=down``)."""
        r = self.restart
        if r is None:
            return []
        self.restart = None
        failure = self.faults.restart_fails
        entry: dict[str, Any] = {"services": list(r.services), "started_ms": r.started_ms, "ended_ms": now_ms}
        if failure == "down":
            self.restarts.append({**entry, "result": "failed: services did not start"})
            return []
        ports = [SERVICES[s] for s in r.services]
        if failure != "old_cert" and self.staged is not None:
            for port in ports:
                self.current[port] = self.staged
            if all(self.current[p] == self.staged for p in PORTS):
                self.staged = None
        for service in r.services:
            self.running[service] = True
        result = "failed: the new certificate was not loaded" if failure == "old_cert" else "succeeded"
        self.restarts.append({**entry, "result": result})
        return ports

    # --- tokens (lifetime in real seconds) ----------------------------------------------------------------------
    def issue_token(self, username: str, domain: int) -> tuple[str, int]:
        lifetime = self.faults.token_lifetime_s or self.cfg.token_lifetime
        token = secrets.token_urlsafe(24)
        self.tokens[token] = Token(time.monotonic() + lifetime, username, domain)
        return token, round(lifetime)

    def token(self, token: str) -> Token | None:
        """The live token, or None (unknown, logged out, expired, or lost in a ``semapisrv`` restart)."""
        entry = self.tokens.get(token)
        if entry is None:
            return None
        if time.monotonic() >= entry.expires_mono:
            del self.tokens[token]
            return None
        return entry

    # --- clients ------------------------------------------------------------------------------------------------
    def select_clients(
        self, body: dict[str, Any], now_ms: int, *, want_online: bool
    ) -> list[tuple[Population, Mask]]:
        """The clients a ``/_sim/clients/online`` body names: ``names`` (anywhere in the site), or the first
        ``count``/``share`` of the live clients homed here (optionally of one ``group``), by name."""
        site = self.site_obj
        if "names" in body:
            names = body["names"]
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise ValueError("names must be a list of computer names")
            masks: dict[int, Mask] = {}
            for n in names:
                found = site.find_client(n)
                if found is None:
                    raise LookupError(f"no computer named {n!r} in site {site.name!r}")
                population, row = found
                key = site.populations.index(population)
                masks.setdefault(key, np.zeros(population.fleet.count, dtype=np.bool_))[row] = True
            return [(site.populations[k], mask) for k, mask in masks.items()]
        homed = site.homed(self.slot)
        candidates: list[tuple[Population, Mask]] = []
        for population in homed:
            fleet = population.fleet
            off = fleet.offline_at(now_ms)
            mask = (off if want_online else ~off) & fleet.live
            if "group" in body:
                tree = site.domains[population.domain].tree
                group = tree.by_path.get(str(body["group"]))
                mask &= fleet.group == (group.index if group is not None else -1)
            candidates.append((population, mask))
        if "group" in body and not site.groups_by_path(str(body["group"])):
            raise LookupError(f"no group {body['group']!r} on {self.name}")
        total = sum(int(mask.sum()) for _, mask in candidates)
        if "count" in body:
            count = body["count"]
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                raise ValueError("count must be a whole number ≥ 0")
        elif "share" in body:
            share = body["share"]
            if isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share <= 1:
                raise ValueError("share must be a number from 0 to 1")
            count = round(share * total)
        else:
            raise ValueError("name the clients: names, count or share (optionally with group)")
        out: list[tuple[Population, Mask]] = []
        for population, mask in candidates:  # the first `count` by name, population by population
            order = population.order()
            chosen = order[mask[order]][: max(count, 0)]
            count -= chosen.size
            picked = np.zeros(population.fleet.count, dtype=np.bool_)
            picked[chosen] = True
            out.append((population, picked))
        return out
