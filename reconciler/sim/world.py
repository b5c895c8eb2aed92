"""The whole simulated fleet: one clock, the managers, their sites, the certificates they ever served, replication.

Everything here is synchronous and guarded by one re-entrant lock; the HTTP layer and in-process callers (tests,
other threads) take it through :meth:`World.locked`. Before anything clients can observe changes, the world brings
the site's clients up to "now" (:meth:`World.advance`), running due replications in time order on the way. Sites
are independent between replications, so an API call brings only its own site up to date.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from reconciler.sim import truth
from reconciler.sim.certs import ServerCertificate, generate_certificate, load_pem
from reconciler.sim.clock import VirtualClock
from reconciler.sim.fleet import FleetConfig
from reconciler.sim.manager import SERVICES, Manager
from reconciler.sim.replication import Pair, join_overwrite, new_pair, replicate
from reconciler.sim.site import Site

__all__ = ["Pair", "World"]


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
        self.sites: dict[str, Site] = {
            name: Site(name, [self.managers[c.name] for c in configs], seed=fleet.seed, start_ms=start_ms)
            for name, configs in fleet.sites().items()
        }
        self.pairs: dict[frozenset[str], Pair] = {}
        for site in self.sites.values():
            for partner in site.managers[0].cfg.partners:
                key = frozenset((site.name, partner))
                if key not in self.pairs:
                    self.pairs[key] = new_pair(site, self.sites[partner], start_ms)

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
        """The first manager of ``site`` (the one that owns its definition)."""
        return self.sites[site].managers[0]

    # --- time ---------------------------------------------------------------------------------------------------
    def advance(self, only: Site | None = None) -> int:
        """Run due replications in time order, then bring the clients of ``only`` (default: every site) up to
        now. Returns now (ms)."""
        with self.lock:
            now = self.clock.now_ms()
            while True:
                due = [p for p in self.pairs.values() if p.next_run <= now]
                if not due:
                    break
                pair = min(due, key=lambda p: p.next_run)
                self._replicate(pair, pair.next_run)
            for site in self.sites.values() if only is None else (only,):
                site.sync(now)
            return now

    def _replicate(self, pair: Pair, at_ms: int) -> None:
        a, b = (self.sites[s] for s in pair.sites)
        replicate(pair, a, b, at_ms, lambda site, t: site.sync(t))

    # --- replication --------------------------------------------------------------------------------------------
    def partners_of(self, m: Manager) -> list[Pair]:
        return sorted((p for p in self.pairs.values() if m.site in p.sites), key=lambda p: p.other(m.site))

    def add_partner(self, m: Manager, site: str) -> Pair:
        """``m``'s site joins ``site``: both sides get the partnership; ``rejoin`` says what happens to data."""
        if site == m.site:
            raise ValueError("a site cannot replicate with itself")
        other = self.sites.get(site)
        if other is None:
            raise LookupError(f"no site named {site!r} in this fleet")
        key = frozenset((m.site, site))
        if key in self.pairs:
            raise FileExistsError(f"{m.site!r} already replicates with {site!r}")
        mine = self.sites[m.site]
        if not any(x.served("console") is not None for x in other.managers) or m.served("console") is None:
            raise ConnectionError(f"cannot connect to {site!r}: its console service is down")
        now = self.advance()
        pair = new_pair(mine, other, now)
        if m.behaviours.rejoin == "merge":
            replicate(pair, mine, other, now, lambda s, t: s.sync(t))
            pair.next_run = now + pair.interval_ms
        else:
            join_overwrite(mine, other, now)
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
            return truth.fleet_state(self, now, clients=clients)

    def client_row(self, m: Manager, name: str, now: int) -> dict[str, Any] | None:
        with self.lock:
            found = m.site_obj.find_client(name)
            return None if found is None else truth.client_row(self, m.site_obj, found[0], found[1], now)
