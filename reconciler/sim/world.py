"""The whole simulated fleet: one clock, the managers, the certificates they ever served, and replication.

Everything here is synchronous and guarded by one re-entrant lock; the HTTP layer and in-process callers (tests,
other threads) take it through :meth:`World.locked`. Before anything clients can observe changes, the world brings
every manager's clients up to "now" (:meth:`World.advance`), running due replications in time order on the way.

Replication (manager ↔ manager, over the console port): a partnership runs every ``replication.interval``. A run
fails with ``FAILED_CONNECT`` when either side's console service is down or presents a certificate the other side
no longer trusts (each side trusts the certificate the other presented when the partnership was added). A
successful run copies, group by group (matched by full path), the newer policy to the other side. Adding a
partnership makes the *joining* site (the manager the add is called on) take the other site's group settings
wholesale — the vendor's documented data-loss hazard.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from reconciler.sim.certs import ServerCertificate, generate_certificate, load_pem
from reconciler.sim.clock import VirtualClock, iso
from reconciler.sim.fleet import FleetConfig
from reconciler.sim.manager import PORTS, SERVICES, Manager

__all__ = ["Pair", "World"]


@dataclass(slots=True)
class Pair:
    """A replication partnership between two sites."""

    sites: tuple[str, str]
    trust: dict[str, int]  # site -> the certificate index it trusts for the *other* site's console port
    interval_ms: int
    next_run: int
    status: str = "NEVER_REPLICATED"
    last_run: int = 0
    last_success: int = 0

    def other(self, site: str) -> str:
        return self.sites[1] if self.sites[0] == site else self.sites[0]


class World:
    def __init__(self, fleet: FleetConfig) -> None:
        self.fleet = fleet
        self.lock = threading.RLock()
        self.clock = VirtualClock(fleet.start, fleet.speed)
        self.random = random.Random(fleet.seed)  # noqa: S311 - fault injection, not cryptography
        self.certs: list[ServerCertificate] = []
        self._cert_index: dict[str, int] = {}
        start_ms = self.clock.now_ms()
        not_before = min(datetime.now(UTC), fleet.start) - timedelta(days=1)
        self.managers: dict[str, Manager] = {}
        for index, cfg in enumerate(fleet.managers):
            c = cfg.certificate
            if c.cert_file is not None and c.key_file is not None:
                cert = load_pem(c.cert_file.read_bytes(), c.key_file.read_bytes())
            else:
                cert_pem, key_pem = generate_certificate(
                    c.common_name or cfg.name,
                    sans=c.sans,
                    key_size=c.key_size,
                    days=c.days,
                    not_before=not_before,
                )
                cert = load_pem(cert_pem, key_pem)
            self.managers[cfg.name] = Manager(
                cfg=cfg,
                seed=fleet.seed,
                start_ms=start_ms,
                initial_cert=self.add_certificate(cert),
                index=index,
            )
        self.pairs: dict[frozenset[str], Pair] = {}
        for m in self.managers.values():
            for site in m.cfg.partners:
                key = frozenset((m.site, site))
                if key not in self.pairs:
                    other = self.by_site(site)
                    self.pairs[key] = self._new_pair(m, other, start_ms)

    # --- plumbing -----------------------------------------------------------------------------------------------
    @contextmanager
    def locked(self) -> Iterator[World]:
        with self.lock:
            yield self

    def add_certificate(self, cert: ServerCertificate) -> int:
        fp = cert.fingerprint
        if fp not in self._cert_index:
            self._cert_index[fp] = len(self.certs)
            self.certs.append(cert)
        return self._cert_index[fp]

    def fingerprint(self, index: int | None) -> str | None:
        return None if index is None else self.certs[index].fingerprint

    def manager(self, name: str) -> Manager:
        return self.managers[name]

    def by_site(self, site: str) -> Manager:
        for m in self.managers.values():
            if m.site == site:
                return m
        raise KeyError(site)

    # --- time ---------------------------------------------------------------------------------------------------
    def advance(self) -> int:
        """Run due replications in time order, then bring every manager's clients up to now. Returns now (ms)."""
        with self.lock:
            now = self.clock.now_ms()
            while True:
                due = [p for p in self.pairs.values() if p.next_run <= now]
                if not due:
                    break
                pair = min(due, key=lambda p: p.next_run)
                self._replicate(pair, pair.next_run)
            for m in self.managers.values():
                m.clients.sync(now, m.environment())
            return now

    def _sync(self, m: Manager, at_ms: int) -> None:
        m.clients.sync(at_ms, m.environment())

    # --- replication --------------------------------------------------------------------------------------------
    def _new_pair(self, a: Manager, b: Manager, now_ms: int) -> Pair:
        interval = int(min(a.cfg.replication_interval, b.cfg.replication_interval) * 1000)
        trust = {a.site: b.current["console"], b.site: a.current["console"]}
        return Pair(sites=(a.site, b.site), trust=trust, interval_ms=interval, next_run=now_ms + interval)

    def _connectable(self, pair: Pair) -> bool:
        a, b = (self.by_site(s) for s in pair.sites)
        served_a, served_b = a.served("console"), b.served("console")
        return (
            served_a is not None
            and served_b is not None
            and pair.trust[a.site] == served_b
            and pair.trust[b.site] == served_a
        )

    def _replicate(self, pair: Pair, at_ms: int) -> None:
        pair.last_run = at_ms
        pair.next_run = at_ms + pair.interval_ms
        if not self._connectable(pair):
            pair.status = "FAILED_CONNECT"
            return
        a, b = (self.by_site(s) for s in pair.sites)
        to_a: list[str] = []
        to_b: list[str] = []
        for group in a.groups.groups:
            theirs = b.groups.by_path.get(group.path)
            if theirs is None:
                continue
            mine_t, their_t = a.groups.current(group).time_ms, b.groups.current(theirs).time_ms
            if their_t > mine_t:
                to_a.append(group.path)
            elif mine_t > their_t:
                to_b.append(group.path)
        for target, source, paths in ((a, b, to_a), (b, a, to_b)):
            if paths:
                self._sync(target, at_ms)
                target.groups.adopt(source.groups, paths)
        pair.status = "SUCCEEDED"
        pair.last_success = at_ms

    def partners_of(self, m: Manager) -> list[Pair]:
        return sorted((p for p in self.pairs.values() if m.site in p.sites), key=lambda p: p.other(m.site))

    def add_partner(self, m: Manager, site: str) -> Pair:
        """``m`` joins ``site``: both sides get the partnership; ``m``'s group settings are overwritten."""
        if site == m.site:
            raise ValueError("a site cannot replicate with itself")
        try:
            other = self.by_site(site)
        except KeyError:
            raise LookupError(f"no site named {site!r} in this fleet") from None
        key = frozenset((m.site, site))
        if key in self.pairs:
            raise FileExistsError(f"{m.site!r} already replicates with {site!r}")
        if other.served("console") is None or m.served("console") is None:
            raise ConnectionError(f"cannot connect to {site!r}: its console service is down")
        now = self.advance()
        pair = self._new_pair(m, other, now)
        m.groups.adopt(other.groups, [g.path for g in m.groups.groups])
        pair.status, pair.last_run, pair.last_success = "SUCCEEDED", now, now
        self.pairs[key] = pair
        return pair

    def delete_partner(self, m: Manager, site: str) -> None:
        key = frozenset((m.site, site))
        if key not in self.pairs:
            raise LookupError(f"{m.site!r} has no replication partner {site!r}")
        self.advance()
        del self.pairs[key]

    def replicate_now(self, m: Manager, site: str) -> Pair:
        pair = self.pairs.get(frozenset((m.site, site)))
        if pair is None:
            raise LookupError(f"{site!r} is not a replication partner of {m.site!r}")
        now = self.advance()
        self._replicate(pair, now)
        return pair

    # --- certificates and services ------------------------------------------------------------------------------
    def stage_certificate(self, m: Manager, cert: ServerCertificate) -> str:
        m.staged = self.add_certificate(cert)
        return cert.fingerprint

    def begin_restart(self, m: Manager, services: tuple[str, ...]) -> list[str]:
        """Stop ``services`` (the ports to close are returned)."""
        if m.restart is not None:
            raise RuntimeError("a restart is already in progress")
        now = self.advance()
        m.begin_restart(services, now)
        return [SERVICES[s] for s in services]

    def finish_due_restarts(self) -> list[tuple[Manager, list[str]]]:
        """End every restart whose delays have passed; returns the ports to open again."""
        with self.lock:
            now = self.clock.now_ms()
            due = [m for m in self.managers.values() if m.restart_due(now)]
            if not due:
                return []
            now = self.advance()
            return [(m, m.finish_restart(now)) for m in due]

    # --- ground truth -------------------------------------------------------------------------------------------
    def state(self, *, clients: bool = False) -> dict[str, Any]:
        """``GET /_sim/state``: the documented keys, plus extras (``clients=True`` adds per-client rows)."""
        with self.lock:
            now = self.advance()
            return {
                "clock": iso(now),
                "managers": {m.name: self._manager_state(m, now, clients) for m in self.managers.values()},
            }

    def _manager_state(self, m: Manager, now: int, detail: bool) -> dict[str, Any]:
        fleet = m.clients
        current = m.groups.current_policies()[fleet.group] if fleet.count else np.zeros(0, dtype=np.int32)
        offline = fleet.offline_at(now)
        orphaned_idx = np.flatnonzero(fleet.orphaned)
        groups = []
        for g in m.groups.groups:
            policy = m.groups.current(g)
            groups.append(
                {
                    "id": g.id,
                    "name": g.path,
                    "secure_communications": m.groups.effective_secure(g),
                    "policySerialNumber": policy.serial,
                    "policyDate": policy.time_ms,
                    "inherits": g.inherits,
                    "clients": int((fleet.group == g.index).sum()),
                }
            )
        out: dict[str, Any] = {
            "site": m.site,
            "served": {p: self.fingerprint(m.served(p)) for p in PORTS},
            "presents_when_up": {p: self.fingerprint(m.current[p]) for p in PORTS},
            "staged": self.fingerprint(m.staged),
            "services": {
                s: ("running" if up else ("restarting" if m.restart else "stopped"))
                for s, up in m.running.items()
            },
            "restarts": list(m.restarts),
            "replication": {
                "partners": [p.other(m.site) for p in self.partners_of(m)],
                "status": {p.other(m.site): p.status for p in self.partners_of(m)},
            },
            "groups": groups,
            "clients": {
                "total": fleet.count,
                "online": int(fleet.online(now).sum()),
                "offline": int(offline.sum()),
                "orphaned": int(orphaned_idx.size),
                "with_current_policy": int((fleet.applied == current).sum()),
                "verifying": int(m.groups.policy_secure[fleet.applied].sum()) if fleet.count else 0,
                "trusting_served": int((fleet.trusted == m.current["clients"]).sum()),
            },
            "orphaned_clients": [m.client_name(int(i)) for i in orphaned_idx],
            "faults": m.faults.to_json(),
        }
        if detail:
            out["client_rows"] = [self.client_row(m, int(i), now) for i in range(fleet.count)]
        return out

    def client_row(self, m: Manager, i: int, now: int) -> dict[str, Any]:
        fleet = m.clients
        policy = m.groups.versions[int(fleet.applied[i])]
        away = bool(fleet.off_start[i] <= now < fleet.off_end[i])
        return {
            "name": m.client_name(i),
            "group": m.groups.groups[int(fleet.group[i])].path,
            "online": not away and not bool(fleet.orphaned[i]),
            "orphaned": bool(fleet.orphaned[i]),
            "orphaned_at": iso(int(fleet.orphaned_at[i])) if fleet.orphaned[i] else None,
            "verifies": policy.secure,
            "policySerialNumber": policy.serial,
            "trusts": self.certs[int(fleet.trusted[i])].fingerprint,
            "lastUpdateTime": int(fleet.last_ok[i]),
            "offline_until": iso(int(fleet.off_end[i])) if away and fleet.off_end[i] < 2**60 else None,
        }
