"""The twin fleet: a simulator fleet file (as a mapping) made from what was read, strict wherever nothing was read.

One place turns readings into the fleet's sites, domains and groups (:func:`_site_managers`, :func:`_groups`,
:func:`_clients`), so that several managers per site and several domains per manager extend it here.

**Sites.** The managed servers of one ``spec.server.site`` share the site's database: the first (by name) carries
the site's groups, domains, lists and partners, the others their own ports and certificates; the clients (the site
lists them all on every server) are homed on the first. A partner site that no spec manages gets a stand-in manager
(the same groups, no clients) so that replication can be broken and restored.

**Clients.** Per domain: the count, the agent versions, the online clients spread over their groups in the shares
read, and every client that is away reproduced exactly — per group, per band of the age of its last check-in (the
real ages' least and greatest of the band) — as the simulator's ``offline.absences``. When they come back is not
observable: the twin keeps them away throughout (so the at-risk counts are an upper bound, and a wait for them ends
when they age past ``excludeOfflineFor``, as it would). Above ``sample`` clients a manager's twin is a stratified
sample (``scale`` < 1): groups and absence bands keep their shares, and a band young enough to be waited for keeps at
least one client.

**Behaviours.** The simulator's strict defaults, but for what was read (whether the settings show the list names,
the shape of ``replicationStatus``) and the REST throttle, which is a matter of wall time the compressed clock does
not model. What was assumed is listed per server (:attr:`TwinServer.assumed`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from reconciler.forecast.pki import TwinCert
from reconciler.forecast.reading import DomainReading, GroupReading, ServerReading
from reconciler.specs import LoadedServer

__all__ = [
    "ADMIN_PASSWORD",
    "ADMIN_USER",
    "DEFAULT_LIST",
    "Twin",
    "TwinServer",
    "absence_cells",
    "apportion",
    "build_twin",
    "list_names",
]

ADMIN_USER = "forecast"
ADMIN_PASSWORD = "twin-only-password"  # noqa: S105 - the twin's own account, written in its fleet file
DEFAULT_LIST = "Default Management Server List"
ROOT = "My Company"
DEFAULT_DOMAIN = "Default"
_HOUR, _DAY = 3600.0, 86400.0
_DEFAULT_HEARTBEAT = 300.0


@dataclass(frozen=True, slots=True)
class TwinServer:
    """How the twin of one managed server was made."""

    name: str
    clients: int  # read
    twin_clients: int  # in the twin
    away: int  # read
    twin_away: int
    assumed: tuple[str, ...]

    @property
    def scale(self) -> float:
        """Twin clients per real client (1.0: the whole fleet)."""
        return 1.0 if self.clients == 0 else self.twin_clients / self.clients


@dataclass(frozen=True, slots=True)
class Twin:
    """The fleet mapping (``seed`` set per run), when its clock starts, and each managed server's notes."""

    fleet: Mapping[str, Any]
    start: datetime
    servers: Mapping[str, TwinServer]
    standins: tuple[str, ...] = ()

    def for_run(self, seed: int) -> dict[str, Any]:
        return {**self.fleet, "seed": seed}


def list_names(server: LoadedServer) -> tuple[str, str | None]:
    """The spec's management server lists: (original, HTTP copy or None) — the strict simulator's one list when the
    spec names none."""
    lists = getattr(server.spec.spec.rollout, "management_server_list", None)
    original = getattr(lists, "original", None) or DEFAULT_LIST
    http = None if getattr(lists, "skip", False) else getattr(lists, "http", None)
    return str(original), None if http is None else str(http)


def apportion(weights: Sequence[float], total: int, *, floor: Sequence[bool] = ()) -> list[int]:
    """``total`` split over ``weights`` by largest remainder; an entry whose ``floor`` is set (and weight > 0) gets at
    least 1 (taken from the largest) when ``total`` allows."""
    whole = sum(weights)
    if total <= 0 or whole <= 0:
        return [0] * len(weights)
    exact = [w * total / whole for w in weights]
    counts = [math.floor(x) for x in exact]
    order = sorted(range(len(weights)), key=lambda i: exact[i] - counts[i], reverse=True)
    for i in order[: total - sum(counts)]:
        counts[i] += 1
    for i, wanted in enumerate(floor):
        if wanted and weights[i] > 0 and counts[i] == 0:
            donor = max(range(len(counts)), key=lambda k: counts[k])
            if counts[donor] > 1:
                counts[donor] -= 1
                counts[i] = 1
    return counts


