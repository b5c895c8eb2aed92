"""The fleet file: the virtual clock, the managers, their groups, certificates, partners and client populations.

Keys are camelCase as in the issue's example; unknown keys are errors (a typo must not be silently ignored). Every
error names ``file:line``, the dotted field and what to write instead. Durations are ``30s``/``5m``/``24h``/``7d``
(or a number of seconds). See ``docs/simulator.md`` for every key and its default.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reconciler.sim.certs import load_pem
from reconciler.sim.errors import CertificateRejected, FleetError
from reconciler.sim.yamlmarks import Located, load_located

__all__ = [
    "ROOT_GROUP",
    "CertificateConfig",
    "ClientsConfig",
    "FleetConfig",
    "GroupConfig",
    "ManagerConfig",
    "load_fleet",
    "parse_duration",
]

ROOT_GROUP = "My Company"
PATCH_INHERITING_CHOICES = ("reject", "ignore", "parent")
_DURATION = re.compile(r"^(?:\d+[dhms])+$")
_DURATION_PART = re.compile(r"(\d+)([dhms])")
_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_FP = tuple[str | int, ...]


def parse_duration(value: Any) -> float:
    """``30s``/``5m``/``24h``/``7d``/``1d12h`` or a number of seconds → seconds. Raises :class:`ValueError`."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30s, 5m, 24h or 7d")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("durations are never negative")
        return float(value)
    if isinstance(value, str) and _DURATION.match(value.strip()):
        return float(sum(int(n) * _UNITS[u] for n, u in _DURATION_PART.findall(value)))
    raise ValueError(
        f"invalid duration {value!r}: use a number and a unit s, m, h or d, e.g. 30s, 5m, 24h, 7d"
    )


@dataclass(frozen=True, slots=True)
class GroupConfig:
    path: str  # full path, e.g. "My Company\\Laptops"
    inherits: bool
    secure_communications: bool = True

    @property
    def parent(self) -> str | None:
        return self.path.rsplit("\\", 1)[0] if "\\" in self.path else None

    @property
    def short_name(self) -> str:
        return self.path.rsplit("\\", 1)[-1]


@dataclass(frozen=True, slots=True)
class CertificateConfig:
    common_name: str | None = None  # generate a self-signed RSA certificate with this CN…
    sans: tuple[str, ...] = ()
    key_size: int = 2048
    days: int = 825
    cert_file: Path | None = None  # …or load these PEM files
    key_file: Path | None = None


@dataclass(frozen=True, slots=True)
class ClientsConfig:
    count: int = 100
    heartbeat: float = 300.0  # seconds
    offline_share: float = 0.0
    offline_for_min: float = 86400.0
    offline_for_max: float = 4 * 86400.0
    agent_versions: tuple[tuple[str, float], ...] = (("14.3.9816.7000", 1.0),)
    group_shares: tuple[tuple[str, float], ...] = ()  # empty: spread evenly over every group but the root
    name_prefix: str = ""


@dataclass(frozen=True, slots=True)
class ManagerConfig:
    name: str
    site: str
    host: str = "127.0.0.1"
    ports: Mapping[str, int] = field(default_factory=lambda: {"clients": 0, "console": 0, "api": 0})
    username: str = "admin"
    password: str = "admin"  # noqa: S105 - the simulator's own fake account, not a secret of anyone
    domain: str = ""
    certificate: CertificateConfig = CertificateConfig()
    partners: tuple[str, ...] = ()
    replication_interval: float = 3600.0
    groups: tuple[GroupConfig, ...] = ()
    clients: ClientsConfig = ClientsConfig()
    version: str = "14.3.9816.7000"
    restart_down_seconds: float = 0.5  # real seconds the ports refuse connections during a restart
    restart_down_for: float = 0.0  # …and simulated seconds (both must pass)
    token_lifetime: float = 3600.0  # real seconds
    max_page_size: int = 1000
    patch_inheriting: str = "reject"


@dataclass(frozen=True, slots=True)
class FleetConfig:
    start: datetime
    speed: float
    seed: int
    managers: tuple[ManagerConfig, ...]
    source: str = "<fleet>"

    def manager(self, name: str) -> ManagerConfig:
        for m in self.managers:
            if m.name == name:
                return m
        raise KeyError(name)


MAX_FLEET_FILE = 256 * 1024  # bytes: a fleet file is a page of YAML; PyYAML parses hostile ones slowly


