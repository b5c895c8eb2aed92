"""One simulated manager: its groups, clients, certificates per port, services, tokens and faults.

Ports and services (as on SEPM): the clients port (Apache, ``semwebsrv``), the console port (Tomcat, ``semsrv``;
also used by replication) and the API port (``semapisrv``). A certificate update is *staged*; a service presents it
from the end of its next successful restart on. While a service restarts its port refuses connections.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from reconciler.sim.clients import ClientFleet, Environment
from reconciler.sim.faults import Faults
from reconciler.sim.fleet import ROOT_GROUP, ManagerConfig
from reconciler.sim.groups import GroupTree, hex_id

__all__ = ["PORTS", "SERVICES", "Manager", "Restart"]

PORTS = ("clients", "console", "api")
SERVICES: dict[str, str] = {"semwebsrv": "clients", "semsrv": "console", "semapisrv": "api"}


@dataclass(slots=True)
class Restart:
    """A restart in progress: the services come back when both the real and the simulated delay have passed."""

    services: tuple[str, ...]
    started_ms: int
    up_after_mono: float
    up_after_ms: int


@dataclass(slots=True)
class Manager:
    cfg: ManagerConfig
    seed: int
    start_ms: int
    initial_cert: int
    domain_id: str = ""
    groups: GroupTree = field(init=False)
    clients: ClientFleet = field(init=False)
    current: dict[str, int] = field(init=False)  # what each port presents when its service is up
    running: dict[str, bool] = field(init=False)  # per service
    staged: int | None = None
    restart: Restart | None = None
    restarts: list[dict[str, Any]] = field(default_factory=list)
    tokens: dict[str, tuple[float, str]] = field(default_factory=dict)
    faults: Faults = field(default_factory=Faults)
    index: int = 0
    name_prefix: str = field(init=False)
    name_width: int = field(init=False)

    def __post_init__(self) -> None:
        cfg = self.cfg
        self.domain_id = hex_id(self.seed, "domain", "Default")
        self.groups = GroupTree(
            cfg.groups,
            seed=self.seed,
            domain_id=self.domain_id,
            start_ms=self.start_ms,
            heartbeat=cfg.clients.heartbeat,
        )
        self.current = dict.fromkeys(PORTS, self.initial_cert)
        self.running = dict.fromkeys(SERVICES, True)
        if cfg.clients.group_shares:
            weights = [(self.groups.by_path[p].index, s) for p, s in cfg.clients.group_shares]
        else:
            leaves = [g.index for g in self.groups.groups if g.path != ROOT_GROUP] or [0]
            weights = [(i, 1.0) for i in leaves]
        self.clients = ClientFleet(
            cfg.clients,
            seed=(self.seed, self.index),
            start_ms=self.start_ms,
            group_weights=weights,
            initial_policy=self.groups.current_policies(),
            initial_cert=self.initial_cert,
        )
        width = max(6, len(str(max(cfg.clients.count - 1, 0))))
        self.name_prefix = cfg.clients.name_prefix or f"{cfg.name.upper()}-PC"
        self.name_width = width

    # --- identity -----------------------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.cfg.name

    @property
    def site(self) -> str:
        return self.cfg.site

    @property
    def site_id(self) -> str:
        return hex_id(self.seed, "site", self.cfg.site)

    @property
    def server_id(self) -> str:
        return hex_id(self.seed, "server", self.cfg.name)

    def client_name(self, index: int) -> str:
        return f"{self.name_prefix}{index:0{self.name_width}d}"

    def client_index(self, name: str) -> int | None:
        if not name.upper().startswith(self.name_prefix.upper()):
            return None
        digits = name[len(self.name_prefix) :]
        if not digits.isdigit():
            return None
        index = int(digits)
        return (
            index if index < self.clients.count and self.client_name(index).upper() == name.upper() else None
        )

    # --- ports, services, environment ---------------------------------------------------------------------------
    def served(self, port: str) -> int | None:
        """The certificate index ``port`` presents now, or None while its service is down."""
        service = next(s for s, p in SERVICES.items() if p == port)
        return self.current[port] if self.running[service] else None

    def environment(self) -> Environment:
        served = self.served("clients")
        return Environment(
            served=-1 if served is None else served,
            group_policy=self.groups.current_policies(),
            policy_secure=self.groups.policy_secure,
        )

    def begin_restart(self, services: tuple[str, ...], now_ms: int) -> Restart:
        """Stop ``services`` now; they come back after the configured real and simulated delays."""
        for service in services:
            self.running[service] = False
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
    def issue_token(self, username: str) -> tuple[str, int]:
        lifetime = self.faults.token_lifetime_s or self.cfg.token_lifetime
        token = secrets.token_urlsafe(24)
        self.tokens[token] = (time.monotonic() + lifetime, username)
        return token, round(lifetime)

    def token_valid(self, token: str) -> bool:
        entry = self.tokens.get(token)
        if entry is None:
            return False
        if time.monotonic() >= entry[0]:
            del self.tokens[token]
            return False
        return True

    # --- clients ------------------------------------------------------------------------------------------------
    def select_clients(self, body: dict[str, Any], now_ms: int, *, want_online: bool) -> np.ndarray:
        """The clients a ``/_sim/clients/online`` body names: ``names``, or the first ``count``/``share`` of a group."""
        fleet = self.clients
        mask = np.zeros(fleet.count, dtype=np.bool_)
        if "names" in body:
            names = body["names"]
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise ValueError("names must be a list of computer names")
            for n in names:
                index = self.client_index(n)
                if index is None:
                    raise LookupError(f"no computer named {n!r} on {self.name}")
                mask[index] = True
            return mask
        candidates = fleet.offline_at(now_ms) if want_online else ~fleet.offline_at(now_ms)
        if "group" in body:
            group = self.groups.by_path.get(str(body["group"]))
            if group is None:
                raise LookupError(f"no group {body['group']!r} on {self.name}")
            candidates &= fleet.group == group.index
        if "count" in body:
            count = body["count"]
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                raise ValueError("count must be a whole number ≥ 0")
        elif "share" in body:
            share = body["share"]
            if isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share <= 1:
                raise ValueError("share must be a number from 0 to 1")
            count = round(share * int(candidates.sum()))
        else:
            raise ValueError("name the clients: names, count or share (optionally with group)")
        chosen = np.flatnonzero(candidates)[:count]
        mask[chosen] = True
        return mask