def _edges(young: float) -> list[float]:
    """Age bands: an hour wide while a client may still be waited for (``young``), then wider."""
    hourly = min(max(young + _DAY, 2 * _DAY), 15 * _DAY)
    edges = [h * _HOUR for h in range(int(hourly // _HOUR) + 1)]
    for step, until in ((_DAY, 30 * _DAY), (7 * _DAY, 182 * _DAY), (30 * _DAY, 730 * _DAY)):
        while edges[-1] + step <= until:
            edges.append(edges[-1] + step)
    return edges


def absence_cells(ages: Sequence[float], young: float) -> list[tuple[float, float, int]]:
    """The away clients of one group as ``(least age, greatest age, count)`` per age band (seconds); ages that are
    not known (``inf``) join the oldest band."""
    if not ages:
        return []
    edges = _edges(young)
    known = sorted(a for a in ages if math.isfinite(a))
    unknown = len(ages) - len(known)
    cells: list[tuple[float, float, int]] = []
    i = 0
    for k in range(len(edges)):
        hi = edges[k + 1] if k + 1 < len(edges) else math.inf
        band = []
        while i < len(known) and known[i] < hi:
            band.append(known[i])
            i += 1
        if band:
            cells.append((band[0], band[-1], len(band)))
    if unknown:
        oldest = max(known[-1] if known else 0.0, 365 * _DAY)
        if cells and cells[-1][1] >= oldest:
            lo, _, n = cells[-1]
            cells[-1] = (lo, cells[-1][1], n + unknown)
        else:
            cells.append((oldest, oldest, unknown))
    return cells


def _duration(seconds: float) -> str:
    """``90061`` → ``1d1h1m1s`` (the simulator's duration syntax, whole seconds)."""
    total = max(0, int(seconds))
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        value, total = divmod(total, size)
        if value:
            parts.append(f"{value}{unit}")
    return "".join(parts) or "0s"


@dataclass(slots=True)
class _Notes:
    items: list[str] = field(default_factory=list)

    def add(self, text: str) -> None:
        if text not in self.items:
            self.items.append(text)


def _groups(domain: DomainReading, lists: tuple[str, str | None], shown: bool) -> list[dict[str, Any]]:
    """The domain's group tree for the fleet file (parents first, the root first), with each source's flag."""
    out: list[dict[str, Any]] = []
    paths = {g.path for g in domain.groups}
    if ROOT not in paths:
        out.append({"name": ROOT, "inherits": False})
    for group in domain.groups:
        entry: dict[str, Any] = {"name": group.path, "inherits": group.inherits and group.path != ROOT}
        if not entry["inherits"]:
            entry["secureCommunications"] = True if group.secure is None else group.secure
            if shown and group.list_name and group.list_name in (lists[0], lists[1]):
                entry["list"] = group.list_name
        out.append(entry)
    return out


def _clients(
    domain: DomainReading, *, scale: float, young: float, heartbeat: float, prefix: str
) -> tuple[dict[str, Any], int, int]:
    """The domain's ``clients`` block at ``scale``: (block, twin clients, twin away)."""
    groups: list[GroupReading] = [g for g in domain.groups if g.clients]
    cells = [(g.path, lo, hi, n) for g in groups for lo, hi, n in absence_cells(g.away_ages_s, young)]
    away_total = sum(n for *_, n in cells)
    online_total = sum(g.clients for g in groups) - away_total
    twin_away = apportion(
        [float(n) for *_, n in cells], round(away_total * scale), floor=[lo < young for _, lo, _, _ in cells]
    )
    twin_online = round(online_total * scale)
    block: dict[str, Any] = {
        "count": twin_online + sum(twin_away),
        "heartbeat": _duration(heartbeat),
        "namePrefix": prefix,
    }
    versions = {v: n for v, n in domain.agent_versions.items() if n}
    if versions:
        whole = sum(versions.values())
        block["agentVersions"] = {v: n / whole for v, n in sorted(versions.items())}
    online_by_group = {g.path: g.clients - len(g.away_ages_s) for g in groups}
    weights = {p: n for p, n in online_by_group.items() if n > 0} or {g.path: g.clients for g in groups}
    if weights:
        whole = sum(weights.values())
        block["groups"] = {p: n / whole for p, n in weights.items()}
    absences = [
        {"count": n, "group": path, "since": [_duration(lo), _duration(max(hi, lo))]}
        for (path, lo, hi, _), n in zip(cells, twin_away, strict=True)
        if n
    ]
    if absences:
        block["offline"] = {"absences": absences}
    return block, block["count"], sum(twin_away)


def _site_managers(
    readings: Mapping[str, ServerReading], servers: Mapping[str, LoadedServer]
) -> dict[str, list[str]]:
    """Managed servers per site, in name order (the first carries the site)."""
    sites: dict[str, list[str]] = {}
    for name in sorted(readings):
        sites.setdefault(servers[name].spec.spec.server.site, []).append(name)
    return sites


def _partners(reading: ServerReading, server: LoadedServer, notes: _Notes) -> list[str]:
    declared = list(server.spec.spec.replication.partners)
    if reading.replication_shape is None:
        notes.add("replication partners: not read; the spec's are used")
        return declared
    return list(reading.partners)


def build_twin(
    readings: Mapping[str, ServerReading],
    servers: Mapping[str, LoadedServer],
    certs: Mapping[str, TwinCert],
    *,
    sample: int = 10_000,
) -> Twin:
    """The twin of the servers read. ``certs`` holds the certificate each manager (and stand-in) presents at the
    start, by name; ``sample`` caps the clients of a manager's twin (0: no cap)."""
    start = max(r.manager_time for r in readings.values())
    young = max(
        (s.spec.spec.rollout.clients.exclude_offline_for.total_seconds() for s in servers.values()),
        default=7 * _DAY,
    )
    managers: list[dict[str, Any]] = []
    described: dict[str, TwinServer] = {}
    partnerships: dict[str, set[str]] = {}
    sites = _site_managers(readings, servers)
    prefix = 0
    for site, names in sites.items():
        for position, name in enumerate(names):
            reading, server, notes = readings[name], servers[name], _Notes()
            notes.items += [f"not read, so assumed strict: {u}" for u in reading.unread]
            owner = position == 0
            lists = list_names(server)
            entry = _manager(name, site, reading, certs[name], lists, notes)
            partners = _partners(reading, server, notes)
            partnerships.setdefault(site, set()).update(partners)
            twin_clients = twin_away = 0
            # the site's lists (one database: every manager of a site shows the same; validate makes a site's specs
            # agree on their names)
            entry["behaviours"]["managementServerLists"] = [
                {"name": lists[0], "protocol": "https"},
                *([{"name": lists[1], "protocol": "http"}] if lists[1] else []),
            ]
            if owner:
                scale = 1.0 if not sample or reading.clients <= sample else sample / reading.clients
                heartbeat = reading.heartbeat_s
                if heartbeat is None:
                    notes.add(
                        f"heartbeat: not shown in the settings; {_duration(_DEFAULT_HEARTBEAT)} assumed"
                    )
                    heartbeat = _DEFAULT_HEARTBEAT
                domains = []
                for domain in reading.domains:
                    prefix += 1
                    block, n, away = _clients(
                        domain, scale=scale, young=young, heartbeat=heartbeat, prefix=f"TWIN{prefix}-"
                    )
                    twin_clients, twin_away = twin_clients + n, twin_away + away
                    tree = _groups(domain, lists, reading.lists_shown)
                    if domain.name == DEFAULT_DOMAIN:
                        entry["groups"], entry["clients"] = tree, block
                    else:
                        domains.append({"name": domain.name, "groups": tree, "clients": block})
                if "groups" not in entry:
                    entry["groups"] = [{"name": ROOT, "inherits": False}]
                    entry["clients"] = {"count": 0}
                if domains:
                    entry["domains"] = domains
                if lists[1]:
                    notes.add(
                        f"management server lists: not readable through the API; {lists[0]!r} (HTTPS) and its HTTP "
                        f"copy {lists[1]!r}, made before the rollout as KB 187099 says"
                    )
                else:
                    notes.add(
                        f"management server lists: not readable through the API; one, {lists[0]!r} (HTTPS)"
                    )
                if scale < 1.0:
                    notes.add(
                        f"clients: a stratified sample of {twin_clients:,} of {reading.clients:,} (counts scaled "
                        "back)"
                    )
            else:
                entry["clients"] = {"count": 0}
                notes.add(f"clients: the site's clients are homed on {names[0]} in the twin")
            notes.add("clients away now stay away throughout the rollout (when they return cannot be read)")
            notes.add("no client goes away, is added, removed or re-imaged during the rollout")
            notes.add(
                "a client learns the new certificate only at a check-in whose policy does not verify, and one on an "
                "HTTPS list fails TLS when the certificate changes (strict: steps 2a and 4b are rehearsed as such)"
            )
            notes.add("settings PATCH replaces the objects it names; a no-op PATCH moves no serial (strict)")
            notes.add("REST throttle: not modelled (a matter of wall time)")
            notes.add(
                "hooks and manual steps are done the moment they are due; approvals granted when first needed"
            )
            managers.append(entry)
            described[name] = TwinServer(
                name, reading.clients, twin_clients, reading.away, twin_away, tuple(notes.items)
            )
    standins = _standins(sites, readings, partnerships, certs, managers)
    for entry in managers:
        if "groups" not in entry:
            continue  # partnerships belong to the site: written on its first manager
        site = entry["site"]
        partners = sorted(partnerships.get(site, set()) | {s for s, ps in partnerships.items() if site in ps})
        if partners:
            entry["replication"] = {"partners": partners, "interval": "1h"}
    fleet = {
        "clock": {"start": start.isoformat(), "speed": 0},
        "behaviours": {"throttle": False},
        "managers": managers,
    }
    return Twin(fleet, start, described, tuple(standins))


def _manager(
    name: str,
    site: str,
    reading: ServerReading,
    cert: TwinCert,
    lists: tuple[str, str | None],
    notes: _Notes,
) -> dict[str, Any]:
    behaviours: dict[str, Any] = {
        "listNameInSettings": reading.lists_shown,
        "replicationStatusShape": reading.replication_shape or "array",
    }
    entry: dict[str, Any] = {
        "name": name,
        "site": site,
        "host": "127.0.0.1",
        "ports": {"clients": 0, "console": 0, "api": 0},
        "admin": {
            "username": ADMIN_USER,
            "password": ADMIN_PASSWORD,
            "domain": "" if reading.login_domain == DEFAULT_DOMAIN else reading.login_domain,
        },
        "certificate": {"certFile": str(cert.cert_file), "keyFile": str(cert.key_file)},
        "restart": {"downSeconds": 0.05},
        "behaviours": behaviours,
    }
    if reading.version:
        entry["version"] = reading.version
    else:
        notes.add("version: not read; the simulator's assumed")
    return entry


def _standins(
    sites: Mapping[str, list[str]],
    readings: Mapping[str, ServerReading],
    partnerships: Mapping[str, set[str]],
    certs: Mapping[str, TwinCert],
    managers: list[dict[str, Any]],
) -> list[str]:
    """A manager without clients for every partner site no spec manages (its groups: those of a site it partners)."""
    names: list[str] = []
    wanted = sorted({p for partners in partnerships.values() for p in partners} - set(sites))
    for site in wanted:
        name = standin_name(site)
        partner_site = next(s for s, ps in sorted(partnerships.items()) if site in ps)
        owner = next(m for m in managers if m["site"] == partner_site and "groups" in m)
        entry = {
            "name": name,
            "site": site,
            "host": "127.0.0.1",
            "ports": {"clients": 0, "console": 0, "api": 0},
            "admin": dict(owner["admin"]),
            "certificate": {"certFile": str(certs[name].cert_file), "keyFile": str(certs[name].key_file)},
            "groups": owner["groups"],
            "clients": {"count": 0},
            "restart": {"downSeconds": 0.05},
            "behaviours": {"managementServerLists": owner["behaviours"]["managementServerLists"]},
        }
        if "domains" in owner:
            entry["domains"] = [{"name": d["name"], "groups": d["groups"]} for d in owner["domains"]]
        managers.append(entry)
        names.append(name)
    return names


def standin_name(site: str) -> str:
    """The stand-in manager of a partner site no spec manages."""
    return "standin-" + (re.sub(r"[^a-z0-9]+", "-", site.lower()).strip("-") or "site")


def partner_sites(readings: Mapping[str, ServerReading], servers: Mapping[str, LoadedServer]) -> list[str]:
    """The partner sites of the servers read that no spec manages (they get stand-ins)."""
    managed = {servers[n].spec.spec.server.site for n in readings}
    found: set[str] = set()
    for name, reading in readings.items():
        found.update(
            reading.partners if reading.replication_shape else servers[name].spec.spec.replication.partners
        )
    return sorted(found - managed)