def load_fleet(fleet: FleetConfig | Mapping[str, Any] | str | Path) -> FleetConfig:
    """A fleet from a YAML file path, a YAML/JSON-like mapping, or an already-built :class:`FleetConfig`.

    Raises :class:`~reconciler.sim.errors.FleetError` naming ``file:line``, the field and the fix.
    """
    if isinstance(fleet, FleetConfig):
        return fleet
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
        self._keys(top, (), {"clock", "seed", "managers"}, {"managers"})
        clock = self._mapping(top.get("clock", {}), ("clock",))
        self._keys(clock, ("clock",), {"start", "speed"})
        start = self._start(clock.get("start", "2026-12-01T08:00:00Z"), ("clock", "start"))
        speed = self._float(clock.get("speed", 1.0), ("clock", "speed"), 0.0, 1e7)
        seed = self._int(top.get("seed", 0), ("seed",), 0, 2**63 - 1)
        managers_raw = top["managers"]
        if not isinstance(managers_raw, list) or not managers_raw:
            raise self.doc.error(("managers",), "expected a non-empty list of managers")
        managers = tuple(self._manager(m, ("managers", i)) for i, m in enumerate(managers_raw))
        self._cross_check(managers)
        return FleetConfig(start=start, speed=speed, seed=seed, managers=managers, source=self.doc.source)

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

    def _manager(self, raw: Any, path: _FP) -> ManagerConfig:
        m = self._mapping(raw, path)
        allowed = {
            "name", "site", "host", "ports", "admin", "certificate", "replication", "groups", "clients",
            "version", "restart", "tokenLifetime", "maxPageSize", "patchInheritingGroup",
        }  # fmt: skip
        self._keys(m, path, allowed, {"name", "site"})
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
            groups=self._groups(m.get("groups"), (*path, "groups")),
            clients=self._clients(m.get("clients", {}), (*path, "clients")),
            version=self._str(m.get("version", "14.3.9816.7000"), (*path, "version")),
            restart_down_seconds=self._float(restart.get("downSeconds", 0.5), (*path, "restart", "downSeconds"), 0, 3600),
            restart_down_for=self._duration(restart.get("downFor", 0), (*path, "restart", "downFor")),
            token_lifetime=self._duration(m.get("tokenLifetime", 3600), (*path, "tokenLifetime")),
            max_page_size=self._int(m.get("maxPageSize", 1000), (*path, "maxPageSize"), 1, 100000),
            patch_inheriting=str(patch_inh),
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
            self._keys(g, (*path, i), {"name", "inherits", "secureCommunications"}, {"name"})
            name = self._str(g["name"], (*path, i, "name"))
            inherits = self._bool(g.get("inherits", i > 0), (*path, i, "inherits"))
            secure = self._bool(g.get("secureCommunications", True), (*path, i, "secureCommunications"))
            cfg = GroupConfig(name, inherits, secure)
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
        self._keys(c, path, {"count", "heartbeat", "offline", "agentVersions", "groups", "namePrefix"})
        off = self._mapping(c.get("offline", {}), (*path, "offline"))
        self._keys(off, (*path, "offline"), {"share", "forMin", "forMax"})
        for_min = self._duration(off.get("forMin", "1d"), (*path, "offline", "forMin"))
        for_max = self._duration(off.get("forMax", "4d"), (*path, "offline", "forMax"))
        if for_max < for_min:
            raise self.doc.error((*path, "offline", "forMax"), "must not be shorter than forMin")
        heartbeat = self._duration(c.get("heartbeat", "5m"), (*path, "heartbeat"))
        if heartbeat < 1:
            raise self.doc.error((*path, "heartbeat"), "must be at least 1s")
        return ClientsConfig(
            count=self._int(c.get("count", 100), (*path, "count"), 0, 1_000_000),
            heartbeat=heartbeat,
            offline_share=self._float(off.get("share", 0.0), (*path, "offline", "share"), 0.0, 1.0),
            offline_for_min=for_min,
            offline_for_max=for_max,
            agent_versions=self._shares(
                c.get("agentVersions", {"14.3.9816.7000": 1.0}), (*path, "agentVersions")
            ),
            group_shares=self._shares(c["groups"], (*path, "groups")) if "groups" in c else (),
            name_prefix=str(c.get("namePrefix", "")),
        )

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
        by_site = {}
        for i, m in enumerate(managers):
            if any(o.name == m.name for o in managers[:i]):
                raise self.doc.error(("managers", i, "name"), f"duplicate manager name {m.name!r}")
            if m.site in by_site:
                raise self.doc.error(
                    ("managers", i, "site"), f"duplicate site {m.site!r}: one manager per site"
                )
            by_site[m.site] = m
        for i, m in enumerate(managers):
            group_paths = {g.path for g in m.groups}
            for name, _ in m.clients.group_shares:
                if name not in group_paths:
                    raise self.doc.error(
                        ("managers", i, "clients", "groups", name), "not a group of this manager"
                    )
            for j, partner in enumerate(m.partners):
                where = ("managers", i, "replication", "partners", j)
                if partner == m.site:
                    raise self.doc.error(where, "a site cannot replicate with itself")
                other = by_site.get(partner)
                if other is None:
                    raise self.doc.error(where, f"no manager of this fleet has site {partner!r}")
                if m.site not in other.partners:
                    raise self.doc.error(
                        where, f"partnerships are mutual: add {m.site!r} to the partners of {other.name}"
                    )


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    return {dict: "a mapping", list: "a list", str: f"the string {value!r}", bool: f"{value}".lower()}.get(
        type(value), repr(value)
    )
