"""Reading one managed server for its twin — read-only, the probe's code path, never a client name kept.

What is read (``GET`` only, through the adapter's one request path, then ``logout``): the certificates the three
ports present, ``GET version``, the domains, per domain the group tree with inheritance and — from the settings of
every group that does not inherit — the verification flag, the heartbeat and the management server list where the
manager shows it, then every client once (the adapter's scan that cannot lose a client to churn) reduced at once to
counts: per group how many clients and how many are online, the agent versions, and for the clients that are away
the age of their last check-in (``lastUpdateTime``, on the manager's clock). Names are dropped as the scan's ledger
is: nothing of a client but those numbers leaves this module. Replication partners and the shape of
``replicationStatus`` complete the reading.

Whatever could not be read is said in :attr:`ServerReading.unread` (the twin then assumes, and says so). A manager
whose REST API cannot be used at all raises: there is nothing to build a twin from.

A :class:`ReadOnlyTransport` under the client refuses anything but ``GET`` and the session's own
``POST identity/authenticate`` / ``identity/logout`` before it leaves this process.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from reconciler.core.observation import PortObservation, ServedCertificate
from reconciler.errors import Error, PermanentError
from reconciler.sepm import ClientLedger, SepmClient, observe_ports, open_client, read_settings, tls_context
from reconciler.sepm.groups import RawGroup, fetch_groups, resolve_scope
from reconciler.sepm.replication import observe_replication
from reconciler.specs import LoadedServer

__all__ = [
    "DomainReading",
    "GroupReading",
    "ReadOnlyTransport",
    "ServerReading",
    "read_only_client",
    "read_server",
]

DEFAULT_DOMAIN = "Default"
_HEARTBEAT_PATHS = (
    ("configuration", "communication_settings", "pull_mode_heartbeat_freq_in_seconds"),
    ("configuration", "communication_settings", "upload_op_state_heartbeat_freq_in_seconds"),
)
_SESSION_POSTS = ("identity/authenticate", "identity/logout")


class ReadOnlyTransport(httpx.AsyncBaseTransport):
    """Passes ``GET`` requests (and the session's authenticate/logout) to ``inner``; refuses anything else before it
    is sent — the forecast changes nothing on a manager, whatever a caller asks."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner
        self.refused: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if request.method != "GET" and not (request.method == "POST" and path.endswith(_SESSION_POSTS)):
            self.refused.append(f"{request.method} {path}")
            raise PermanentError(f"the forecast only reads: {request.method} {path} was not sent")
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def read_only_client(server: LoadedServer) -> SepmClient:
    """The spec's client (secrets, ``caBundle``, ``spec.server.api``) over a :class:`ReadOnlyTransport`."""
    conn = server.spec.spec.server
    inner = httpx.AsyncHTTPTransport(verify=tls_context(conn.ca_bundle))
    return open_client(server, transport=ReadOnlyTransport(inner))


@dataclass(frozen=True, slots=True)
class GroupReading:
    """One group of one domain: where it takes its settings from, and its clients as numbers only."""

    path: str
    inherits: bool
    secure: bool | None = None  # the flag of the group it takes its settings from (None: not read)
    list_name: str | None = None  # its management server list, where the settings show it
    heartbeat_s: float | None = None  # of the group it takes its settings from
    clients: int = 0
    online: int = 0
    away_ages_s: tuple[float, ...] = ()  # per client away: seconds since its last check-in (no names)


@dataclass(frozen=True, slots=True)
class DomainReading:
    name: str
    groups: tuple[GroupReading, ...]
    agent_versions: Mapping[str, int] = field(default_factory=dict)
    deleted: int = 0  # deleted records the manager still lists

    @property
    def clients(self) -> int:
        return sum(g.clients for g in self.groups)

    @property
    def away(self) -> int:
        return sum(len(g.away_ages_s) for g in self.groups)


@dataclass(frozen=True, slots=True)
class ServerReading:
    """Everything the twin of one server is made from (see the module docstring)."""

    server: str
    site: str
    manager_time: datetime
    version: str | None
    login_domain: str
    domains: tuple[DomainReading, ...]
    served: Mapping[str, ServedCertificate | None]
    partners: tuple[str, ...] = ()
    replication_shape: str | None = None  # "array" | "object" (None: not read)
    lists_shown: bool = False  # the settings name each group's management server list
    unread: tuple[str, ...] = ()  # what could not be read (the twin assumes it, and says so)

    @property
    def clients(self) -> int:
        return sum(d.clients for d in self.domains)

    @property
    def away(self) -> int:
        return sum(d.away for d in self.domains)

    @property
    def heartbeat_s(self) -> float | None:
        """The heartbeat most clients have (weighted by clients; None when no settings showed one)."""
        weights: Counter[float] = Counter()
        for domain in self.domains:
            for group in domain.groups:
                if group.heartbeat_s:
                    weights[group.heartbeat_s] += max(group.clients, 1)
        return weights.most_common(1)[0][0] if weights else None

    @property
    def not_after(self) -> datetime | None:
        """The soonest expiry among the certificates the ports present now."""
        dates = [c.not_after for c in self.served.values() if c is not None]
        return min(dates) if dates else None


@dataclass(slots=True)
class _Tally:
    """Numbers per group while the clients are counted; names never enter it."""

    clients: Counter[str] = field(default_factory=Counter)
    online: Counter[str] = field(default_factory=Counter)
    ages: dict[str, list[float]] = field(default_factory=dict)
    versions: Counter[str] = field(default_factory=Counter)


def _number(document: Mapping[str, Any], path: Sequence[str]) -> float | None:
    node: Any = document
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return float(node) if isinstance(node, int | float) and not isinstance(node, bool) and node > 0 else None


async def _domains(client: SepmClient, unread: list[str]) -> list[tuple[str | None, str]]:
    """``(id, name)`` of every domain the account sees; ``[(None, login)]`` when they cannot be listed."""
    try:
        data: Any = await client.get_json("domains")
    except Error as exc:
        unread.append(f"the domains ({exc}): only the login domain was read")
        return []
    items = data if isinstance(data, list) else data.get("content") if isinstance(data, dict) else None
    if not isinstance(items, list):
        unread.append("the domains (GET domains answered no list): only the login domain was read")
        return []
    out: list[tuple[str | None, str]] = []
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("id"), str) and isinstance(item.get("name"), str):
            out.append((str(item["id"]), str(item["name"])))
    return out


