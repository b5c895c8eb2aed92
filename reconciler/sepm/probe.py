"""Read-only checks of what the reconciler assumes about a manager (NOTES.md, marks [A]): ``sepm-reconciler probe``.

A user's first contact with their real SEPM, so it is safe: it authenticates and sends ``GET`` requests, nothing
else, and it reads little (one page of computers, the groups, a sample of group settings). Each check is a
:class:`Check` with a status — pass, fail, or unknown (could not be determined) — and what was seen.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from reconciler.core.observation import PortObservation, PortOutcome
from reconciler.core.spec import ManagedServer
from reconciler.errors import AuthenticationError, Error
from reconciler.sepm.client import ApiError, SepmClient, Session, UntrustedCertificateError
from reconciler.sepm.groups import FLAG_PATH, RawGroup, flag_of, raw_group, resolve_scope, settings_path
from reconciler.sepm.paging import first_page, iter_pages
from reconciler.sepm.serials import parse_policy_serial
from reconciler.sepm.tls import observe_ports

__all__ = ["NOT_CHECKED", "Check", "ProbeReport", "Status", "run_probe"]

COMPUTER_FIELDS = (
    "uniqueId",
    "computerName",
    "profileSerialNo",
    "onlineStatus",
    "lastUpdateTime",
    "agentVersion",
    "group.id",
)
GROUP_FIELDS = (
    "id",
    "fullPathName",
    "policySerialNumber",
    "policyDate",
    "policyInheritanceEnabled",
    "defaultLocationId",
)
PAGE_SIZES_TRIED = (1000, 2000, 5000)
NOT_CHECKED = (
    "that the settings PATCH accepts the minimal partial body, and at which location: the probe changes nothing; "
    "step 2 reads the flag back after its PATCH and stops if it did not take",
    "that the API port presents the new certificate after the update and restart: step 4 ends only when every "
    "port presents the desired certificate",
    "that replicatenow starts a replication: step 7 triggers it and waits for replication/status to say SUCCEEDED",
)


class Status(StrEnum):
    PASS = "pass"  # noqa: S105 - a check status, not a password
    FAIL = "fail"
    UNKNOWN = "unknown"

    @property
    def symbol(self) -> str:
        return {"pass": "✓", "fail": "✗", "unknown": "?"}[self.value]


@dataclass(frozen=True, slots=True)
class Check:
    id: str  # stable, e.g. "auth.token_lifetime"
    title: str  # what is assumed
    status: Status
    seen: str  # what was observed, for a person
    details: dict[str, Any] = field(default_factory=dict)  # JSON-safe

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "status": self.status.value,
            "seen": self.seen,
            "details": dict(self.details),
        }


@dataclass(frozen=True, slots=True)
class ProbeReport:
    server: str
    api_url: str
    checks: tuple[Check, ...]
    not_checked: tuple[str, ...] = NOT_CHECKED

    @property
    def passed(self) -> bool:
        return all(c.status is Status.PASS for c in self.checks)

    def count(self, status: Status) -> int:
        return sum(1 for c in self.checks if c.status is status)

    def to_json(self) -> dict[str, Any]:
        return {
            "server": self.server,
            "api_url": self.api_url,
            "passed": self.passed,
            "summary": {s.value: self.count(s) for s in Status},
            "checks": [c.to_json() for c in self.checks],
            "not_checked": list(self.not_checked),
        }


def _get(item: dict[str, Any], dotted: str) -> Any:
    node: Any = item
    for key in dotted.split("."):
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def _missing(items: Sequence[dict[str, Any]], fields: Sequence[str]) -> dict[str, int]:
    """field -> how many items lack it (absent or null)."""
    counts = {f: sum(1 for item in items if _get(item, f) is None) for f in fields}
    return {f: n for f, n in counts.items() if n}


def _describe_port(obs: PortObservation) -> str:
    if obs.certificate is None:
        return f"{obs.outcome.value}: {obs.error}"
    cert = obs.certificate
    return f"{cert.fingerprint[:23]}… {cert.subject}, expires {cert.not_after:%Y-%m-%d}"


class _Probe:
    def __init__(self, server: ManagedServer, client: SepmClient) -> None:
        self.server = server
        self.client = client
        self.checks: list[Check] = []

    def add(self, cid: str, title: str, status: Status, seen: str, **details: Any) -> None:
        self.checks.append(Check(cid, title, status, seen, details))

    def failed(self, cid: str, title: str, exc: Error) -> None:
        """A call failed: a missing endpoint (404/405/410) fails the check, anything else leaves it unknown."""
        missing = isinstance(exc, ApiError) and exc.status in (404, 405, 410)
        self.add(cid, title, Status.FAIL if missing else Status.UNKNOWN, str(exc))

    async def attempt(self, cid: str, title: str, work: Callable[[], Awaitable[None]]) -> None:
        """Run one check; an error it did not handle is recorded by :meth:`failed`."""
        try:
            await work()
        except Error as exc:
            self.failed(cid, title, exc)

    # --- ports and the API ----------------------------------------------------------------------------------------

    def ports(self, observed: dict[str, PortObservation], desired: str | None) -> None:
        for name, obs in observed.items():
            self.add(
                f"port.{name}",
                f"the {name} port ({obs.port}) completes a TLS handshake and presents a certificate",
                Status.PASS if obs.outcome is PortOutcome.PRESENTED else Status.FAIL,
                _describe_port(obs),
                outcome=obs.outcome.value,
                fingerprint=obs.fingerprint,
                presents_desired=(obs.fingerprint == desired) if desired and obs.fingerprint else None,
            )
        prints = {name: obs.fingerprint for name, obs in observed.items()}
        title = "every port presents the same certificate (they all change together in step 4)"
        if any(fp is None for fp in prints.values()):
            self.add(
                "ports.same_certificate", title, Status.UNKNOWN, "not every port presented a certificate"
            )
        elif len(set(prints.values())) == 1:
            self.add(
                "ports.same_certificate",
                title,
                Status.PASS,
                "one certificate on all ports",
                fingerprints=prints,
            )
        else:
            seen = ", ".join(f"{n}: {fp[:23]}…" for n, fp in prints.items() if fp)
            self.add(
                "ports.same_certificate",
                title,
                Status.FAIL,
                f"different certificates: {seen}",
                fingerprints=prints,
            )

    async def version(self) -> bool:
        title = "the REST API (semapisrv) answers GET version on the API port, without a token"
        try:
            data = await self.client.get_json("version", authenticated=False)
        except UntrustedCertificateError as exc:
            self.add(
                "api.trusted",
                "the API port's certificate is trusted (system store or caBundle)",
                Status.FAIL,
                str(exc),
            )
            return False
        except Error as exc:
            self.add("api.version", title, Status.FAIL, str(exc))
            return False
        self.add(
            "api.trusted",
            "the API port's certificate is trusted (system store or caBundle)",
            Status.PASS,
            "verified",
        )
        if isinstance(data, dict) and isinstance(data.get("version"), str):
            self.add(
                "api.version",
                title,
                Status.PASS,
                f"version {data['version']} (API {data.get('API_VERSION')}, sequence {data.get('API_SEQUENCE')})",
                version=data["version"],
            )
        else:
            self.add("api.version", title, Status.FAIL, f"unexpected answer {str(data)[:80]}")
        return True

    async def authenticate(self) -> Session | None:
        title = "the account authenticates (POST identity/authenticate) and gets a token"
        try:
            session = await self.client.authenticate()
        except AuthenticationError as exc:
            self.add("auth.authenticate", title, Status.FAIL, str(exc))
            return None
        except Error as exc:
            self.add("auth.authenticate", title, Status.UNKNOWN, str(exc))
            return None
        self.add("auth.authenticate", title, Status.PASS, "token issued")
        lifetime = session.lifetime
        self.add(
            "auth.token_lifetime",
            "tokens say how long they live (tokenExpiration; assumed about 3600 s)",
            Status.PASS if lifetime else Status.FAIL,
            f"{lifetime:g} s"
            if lifetime
            else "no tokenExpiration: the reconciler will re-authenticate only on 401",
            seconds=lifetime,
        )
        if session.server_time is None:
            self.add("auth.server_time", "serverTime gives the manager's clock", Status.FAIL, "no serverTime")
        else:
            skew = session.server_time - datetime.now(UTC)
            self.add(
                "auth.server_time",
                "serverTime gives the manager's clock (soaks are measured on it)",
                Status.PASS,
                f"{session.server_time:%Y-%m-%d %H:%M:%S} UTC ({_skew(skew)})",
                server_time=session.server_time.isoformat(),
            )
        return session

    # --- groups ---------------------------------------------------------------------------------------------------

    async def groups(self) -> None:
        title = "GET groups pages groups"
        raw: list[dict[str, Any]] = []
        total: Any = None
        try:
            async with contextlib.aclosing(iter_pages(self.client, "groups")) as pages:
                async for page in pages:
                    total = page.total_elements if page.index == 1 else total
                    raw.extend(page.content)
        except Error as exc:
            self.failed("endpoint.groups", title, exc)
            return
        self.add("endpoint.groups", title, Status.PASS, f"{total} groups", total=total)
        missing = _missing(raw, GROUP_FIELDS)
        self.add(
            "fields.group",
            "groups carry " + ", ".join(GROUP_FIELDS),
            Status.FAIL if missing else Status.PASS if raw else Status.UNKNOWN,
            f"missing on some groups: {missing}" if missing else f"all present on {len(raw)} groups",
            missing=missing,
        )
        if isinstance(total, int):
            one_based = Status.PASS if len(raw) == total else Status.FAIL
        else:
            one_based = Status.UNKNOWN
        self.add(
            "paging.one_based",
            "paging starts at pageIndex 1 (pages 1, 2, … return every item)",
            one_based,
            f"paging groups from pageIndex 1 returned {len(raw)} of totalElements {total}",
        )
        groups = [g for g in (raw_group(i) for i in raw) if g is not None]
        if not groups:
            return
        self.serials(groups)
        self.inheritance(groups, raw)
        scope = resolve_scope(groups, list(self.server.spec.rollout.clients.groups))
        listed = self.server.spec.rollout.clients.groups
        self.add(
            "spec.groups",
            "the groups of rollout.clients.groups exist and can be changed (they do not inherit)",
            Status.FAIL if scope.problems else Status.PASS,
            "; ".join(scope.problems)
            if scope.problems
            else f"{len(scope.managed)} groups would be changed"
            + ("" if listed else " (the list is empty: every group that does not inherit)"),
            managed=sorted(g.full_path_name for g in groups if g.id in scope.managed),
        )
        managed = [g for g in groups if g.id in scope.managed][:20]
        await self.attempt(
            "groups.locations",
            "locations and settings of the managed groups",
            lambda: self.locations(managed),
        )

    def serials(self, groups: Sequence[RawGroup]) -> None:
        bad = [
            f"{g.full_path_name}: {g.policy_serial!r}"
            for g in groups
            if g.policy_serial is None
            or parse_policy_serial(g.policy_serial) is None
            or g.policy_serial[:4].upper() != g.id[:4].upper()
        ]
        self.add(
            "serials.group",
            "policySerialNumber is XXXX-MM/DD/YYYY HH:MM:SS mmm, XXXX the first 4 hex digits of the group id (GMT)",
            Status.FAIL if bad else Status.PASS,
            f"{len(bad)} do not match, e.g. {bad[:3]}" if bad else f"all {len(groups)} match",
        )

    def inheritance(self, groups: Sequence[RawGroup], raw: Sequence[dict[str, Any]]) -> None:
        title = (
            "policyInheritanceEnabled says which groups inherit; they report their source's defaultLocationId"
        )
        not_bool = [
            i.get("fullPathName") for i in raw if not isinstance(i.get("policyInheritanceEnabled"), bool)
        ]
        scope = resolve_scope(groups, [])
        by_id = {g.id: g for g in groups}
        inheriting = [g for g in groups if scope.source.get(g.id) not in (g.id, None)]
        mismatched = [
            g.full_path_name
            for g in inheriting
            if g.default_location_id != by_id[scope.source[g.id] or g.id].default_location_id
        ]
        status = Status.FAIL if not_bool or mismatched else Status.PASS
        seen = f"{len(inheriting)} of {len(groups)} groups inherit"
        if not_bool:
            seen += f"; not a boolean on {not_bool[:3]}"
        if mismatched:
            seen += f"; a different defaultLocationId than their source on {mismatched[:3]}"
        self.add("groups.inheritance", title, status, seen, inheriting=[g.full_path_name for g in inheriting])

    async def locations(self, managed: Sequence[RawGroup]) -> None:
        problems: list[str] = []
        flags: dict[str, dict[str, bool | None]] = {}
        for group in managed:
            listed = await self.client.get_json(f"groups/{group.id}/locations")
            ids = (
                [str(x).rstrip("/").rsplit("/", 1)[-1] for x in listed] if isinstance(listed, list) else None
            )
            if not ids:
                problems.append(f"{group.full_path_name}: no location list")
                continue
            if group.default_location_id not in ids:
                problems.append(
                    f"{group.full_path_name}: defaultLocationId {group.default_location_id} not listed"
                )
            per_location: dict[str, bool | None] = {}
            for location in ids[:4]:
                per_location[location] = flag_of(
                    await self.client.get_json(settings_path(group.id, location))
                )
            flags[group.full_path_name] = per_location
        self.add(
            "groups.locations",
            "GET groups/{id}/locations lists ids (last path segment) including defaultLocationId",
            Status.FAIL if problems else Status.PASS if managed else Status.UNKNOWN,
            "; ".join(problems) if problems else f"checked {len(managed)} managed groups",
        )
        unreadable = [g for g, per in flags.items() if per and None in per.values()]
        differing = [g for g, per in flags.items() if len({v for v in per.values() if v is not None}) > 1]
        seen = ", ".join(
            f"{g}: " + "/".join("on" if v else "off" if v is False else "?" for v in per.values())
            for g, per in list(flags.items())[:5]
        )
        if unreadable:
            status, seen = Status.FAIL, f"no {'.'.join(FLAG_PATH)} at some locations of {unreadable[:3]}"
        elif differing:
            status = Status.FAIL
            seen = f"the flag differs between locations of {differing[:3]}: setting it at the default location may not be enough"
        else:
            status = Status.PASS if flags else Status.UNKNOWN
        self.add(
            "groups.settings",
            "the settings of each location carry configuration.general_settings.security_settings.secure_communications",
            status,
            seen or "no managed group to read",
            flags=flags,
        )

    # --- computers ------------------------------------------------------------------------------------------------

    async def computers(self, session: Session) -> None:
        title = "GET computers pages clients"
        try:
            page = await first_page(self.client, "computers", {}, 1000)
        except Error as exc:
            self.failed("endpoint.computers", title, exc)
            return
        items = page.content
        total = page.total_elements
        self.add("endpoint.computers", title, Status.PASS, f"{total} computers", total=total)
        missing = _missing(items, COMPUTER_FIELDS)
        self.add(
            "fields.computer",
            "computers carry " + ", ".join(COMPUTER_FIELDS),
            Status.FAIL if missing else Status.PASS if items else Status.UNKNOWN,
            f"missing on some of the first {len(items)}: {missing}"
            if missing
            else f"all present on the first {len(items)}",
            missing=missing,
        )
        values = sorted({i.get("onlineStatus") for i in items}, key=repr)
        self.add(
            "computers.online_status",
            "onlineStatus is 1 (online) or 0 (offline)",
            Status.UNKNOWN if not items else Status.PASS if set(values) <= {0, 1} else Status.FAIL,
            f"values seen on the first {len(items)}: {values}",
            values=values,
        )
        bad = [
            i.get("profileSerialNo")
            for i in items
            if parse_policy_serial(str(i.get("profileSerialNo") or "")) is None
        ]
        self.add(
            "serials.client",
            "profileSerialNo is a policy serial number (its time says which policy the client applied)",
            Status.UNKNOWN if not items else Status.FAIL if bad else Status.PASS,
            f"{len(bad)} of {len(items)} do not parse, e.g. {bad[:3]}" if bad else f"all {len(items)} parse",
        )
        server_time = session.server_time
        if server_time is None:
            return
        await self.attempt(
            "computers.last_update",
            "lastUpdate filters computers",
            lambda: self.last_update(server_time, total, page.size),
        )
        await self.attempt(
            "paging.page_size", "pageSize 1000 is accepted", lambda: self.page_sizes(server_time)
        )

    async def last_update(self, server_time: datetime, total: Any, size: int) -> None:
        since = server_time - timedelta(hours=1)
        since_ms = int(since.timestamp() * 1000)
        data = await self.client.get_json(
            "computers", params={"pageIndex": 1, "pageSize": size, "lastUpdate": since_ms}
        )
        content = data.get("content", []) if isinstance(data, dict) else []
        older = [
            i.get("computerName")
            for i in content
            if isinstance(i, dict) and (i.get("lastUpdateTime") or 0) < since_ms
        ]
        filtered = data.get("totalElements") if isinstance(data, dict) else None
        ok = not older and (not isinstance(total, int) or not isinstance(filtered, int) or filtered <= total)
        self.add(
            "computers.last_update",
            "GET computers?lastUpdate=T returns only computers whose status changed since T (incremental scans)",
            Status.PASS if ok else Status.FAIL,
            f"{filtered} of {total} changed in the last hour (manager time)"
            + (f"; but {len(older)} returned are older, e.g. {older[:3]}" if older else ""),
        )

    async def page_sizes(self, server_time: datetime) -> None:
        recent = int(server_time.timestamp() * 1000)  # few results: cheap, whatever the page size
        accepted: list[int] = []
        refused: dict[int, str] = {}
        for size in PAGE_SIZES_TRIED:
            try:
                data = await self.client.get_json(
                    "computers", params={"pageIndex": 1, "pageSize": size, "lastUpdate": recent}
                )
            except ApiError as exc:
                refused[size] = f"HTTP {exc.status}"
                continue
            echoed = data.get("size") if isinstance(data, dict) else None
            if isinstance(echoed, int) and echoed < size:
                refused[size] = f"capped to {echoed}"
            else:
                accepted.append(size)
        self.add(
            "paging.page_size",
            "pageSize 1000 is accepted (the reconciler pages with it; the largest size is not documented)",
            Status.PASS if 1000 in accepted else Status.FAIL,
            f"accepted {accepted or 'none'} of {list(PAGE_SIZES_TRIED)}"
            + (f"; refused {refused}" if refused else ""),
            largest_accepted=max(accepted) if accepted else None,
        )

    async def online_stats(self) -> None:
        data = await self.client.get_json("stats/client/onlinestatus")
        stats = data.get("clientCountStatsList") if isinstance(data, dict) else None
        if not isinstance(stats, list):
            self.add(
                "endpoint.online_stats",
                "GET stats/client/onlinestatus",
                Status.FAIL,
                "no clientCountStatsList",
            )
            return
        seen = ", ".join(f"{s.get('status')}: {s.get('clientsCount')}" for s in stats if isinstance(s, dict))
        self.add(
            "endpoint.online_stats",
            "GET stats/client/onlinestatus counts clients",
            Status.PASS,
            seen or "empty",
        )

    # --- replication ----------------------------------------------------------------------------------------------

    async def replication(self) -> None:
        async def flag() -> None:
            value = await self.client.get_json("replication/is_replicated")
            self.add(
                "replication.is_replicated",
                "GET replication/is_replicated answers a bare boolean",
                Status.PASS if isinstance(value, bool) else Status.FAIL,
                repr(value)[:80],
            )

        async def status() -> None:
            data = await self.client.get_json("replication/status")
            body = data.get("replicationStatus") if isinstance(data, dict) else None
            partners = body.get("replicationPartnerStatusList") if isinstance(body, dict) else None
            if not isinstance(partners, list):
                self.add(
                    "replication.status",
                    "GET replication/status lists partners",
                    Status.FAIL,
                    "no partner list",
                )
                return
            named = {p.get("name"): p.get("status_code") for p in partners if isinstance(p, dict)}
            expected = set(self.server.spec.replication.partners)
            seen = ", ".join(f"{n} ({c})" for n, c in named.items()) or "no partners"
            if expected - set(named):
                seen += f"; the spec lists {sorted(expected - set(named))}, not replicating now"
            self.add(
                "replication.status",
                "GET replication/status lists partners with status_code",
                Status.PASS,
                f"site {body.get('siteName') if isinstance(body, dict) else None!r}: {seen}",
                partners=named,
            )

        await self.attempt("replication.is_replicated", "GET replication/is_replicated", flag)
        await self.attempt("replication.status", "GET replication/status", status)


def _skew(delta: timedelta) -> str:
    seconds = delta.total_seconds()
    if abs(seconds) < 60:
        return "within a minute of this machine's clock"
    hours = abs(seconds) / 3600
    return f"{hours:.1f} h {'ahead of' if seconds > 0 else 'behind'} this machine's clock"


async def run_probe(
    server: ManagedServer,
    client: SepmClient,
    *,
    desired_fingerprint: str | None = None,
    port_timeout: float = 10.0,
) -> ProbeReport:
    """Run every check against ``server`` through ``client`` (GET and authentication only)."""
    probe = _Probe(server, client)
    conn = server.spec.server
    ports_task = asyncio.ensure_future(observe_ports(conn.host, conn.ports.items(), within=port_timeout))
    try:
        answered = await probe.version()
        session = await probe.authenticate() if answered else None
        if session is not None:
            await probe.groups()
            await probe.computers(session)
            await probe.attempt("endpoint.online_stats", "GET stats/client/onlinestatus", probe.online_stats)
            await probe.replication()
        else:
            probe.add(
                "api.checks",
                "the REST checks could run",
                Status.UNKNOWN,
                "not run: the API did not answer or refused the credentials (see above)",
            )
        probe.ports(await ports_task, desired_fingerprint)
    finally:
        if not ports_task.done():
            ports_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ports_task
    return ProbeReport(server=server.name, api_url=conn.api_url, checks=tuple(probe.checks))
