"""The fleet file: the virtual clock, the behaviours, the managers, their sites, domains, groups, certificates,
partners and client populations.

Keys are camelCase; unknown keys are errors (a typo must not be silently ignored). Every error names ``file:line``,
the dotted field and what to write instead (the reader is :mod:`reconciler.sim.fleetfile`). Durations are
``30s``/``5m``/``24h``/``7d`` (or a number of seconds). See ``docs/simulator.md`` for every key and its default.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from reconciler.sim.behaviours import STRICT, Behaviours

__all__ = [
    "DEFAULT_DOMAIN",
    "ROOT_GROUP",
    "Absence",
    "CertificateConfig",
    "ChurnConfig",
    "ClientsConfig",
    "DomainConfig",
    "FleetConfig",
    "GroupConfig",
    "ManagerConfig",
    "load_fleet",
    "parse_duration",
]

ROOT_GROUP = "My Company"
DEFAULT_DOMAIN = "Default"
_DURATION = re.compile(r"^(?:\d+[dhms])+$")
_DURATION_PART = re.compile(r"(\d+)([dhms])")
_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


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
    list: str | None = None  # the management server list assigned (None: the site's first list)

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
class ChurnConfig:
    """Machines added, removed and re-imaged (same name, new ``uniqueId``) per simulated day."""

    add_per_day: float = 0.0
    remove_per_day: float = 0.0
    reimage_per_day: float = 0.0

    @property
    def active(self) -> bool:
        return bool(self.add_per_day or self.remove_per_day or self.reimage_per_day)


@dataclass(frozen=True, slots=True)
class Absence:
    """Exactly ``count`` clients away at the start (in ``group`` when given): gone since between ``since_min`` and
    ``since_max`` seconds before the start (their last check-in), back between ``back_min`` and ``back_max`` seconds
    after it — or never (``back_min`` None)."""

    count: int
    since_min: float
    since_max: float
    group: str | None = None
    back_min: float | None = None
    back_max: float | None = None


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
    churn: ChurnConfig = ChurnConfig()
    absences: tuple[Absence, ...] = ()  # exact absences instead of offline_share (see Absence)


@dataclass(frozen=True, slots=True)
class DomainConfig:
    """A domain beside ``Default``. Its groups are written on the first manager of the site (empty elsewhere);
    ``clients`` are the domain's clients homed on the manager that lists them."""

    name: str
    groups: tuple[GroupConfig, ...] = ()
    clients: ClientsConfig | None = None


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
    groups: tuple[
        GroupConfig, ...
    ] = ()  # the Default domain's (empty on a manager that is not its site's first)
    clients: ClientsConfig = ClientsConfig()
    version: str = "14.3.9816.7000"
    restart_down_seconds: float = 0.5  # real seconds the ports refuse connections during a restart
    restart_down_for: float = 0.0  # …and simulated seconds (both must pass)
    token_lifetime: float = 3600.0  # real seconds
    max_page_size: int = 1000
    patch_inheriting: str = "reject"
    domains: tuple[DomainConfig, ...] = ()
    behaviours: Behaviours = STRICT
    owns_site: bool = True  # the first manager of its site in the file: the site's groups, domains, partners


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

    def sites(self) -> dict[str, list[ManagerConfig]]:
        """The managers of each site, in file order (the first one owns the site's definition)."""
        out: dict[str, list[ManagerConfig]] = {}
        for m in self.managers:
            out.setdefault(m.site, []).append(m)
        return out


def load_fleet(fleet: FleetConfig | Mapping[str, Any] | str | Path) -> FleetConfig:
    """A fleet from a YAML file path, a YAML/JSON-like mapping, or an already-built :class:`FleetConfig`.

    Raises :class:`~reconciler.sim.errors.FleetError` naming ``file:line``, the field and the fix.
    """
    from reconciler.sim.fleetfile import read_fleet  # the reader needs these classes: imported late

    return fleet if isinstance(fleet, FleetConfig) else read_fleet(fleet)