async def _settings(
    client: SepmClient, sources: Sequence[RawGroup], unread: list[str]
) -> dict[str, tuple[bool | None, str | None, float | None]]:
    """Per source group id: its flag, its list name (where shown) and its heartbeat."""
    limit = asyncio.Semaphore(8)

    async def one(group: RawGroup) -> tuple[str, tuple[bool | None, str | None, float | None]]:
        if group.default_location_id is None:
            unread.append(f"the settings of group {group.full_path_name!r} (no defaultLocationId)")
            return group.id, (None, None, None)
        async with limit:
            try:
                document = await read_settings(client, group.id, group.default_location_id)
            except Error as exc:
                unread.append(f"the settings of group {group.full_path_name!r} ({exc})")
                return group.id, (None, None, None)
        heartbeat = next(
            (v for v in (_number(document.data, p) for p in _HEARTBEAT_PATHS) if v is not None), None
        )
        return group.id, (document.secure_communications, document.list_name, heartbeat)

    return dict(await asyncio.gather(*(one(g) for g in sources)))


async def _count_clients(
    client: SepmClient, domain_id: str | None, page_size: int, manager_time: datetime, now: datetime
) -> tuple[_Tally, int]:
    """Scan the domain's clients once and keep numbers only; the ledger (and its names) is dropped here."""
    ledger = ClientLedger(page_size=page_size, domain=domain_id)
    await ledger.refresh(client, manager_time=manager_time, change_time=None, now=now, force_full=True)
    tally = _Tally()
    now_ms = int(manager_time.timestamp() * 1000)
    for entry in ledger.entries():
        group = entry.group_id
        tally.clients[group] += 1
        tally.versions[entry.agent_version or "unknown"] += 1
        if entry.online is True:
            tally.online[group] += 1
        else:
            seen = entry.last_update_ms
            age = max(0.0, (now_ms - seen) / 1000) if seen >= 0 else float("inf")
            tally.ages.setdefault(group, []).append(age)
    return tally, ledger.deleted_count


