"""Reading a fleet file (YAML path or mapping) into a :class:`~reconciler.sim.fleet.FleetConfig`.

Every error is a :class:`~reconciler.sim.errors.FleetError` naming ``file:line``, the dotted field and the fix.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reconciler.sim.behaviours import STRICT, BehaviourError, Behaviours, resolve
from reconciler.sim.certs import load_pem
from reconciler.sim.errors import CertificateRejected, FleetError
from reconciler.sim.fleet import (
    DEFAULT_DOMAIN,
    ROOT_GROUP,
    Absence,
    CertificateConfig,
    ChurnConfig,
    ClientsConfig,
    DomainConfig,
    FleetConfig,
    GroupConfig,
    ManagerConfig,
    parse_duration,
)
from reconciler.sim.yamlmarks import Located, dotted, load_located

__all__ = ["read_fleet"]

PATCH_INHERITING_CHOICES = ("reject", "ignore", "parent")
_FP = tuple[str | int, ...]
_MANAGER_KEYS = {
    "name", "site", "host", "ports", "admin", "certificate", "replication", "groups", "clients", "version",
    "restart", "tokenLifetime", "maxPageSize", "patchInheritingGroup", "domains", "behaviours",
}  # fmt: skip
_SITE_OWNED = ("groups", "replication")  # written on the first manager of a site only


MAX_FLEET_FILE = 256 * 1024  # bytes: a fleet file is a page of YAML; PyYAML parses hostile ones slowly


def read_fleet(fleet: Mapping[str, Any] | str | Path) -> FleetConfig:
    if isinstance(fleet, Mapping):
        return _Reader(Located(dict(fleet), {}, "<fleet>"), Path.cwd()).fleet()
    path = Path(fleet)
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_FLEET_FILE + 1)
    except OSError as exc:
        raise FleetError(f"cannot read the fleet file: {exc.strerror}", location=str(path)) from exc
    if len(data) > MAX_FLEET_FILE:
        raise FleetError(f"too large for a fleet file (at most {MAX_FLEET_FILE} bytes)", location=str(path))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise FleetError("not UTF-8 text: save it as UTF-8", location=f"{path}:{line}") from exc
    return _Reader(load_located(text, str(path)), path.parent).fleet()


def default_prefix(manager: str, domain: str) -> str:
    """``SEPM-EAST-PC`` (Default domain) or ``SEPM-EAST-CORP-PC`` (domain Corp)."""
    middle = "" if domain == DEFAULT_DOMAIN else "-" + re.sub(r"[^A-Za-z0-9]+", "-", domain).strip("-")
    return f"{manager}{middle}-PC".upper()


class _Reader:
    def __init__(self, doc: Located, base: Path) -> None:
        self.doc = doc
        self.base = base

    # --- primitives -------------------------------------------------------------------------------------------
    def _mapping(self, value: Any, path: _FP) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.doc.error(path, f"expected a mapping, got {_kind(value)}")
        return value

    def _keys(
        self, value: dict[str, Any], path: _FP, allowed: set[str], required: Collection[str] = ()
    ) -> None:
        for key in value:
            if key not in allowed:
                raise self.doc.error(
                    (*path, str(key)), f"unknown key; expected one of: {', '.join(sorted(allowed))}"
                )
        for key in sorted(required):
            if key not in value:
                raise self.doc.error(path, f"missing required key {key!r}")

    def _str(self, value: Any, path: _FP) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.doc.error(path, f"expected a non-empty string, got {_kind(value)}")
        return value

    def _bool(self, value: Any, path: _FP) -> bool:
        if not isinstance(value, bool):
            raise self.doc.error(path, f"expected true or false, got {_kind(value)}")
        return value

    def _int(self, value: Any, path: _FP, lo: int, hi: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise self.doc.error(path, f"expected a whole number from {lo} to {hi}, got {value!r}")
        return value

    def _float(self, value: Any, path: _FP, lo: float, hi: float) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
            raise self.doc.error(path, f"expected a number from {lo:g} to {hi:g}, got {value!r}")
        return float(value)

    def _duration(self, value: Any, path: _FP) -> float:
        try:
            return parse_duration(value)
        except ValueError as exc:
            raise self.doc.error(path, str(exc)) from None

    # --- document ---------------------------------------------------------------------------------------------
    def fleet(self) -> FleetConfig:
        top = self._mapping(self.doc.data, ())
        self._keys(top, (), {"clock", "seed", "managers", "behaviours"}, {"managers"})
        clock = self._mapping(top.get("clock", {}), ("clock",))
        self._keys(clock, ("clock",), {"start", "speed"})
        start = self._start(clock.get("start", "2026-12-01T08:00:00Z"), ("clock", "start"))
        speed = self._float(clock.get("speed", 1.0), ("clock", "speed"), 0.0, 1e7)
        seed = self._int(top.get("seed", 0), ("seed",), 0, 2**63 - 1)
        fleet_behaviours = self._behaviours(STRICT, top["behaviours"], ()) if "behaviours" in top else STRICT
        managers_raw = top["managers"]
        if not isinstance(managers_raw, list) or not managers_raw:
            raise self.doc.error(("managers",), "expected a non-empty list of managers")
        owners: dict[str, int] = {}
        managers: list[ManagerConfig] = []
        for i, raw in enumerate(managers_raw):
            site = self._mapping(raw, ("managers", i)).get("site")
            owner = owners.setdefault(site, i) if isinstance(site, str) else i
            managers.append(self._manager(raw, ("managers", i), fleet_behaviours, owner))
        self._cross_check(tuple(managers))
        return FleetConfig(
            start=start, speed=speed, seed=seed, managers=tuple(managers), source=self.doc.source
        )

    def _behaviours(self, base: Behaviours, raw: Any, path: _FP) -> Behaviours:
        try:
            return resolve(base, raw)
        except BehaviourError as exc:
            raise self.doc.error((*path, "behaviours", *exc.path), exc.message) from None

    def _start(self, value: Any, path: _FP) -> datetime:
        if isinstance(value, datetime):
            parsed = value
        else:
            try:
                parsed = datetime.fromisoformat(self._str(value, path).replace("Z", "+00:00"))
            except ValueError:
                raise self.doc.error(path, "expected an ISO 8601 time such as 2026-12-01T08:00:00Z") from None
        if parsed.tzinfo is None:
            raise self.doc.error(path, "the time needs a zone: end it with Z (UTC) or +HH:MM")
        return parsed.astimezone(UTC)

    def _manager(self, raw: Any, path: _FP, fleet_behaviours: Behaviours, owner: int) -> ManagerConfig:
        m = self._mapping(raw, path)
        self._keys(m, path, _MANAGER_KEYS, {"name", "site"})
        owns = owner == path[1]
        if not owns:
            for key in _SITE_OWNED:
                if key in m:
                    raise self.doc.error(
                        (*path, key),
                        f"{key} belong to the site: write them on its first manager (managers[{owner}]) and leave "
                        "them out here (the managers of one site share one database)",
                    )
        name = self._str(m["name"], (*path, "name"))
        if not re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]*$", name):
            raise self.doc.error(
                (*path, "name"), "use letters, digits, '.', '_' and '-' only (e.g. sepm-east)"
            )
        ports_raw = self._mapping(m.get("ports", {}), (*path, "ports"))
        self._keys(ports_raw, (*path, "ports"), {"clients", "console", "api"})
        ports = {
            p: self._int(ports_raw.get(p, 0), (*path, "ports", p), 0, 65535)
            for p in ("clients", "console", "api")
        }
        admin = self._mapping(m.get("admin", {}), (*path, "admin"))
        self._keys(admin, (*path, "admin"), {"username", "password", "domain"})
        domain = admin.get("domain", "")
        if not isinstance(domain, str):
            raise self.doc.error((*path, "admin", "domain"), 'expected a string ("" is the default domain)')
        repl = self._mapping(m.get("replication", {}), (*path, "replication"))
        self._keys(repl, (*path, "replication"), {"partners", "interval"})
        partners_raw = repl.get("partners", [])
        if not isinstance(partners_raw, list):
            raise self.doc.error((*path, "replication", "partners"), "expected a list of site names")
        partners = tuple(
            self._str(p, (*path, "replication", "partners", i)) for i, p in enumerate(partners_raw)
        )
        restart = self._mapping(m.get("restart", {}), (*path, "restart"))
        self._keys(restart, (*path, "restart"), {"downSeconds", "downFor"})
        patch_inh = m.get("patchInheritingGroup", "reject")
        if patch_inh not in PATCH_INHERITING_CHOICES:
            raise self.doc.error(
                (*path, "patchInheritingGroup"), f"expected one of {', '.join(PATCH_INHERITING_CHOICES)}"
            )
        return ManagerConfig(
            name=name,
            site=self._str(m["site"], (*path, "site")),
            host=self._str(m.get("host", "127.0.0.1"), (*path, "host")),
            ports=ports,
            username=self._str(admin.get("username", "admin"), (*path, "admin", "username")),
            password=self._str(admin.get("password", "admin"), (*path, "admin", "password")),
            domain=domain,
            certificate=self._certificate(m.get("certificate", {"generate": {"commonName": name}}), (*path, "certificate")),
            partners=partners,
            replication_interval=self._duration(repl.get("interval", "1h"), (*path, "replication", "interval")),
            groups=self._groups(m.get("groups"), (*path, "groups")) if owns else (),
            clients=self._clients(m.get("clients", {}), (*path, "clients")),
            version=self._str(m.get("version", "14.3.9816.7000"), (*path, "version")),
            restart_down_seconds=self._float(restart.get("downSeconds", 0.5), (*path, "restart", "downSeconds"), 0, 3600),
            restart_down_for=self._duration(restart.get("downFor", 0), (*path, "restart", "downFor")),
            token_lifetime=self._duration(m.get("tokenLifetime", 3600), (*path, "tokenLifetime")),
            max_page_size=self._int(m.get("maxPageSize", 1000), (*path, "maxPageSize"), 1, 100000),
            patch_inheriting=str(patch_inh),
            domains=self._domains(m.get("domains", []), (*path, "domains"), owns, owner),
            behaviours=self._behaviours(fleet_behaviours, m["behaviours"], path) if "behaviours" in m else fleet_behaviours,
            owns_site=owns,
        )  # fmt: skip

    def _certificate(self, raw: Any, path: _FP) -> CertificateConfig:
        c = self._mapping(raw, path)
        self._keys(c, path, {"generate", "certFile", "keyFile"})
        if "generate" in c:
            if "certFile" in c or "keyFile" in c:
                raise self.doc.error(path, "give either generate or certFile + keyFile, not both")
            g = self._mapping(c["generate"], (*path, "generate"))
            self._keys(g, (*path, "generate"), {"commonName", "sans", "keySize", "days"}, {"commonName"})
            sans = g.get("sans", [])
            if not isinstance(sans, list):
                raise self.doc.error(
                    (*path, "generate", "sans"), "expected a list of DNS names or IP addresses"
                )
            return CertificateConfig(
                common_name=self._str(g["commonName"], (*path, "generate", "commonName")),
                sans=tuple(self._str(s, (*path, "generate", "sans", i)) for i, s in enumerate(sans)),
                key_size=self._int(g.get("keySize", 2048), (*path, "generate", "keySize"), 1024, 8192),
                days=self._int(g.get("days", 825), (*path, "generate", "days"), 1, 36500),
            )
        if "certFile" not in c or "keyFile" not in c:
            raise self.doc.error(
                path, "give generate: {commonName: …} or both certFile and keyFile (PEM files)"
            )
        data = []
        for key in ("certFile", "keyFile"):
            file = self.base / self._str(c[key], (*path, key))
            try:
                data.append((file, file.read_bytes()))
            except OSError as exc:
                raise self.doc.error((*path, key), f"cannot read {file}: {exc.strerror or exc}") from None
        try:
            load_pem(data[0][1], data[1][1])  # refused here, located, rather than when the simulator starts
        except CertificateRejected as exc:
            raise self.doc.error(path, f"{exc} ({data[0][0]}, {data[1][0]})") from None
        return CertificateConfig(cert_file=data[0][0], key_file=data[1][0])

    def _groups(self, raw: Any, path: _FP) -> tuple[GroupConfig, ...]:
        if raw is None:
            return (GroupConfig(ROOT_GROUP, False), GroupConfig(ROOT_GROUP + "\\Default Group", True))
        if not isinstance(raw, list) or not raw:
            raise self.doc.error(path, "expected a non-empty list of groups, the first being My Company")
        groups: list[GroupConfig] = []
        seen: set[str] = set()
        for i, item in enumerate(raw):
            g = self._mapping(item, (*path, i))
            self._keys(g, (*path, i), {"name", "inherits", "secureCommunications", "list"}, {"name"})
            name = self._str(g["name"], (*path, i, "name"))
            inherits = self._bool(g.get("inherits", i > 0), (*path, i, "inherits"))
            secure = self._bool(g.get("secureCommunications", True), (*path, i, "secureCommunications"))
            assigned = self._str(g["list"], (*path, i, "list")) if "list" in g else None
            cfg = GroupConfig(name, inherits, secure, assigned)
            if i == 0:
                if name != ROOT_GROUP:
                    raise self.doc.error(
                        (*path, 0, "name"), f"the first group must be the root, {ROOT_GROUP!r}"
                    )
                if inherits:
                    raise self.doc.error(
                        (*path, 0, "inherits"), "the root group has no parent to inherit from"
                    )
            elif cfg.parent not in seen:
                raise self.doc.error(
                    (*path, i, "name"),
                    f"parent group {cfg.parent!r} is not listed before it (write parents first, e.g. My Company\\Laptops)",
                )
            if name in seen:
                raise self.doc.error((*path, i, "name"), "duplicate group")
            seen.add(name)
            groups.append(cfg)
        return tuple(groups)

    def _clients(self, raw: Any, path: _FP) -> ClientsConfig:
        c = self._mapping(raw, path)
        self._keys(
            c, path, {"count", "heartbeat", "offline", "agentVersions", "groups", "namePrefix", "churn"}
        )
        off = self._mapping(c.get("offline", {}), (*path, "offline"))
        self._keys(off, (*path, "offline"), {"share", "forMin", "forMax", "absences"})
        count = self._int(c.get("count", 100), (*path, "count"), 0, 1_000_000)
        absences = self._absences(off, (*path, "offline"), count)
        for_min = self._duration(off.get("forMin", "1d"), (*path, "offline", "forMin"))
        for_max = self._duration(off.get("forMax", "4d"), (*path, "offline", "forMax"))
        if for_max < for_min:
            raise self.doc.error((*path, "offline", "forMax"), "must not be shorter than forMin")
        heartbeat = self._duration(c.get("heartbeat", "5m"), (*path, "heartbeat"))
        if heartbeat < 1:
            raise self.doc.error((*path, "heartbeat"), "must be at least 1s")
        return ClientsConfig(
            count=count,
            heartbeat=heartbeat,
            offline_share=self._float(off.get("share", 0.0), (*path, "offline", "share"), 0.0, 1.0),
            offline_for_min=for_min,
            offline_for_max=for_max,
            agent_versions=self._shares(
                c.get("agentVersions", {"14.3.9816.7000": 1.0}), (*path, "agentVersions")
            ),
            group_shares=self._shares(c["groups"], (*path, "groups")) if "groups" in c else (),
            name_prefix=self._str(c["namePrefix"], (*path, "namePrefix")) if "namePrefix" in c else "",
            churn=self._churn(c.get("churn", {}), (*path, "churn")),
            absences=absences,
        )

    def _range(self, value: Any, path: _FP) -> tuple[float, float]:
        """A duration, or ``[MIN, MAX]`` (MIN ≤ MAX)."""
        if isinstance(value, list):
            if len(value) != 2:
                raise self.doc.error(path, "expected a duration or [MIN, MAX], e.g. [1d, 3d]")
            lo, hi = (self._duration(v, (*path, k)) for k, v in enumerate(value))
            if hi < lo:
                raise self.doc.error((*path, 1), "must not be shorter than the first value")
            return lo, hi
        seconds = self._duration(value, path)
        return seconds, seconds

    def _absences(self, off: dict[str, Any], path: _FP, count: int) -> tuple[Absence, ...]:
        """``offline.absences``: exact absences, instead of ``share``/``forMin``/``forMax``."""
        if "absences" not in off:
            return ()
        for key in ("share", "forMin", "forMax"):
            if key in off:
                raise self.doc.error((*path, key), "give either absences or share/forMin/forMax, not both")
        raw = off["absences"]
        where = (*path, "absences")
        if not isinstance(raw, list):
            raise self.doc.error(where, "expected a list: [{count: N, since: [1d, 2d], back: [3d, 5d]}, …]")
        out: list[Absence] = []
        for i, item in enumerate(raw):
            a = self._mapping(item, (*where, i))
            self._keys(a, (*where, i), {"count", "group", "since", "back"}, {"count", "since"})
            since = self._range(a["since"], (*where, i, "since"))
            back = self._range(a["back"], (*where, i, "back")) if "back" in a else None
            out.append(
                Absence(
                    count=self._int(a["count"], (*where, i, "count"), 0, 1_000_000),
                    since_min=since[0],
                    since_max=since[1],
                    group=self._str(a["group"], (*where, i, "group")) if "group" in a else None,
                    back_min=None if back is None else back[0],
                    back_max=None if back is None else back[1],
                )
            )
        total = sum(a.count for a in out)
        if total > count:
            raise self.doc.error(where, f"{total} clients away, but the population has {count}")
        return tuple(out)

    def _churn(self, raw: Any, path: _FP) -> ChurnConfig:
        c = self._mapping(raw, path)
        self._keys(c, path, {"addPerDay", "removePerDay", "reimagePerDay"})
        return ChurnConfig(
            *(
                self._float(c.get(k, 0), (*path, k), 0.0, 1e6)
                for k in ("addPerDay", "removePerDay", "reimagePerDay")
            )
        )

    def _domains(self, raw: Any, path: _FP, owns: bool, owner: int) -> tuple[DomainConfig, ...]:
        if not isinstance(raw, list):
            raise self.doc.error(
                path, "expected a list of domains: [{name: NAME, groups: [...], clients: {...}}]"
            )
        out: list[DomainConfig] = []
        for i, item in enumerate(raw):
            d = self._mapping(item, (*path, i))
            self._keys(d, (*path, i), {"name", "groups", "clients"}, {"name"})
            name = self._str(d["name"], (*path, i, "name"))
            if name.casefold() == DEFAULT_DOMAIN.casefold():
                raise self.doc.error(
                    (*path, i, "name"), "the Default domain is the manager's top-level groups and clients"
                )
            if any(o.name.casefold() == name.casefold() for o in out):
                raise self.doc.error((*path, i, "name"), f"duplicate domain {name!r}")
            if not owns and "groups" in d:
                raise self.doc.error(
                    (*path, i, "groups"),
                    f"the groups of a domain are written on the first manager of the site (managers[{owner}]); "
                    "leave them out here",
                )
            if owns and "groups" not in d:
                raise self.doc.error(
                    (*path, i),
                    "missing required key 'groups' (the domain's groups, the first being My Company)",
                )
            groups = self._groups(d["groups"], (*path, i, "groups")) if owns else ()
            clients = self._clients(d["clients"], (*path, i, "clients")) if "clients" in d else None
            out.append(DomainConfig(name, groups, clients))
        return tuple(out)

    def _shares(self, raw: Any, path: _FP) -> tuple[tuple[str, float], ...]:
        shares = self._mapping(raw, path)
        if not shares:
            raise self.doc.error(path, "expected at least one entry NAME: SHARE")
        out = tuple((str(k), self._float(v, (*path, str(k)), 0.0, 1.0)) for k, v in shares.items())
        total = sum(v for _, v in out)
        if abs(total - 1.0) > 1e-6:
            raise self.doc.error(path, f"the shares must add up to 1 (they add up to {total:g})")
        return out

    def _cross_check(self, managers: tuple[ManagerConfig, ...]) -> None:
        owners: dict[str, tuple[int, ManagerConfig]] = {}
        for i, m in enumerate(managers):
            if any(o.name == m.name for o in managers[:i]):
                raise self.doc.error(("managers", i, "name"), f"duplicate manager name {m.name!r}")
            owners.setdefault(m.site, (i, m))
        for i, m in enumerate(managers):
            owner_index, owner = owners[m.site]
            self._check_site_member(i, m, owner_index, owner)
            self._check_populations(i, m, owner)
            for j, partner in enumerate(m.partners):
                where = ("managers", i, "replication", "partners", j)
                if partner == m.site:
                    raise self.doc.error(where, "a site cannot replicate with itself")
                other = owners.get(partner)
                if other is None:
                    raise self.doc.error(where, f"no manager of this fleet has site {partner!r}")
                if m.site not in other[1].partners:
                    raise self.doc.error(
                        where, f"partnerships are mutual: add {m.site!r} to the partners of {other[1].name}"
                    )
        self._check_prefixes(managers)

    def _check_site_member(self, i: int, m: ManagerConfig, owner_index: int, owner: ManagerConfig) -> None:
        """A site's groups, domains and lists: one domain per group, lists that exist, behaviours that agree."""
        if m is owner:
            lists = {spec.name for spec in m.behaviours.management_server_lists}
            seen: dict[str, str] = {}
            trees: list[tuple[str, tuple[GroupConfig, ...], _FP]] = [
                (DEFAULT_DOMAIN, m.groups, ("managers", i, "groups"))
            ]
            trees += [
                (d.name, d.groups, ("managers", i, "domains", k, "groups")) for k, d in enumerate(m.domains)
            ]
            for domain, groups, where in trees:
                for k, g in enumerate(groups):
                    if g.list is not None and g.list not in lists:
                        raise self.doc.error(
                            (*where, k, "list"),
                            f"no management server list named {g.list!r}; the site's lists "
                            f"(behaviours.managementServerLists) are: {', '.join(sorted(lists))}",
                        )
                    if g.path == ROOT_GROUP:
                        continue
                    if g.path in seen and seen[g.path] != domain:
                        raise self.doc.error(
                            (*where, k, "name"),
                            f"group {g.path!r} is already in domain {seen[g.path]!r}: a group belongs to one domain",
                        )
                    seen[g.path] = domain
            return
        if m.behaviours.site_part() != owner.behaviours.site_part():
            raise self.doc.error(
                ("managers", i, "behaviours"),
                f"the managers of one site share one database: managementServerLists, certificateWithPolicy, "
                f"deletedRows and rejoin must be the same as on {owner.name} (managers[{owner_index}])",
            )
        known = {d.name for d in owner.domains}
        for k, d in enumerate(m.domains):
            if d.name not in known:
                raise self.doc.error(
                    ("managers", i, "domains", k, "name"),
                    f"site {m.site!r} has no domain {d.name!r}: domains are defined on its first manager, "
                    f"{owner.name}",
                )

    def _check_populations(self, i: int, m: ManagerConfig, owner: ManagerConfig) -> None:
        domains = {d.name: d.groups for d in owner.domains}
        populations: list[tuple[ClientsConfig, tuple[GroupConfig, ...], _FP]] = [
            (m.clients, owner.groups, ("managers", i, "clients"))
        ]
        populations += [
            (d.clients, domains[d.name], ("managers", i, "domains", k, "clients"))
            for k, d in enumerate(m.domains)
            if d.clients is not None and d.name in domains
        ]
        for clients, groups, where in populations:
            paths = {g.path for g in groups}
            for name, _ in clients.group_shares:
                if name not in paths:
                    raise self.doc.error((*where, "groups", name), "not a group of this domain of the site")
            for k, absence in enumerate(clients.absences):
                if absence.group is not None and absence.group not in paths:
                    raise self.doc.error(
                        (*where, "offline", "absences", k, "group"), "not a group of this domain of the site"
                    )

    def _check_prefixes(self, managers: tuple[ManagerConfig, ...]) -> None:
        """Client names must tell their population apart within a site: no prefix may start another."""
        seen: dict[str, list[tuple[str, str]]] = {}
        for i, m in enumerate(managers):
            entries: list[tuple[ClientsConfig, str, _FP]] = [
                (m.clients, DEFAULT_DOMAIN, ("managers", i, "clients"))
            ]
            entries += [
                (d.clients, d.name, ("managers", i, "domains", k, "clients"))
                for k, d in enumerate(m.domains)
                if d.clients is not None
            ]
            for clients, domain, where in entries:
                prefix = (clients.name_prefix or default_prefix(m.name, domain)).upper()
                for other, other_where in seen.setdefault(m.site, []):
                    if prefix.startswith(other) or other.startswith(prefix):
                        raise self.doc.error(
                            (*where, "namePrefix"),
                            f"client names {prefix}… and {other}… ({other_where}) cannot be told apart in site "
                            f"{m.site!r}: give each population a namePrefix that does not start another",
                        )
                seen[m.site].append((prefix, where_text(where)))


def where_text(path: _FP) -> str:
    return dotted(path)


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    return {dict: "a mapping", list: "a list", str: f"the string {value!r}", bool: f"{value}".lower()}.get(
        type(value), repr(value)
    )