async def _read_domain(
    client: SepmClient,
    domain_id: str | None,
    name: str,
    page_size: int,
    manager_time: datetime,
    now: datetime,
    unread: list[str],
) -> DomainReading:
    (raw, problems), (tally, deleted) = await asyncio.gather(
        fetch_groups(client, domain=domain_id, page_size=page_size),
        _count_clients(client, domain_id, page_size, manager_time, now),
    )
    unread += [f"domain {name}: {p}" for p in problems]
    scope = resolve_scope(raw, [])
    unread += [f"domain {name}: {p}" for p in scope.problems]
    by_id = {g.id: g for g in raw}
    sources = [g for g in raw if scope.source.get(g.id) == g.id]
    settings = await _settings(client, sources, unread)
    known = set(by_id)
    orphan_groups = [gid for gid in (*tally.clients, *tally.ages) if gid not in known]
    if orphan_groups:
        unread.append(
            f"domain {name}: the group of {sum(tally.clients[g] for g in set(orphan_groups))} clients is not "
            "among the groups listed: they are counted in the domain's root group"
        )
    root = min(raw, key=lambda g: g.full_path_name.count("\\"), default=None)
    readings = []
    for group in sorted(raw, key=lambda g: (g.full_path_name.count("\\"), g.full_path_name.casefold())):
        source = scope.source.get(group.id)
        flag, list_name, heartbeat = settings.get(source or "", (None, None, None))
        ids = [group.id, *(orphan_groups if root is not None and group.id == root.id else [])]
        readings.append(
            GroupReading(
                path=group.full_path_name,
                inherits=group.inherits,
                secure=flag,
                list_name=list_name,
                heartbeat_s=heartbeat,
                clients=sum(tally.clients[i] for i in ids),
                online=sum(tally.online[i] for i in ids),
                away_ages_s=tuple(sorted(a for i in ids for a in tally.ages.get(i, ()))),
            )
        )
    return DomainReading(name, tuple(readings), dict(tally.versions), deleted)


async def _replication(client: SepmClient, unread: list[str]) -> tuple[tuple[str, ...], str | None]:
    try:
        data: Any = await client.get_json("replication/status")
    except Error as exc:
        unread.append(f"replication ({exc})")
        return (), None
    shape = (
        "array" if isinstance(data, dict) and isinstance(data.get("replicationStatus"), list) else "object"
    )
    observed, notes = await observe_replication(client)
    unread += [f"replication: {n}" for n in notes]
    partners = tuple(p.name for p in observed.partners) if observed is not None else ()
    return partners, shape


async def read_server(
    server: LoadedServer, client: SepmClient, *, now: datetime, port_timeout: float = 10.0
) -> ServerReading:
    """Read ``server`` through ``client`` (make it with :func:`read_only_client`); logs the session out at the end.

    Raises :class:`~reconciler.errors.Error` when the REST API cannot be used at all.
    """
    conn = server.spec.spec.server
    unread: list[str] = []
    ports_task = asyncio.ensure_future(observe_ports(conn.host, conn.ports.items(), within=port_timeout))
    try:
        version: str | None = None
        try:
            data: Any = await client.get_json("version", authenticated=False)
            if isinstance(data, dict) and isinstance(data.get("version"), str):
                version = str(data["version"])
        except Error as exc:
            unread.append(f"the version ({exc})")
        session = await client.ensure_session()
        manager_time = await client.manager_time()
        if manager_time is None:
            unread.append("the manager's clock (no serverTime): this machine's clock is used")
            manager_time = now
        login = session.domain_name or conn.credentials.domain or DEFAULT_DOMAIN
        listed = await _domains(client, unread)
        targets: list[tuple[str | None, str]] = listed or [(None, login)]
        page_size = conn.api.page_size
        domains = [
            await _read_domain(client, domain_id, name, page_size, manager_time, now, unread)
            for domain_id, name in targets
        ]
        partners, shape = await _replication(client, unread)
    finally:
        ports: Mapping[str, PortObservation] = await ports_task
        await client.close()
    served = {name: port.certificate for name, port in ports.items()}
    unread += [f"the certificate on the {n} port ({ports[n].error or ports[n].outcome.value})" for n, c in
               served.items() if c is None]  # fmt: skip
    shown = any(g.list_name for d in domains for g in d.groups)
    return ServerReading(
        server=server.name,
        site=conn.site,
        manager_time=manager_time,
        version=version,
        login_domain=DEFAULT_DOMAIN if login in ("", DEFAULT_DOMAIN) else login,
        domains=tuple(domains),
        served=served,
        partners=partners,
        replication_shape=shape,
        lists_shown=shown,
        unread=tuple(unread),
    )
