"""``GET computers`` and ``GET groups/{id}/computers``: every sort value and filter the vendor Swagger lists.

* ``sort``: ``COMPUTER_NAME`` (default), ``COMPUTER_ID``, ``COMPUTER_DOMAIN_NAME``, ``DOMAIN_ID`` (anything else:
  400); ``order`` ``ASC``/``DESC``. Ties keep name order.
* ``computerName`` and ``mac``: case-insensitive, ``*`` is a wildcard; ``os``: the Swagger's codes (``Win10``,
  ``Win11``, ``Win2K19`` … repeated or comma-separated); ``lastUpdate`` (ms: records whose status changed after it;
  ``0`` = all); ``domain`` (a domain id).
* ``computer_id`` (a ``uniqueId``), else ``hardware_key``: every other condition but the domain is ignored and the
  current live record is returned (at most one).
* ``feature`` and ``verbose`` are accepted and change nothing (the full record is always returned).

Deleted records (removed or re-imaged machines) are listed with ``deleted: 1`` under ``deletedRows: true``.
Paging is by offset over the fleet *as it is at each call*: churn between two pages shifts the rows.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from starlette.requests import Request

from reconciler.sim.groups import Group
from reconciler.sim.manager import Manager
from reconciler.sim.population import Population
from reconciler.sim.site import Domain
from reconciler.sim.web import ApiError, query_int

__all__ = ["OS_NAMES", "ComputerQuery", "page_of_computers", "parse_query", "render"]

OS_NAMES = (
    ("Win10", "Windows 10 Enterprise Edition"),
    ("Win11", "Windows 11 Enterprise Edition"),
    ("Win2K19", "Windows Server 2019 Standard Edition"),
)
_OS_CODES = frozenset(
    [
        "CentOs",
        "Debian",
        "Fedora",
        "MacOSX",
        "Oracle",
        "OSX",
        "RedHat",
        "SUSE",
        "Ubuntu",
        "Win10",
        "Win11",
        "Win2K",
        "Win7",
        "Win8",
        "Win81",
        "WinEmb7",
        "WinEmb8",
        "WinEmb81",
        "WinFundamental",
        "WinNT",
        "Win2K3",
        "Win2K8",
        "Win2K8R2",
        "Win2K12",
        "Win2K12R2",
        "Win2K16",
        "Win2K19",
        "Win2K22",
        "WinVista",
        "WinXP",
        "WinXPEmb",
        "WinXPProf64",
    ]
)
_SORTS = {
    "COMPUTERNAME": "COMPUTER_NAME",
    "COMPUTERID": "COMPUTER_ID",
    "COMPUTERDOMAINNAME": "COMPUTER_DOMAIN_NAME",
    "DOMAINID": "DOMAIN_ID",
}  # underscores and case ignored
_MAC_MASK = 0x00FFFFFFFFFF


@dataclass(frozen=True, slots=True)
class ComputerQuery:
    page: int
    size: int
    since: int
    order: str
    sort: str
    name: str | None
    os: frozenset[int] | None
    mac: str | None
    computer_id: tuple[int, int] | None
    hardware_key: tuple[int, int] | None


def _order(request: Request) -> str:
    order = request.query_params.get("order", "ASC").upper()
    if order not in ("ASC", "DESC"):
        raise ApiError(400, f"order must be ASC or DESC, got {request.query_params.get('order')!r}")
    return order


def _hex128(raw: str | None, name: str) -> tuple[int, int] | None:
    if not raw:
        return None
    if not re.fullmatch(r"[0-9A-Fa-f]{32}", raw):
        return (-1, -1)  # matches nothing, like an id of no computer
    return int(raw[:16], 16), int(raw[16:], 16)


def parse_query(request: Request, max_page_size: int) -> ComputerQuery:
    params = request.query_params
    raw_sort = params.get("sort", "COMPUTER_NAME")
    sort = _SORTS.get(raw_sort.replace("_", "").upper())
    if sort is None:
        raise ApiError(
            400,
            f"sort must be COMPUTER_NAME, COMPUTER_ID, COMPUTER_DOMAIN_NAME or DOMAIN_ID, got {raw_sort!r}",
        )
    os_codes: frozenset[int] | None = None
    raw_os = [code.strip() for value in params.getlist("os") for code in value.split(",") if code.strip()]
    if raw_os:
        unknown = sorted(set(raw_os) - _OS_CODES)
        if unknown:
            raise ApiError(400, f"os: unknown value(s) {', '.join(unknown)}")
        os_codes = frozenset(i for i, (code, _) in enumerate(OS_NAMES) if code in raw_os)
    return ComputerQuery(
        page=query_int(request, "pageIndex", 1, lo=1),
        size=query_int(request, "pageSize", 20, lo=1, hi=max_page_size),
        since=query_int(request, "lastUpdate", -1, lo=0),
        order=_order(request),
        sort=sort,
        name=params.get("computerName") or None,
        os=os_codes,
        mac=params.get("mac") or None,
        computer_id=_hex128(params.get("computer_id"), "computer_id"),
        hardware_key=_hex128(params.get("hardware_key"), "hardware_key"),
    )


def _wildcard(pattern: str) -> re.Pattern[str]:
    return re.compile("^" + ".*".join(map(re.escape, pattern.split("*"))) + "$", re.IGNORECASE)


def mac_of(hardware: int) -> str:
    h = f"{hardware & _MAC_MASK:012X}"
    return f"{h[0:2]}-{h[2:4]}-{h[4:6]}-{h[6:8]}-{h[8:10]}-{h[10:12]}"


def _rows(p: Population, q: ComputerQuery, group: Group | None, show_deleted: bool) -> npt.NDArray[np.intp]:
    """The rows of ``p`` that match ``q``, in name order."""
    fleet = p.fleet
    if q.computer_id is not None or q.hardware_key is not None:
        hi, lo = q.computer_id if q.computer_id is not None else q.hardware_key  # type: ignore[misc]
        column = fleet.uid if q.computer_id is not None else fleet.hardware
        found = np.flatnonzero(fleet.live & (column[:, 0] == hi) & (column[:, 1] == lo))
        return found[-1:]  # the current live record
    mask = np.ones(fleet.count, dtype=np.bool_) if show_deleted else fleet.live.copy()
    if group is not None:
        mask &= fleet.group == group.index
    if q.since >= 0:
        mask &= fleet.changed_at > q.since
    if q.os is not None:
        mask &= np.isin(fleet.os, list(q.os))
    if q.name is not None and "*" not in q.name:
        named = np.zeros(fleet.count, dtype=np.bool_)
        named[p.rows_named(q.name)] = True
        mask &= named
    order = p.order()
    rows = order[mask[order]]
    checks: list[Callable[[int], bool]] = []
    if q.name is not None and "*" in q.name:
        name_re = _wildcard(q.name)
        checks.append(lambda r: bool(name_re.match(p.name(r))))
    if q.mac is not None:
        mac_re = _wildcard(q.mac.replace(":", "-"))
        checks.append(lambda r: bool(mac_re.match(mac_of(int(fleet.hardware[r, 0])))))
    if checks:
        rows = np.asarray([r for r in rows.tolist() if all(check(r) for check in checks)], dtype=np.intp)
    return rows


def page_of_computers(
    pops: list[Population], q: ComputerQuery, group: Group | None, show_deleted: bool
) -> tuple[list[tuple[Population, int]], int]:
    """The page ``q`` asks for, as ``(population, row)`` pairs, and the total number of matching records."""
    parts = [(k, _rows(p, q, group, show_deleted)) for k, p in enumerate(pops)]
    owner = np.concatenate(
        [np.full(rows.size, k, dtype=np.intp) for k, rows in parts] or [np.zeros(0, np.intp)]
    )
    rows = np.concatenate([rows for _, rows in parts] or [np.zeros(0, np.intp)])
    if q.sort == "COMPUTER_ID" and rows.size:
        hi = np.concatenate([pops[k].fleet.uid[r, 0] for k, r in parts])
        lo = np.concatenate([pops[k].fleet.uid[r, 1] for k, r in parts])
        by = np.lexsort((lo, hi))
        owner, rows = owner[by], rows[by]
    if q.order == "DESC":
        owner, rows = owner[::-1], rows[::-1]
    start = (q.page - 1) * q.size
    chosen = [
        (pops[int(k)], int(r))
        for k, r in zip(owner[start : start + q.size], rows[start : start + q.size], strict=True)
    ]
    return chosen, int(rows.size)


def render(
    m: Manager, domain_of: Callable[[Population], Domain], chosen: list[tuple[Population, int]], now: int
) -> list[dict[str, Any]]:
    """The ``Computer`` objects of ``chosen`` as manager ``m`` answers them."""
    site = m.site_obj
    servers = [(s.host_name, s.server_id) for s in site.managers]
    summaries: dict[int, list[dict[str, Any]]] = {}
    agents: dict[int, list[str]] = {}
    out = []
    for p, i in chosen:
        key = id(p)
        if key not in summaries:
            domain = domain_of(p)
            summary = {"id": domain.id, "name": domain.name}
            summaries[key] = [
                {"id": g.id, "name": g.short_name, "fullPathName": g.path, "domain": summary}
                for g in domain.tree.groups
            ]
            agents[key] = [v for v, _ in p.cfg.agent_versions]
        fleet = p.fleet
        versions = domain_of(p).tree.versions
        policy = versions[int(fleet.applied[i])]
        uid = f"{int(fleet.uid[i, 0]):016X}{int(fleet.uid[i, 1]):016X}"
        deleted = bool(fleet.deleted[i])
        away = bool(fleet.off_start[i] <= now < fleet.off_end[i])
        online = not (deleted or away or bool(fleet.orphaned[i]))
        host, server_id = servers[int(fleet.last_server[i])]
        hardware = int(fleet.hardware[i, 0])
        out.append(
            {
                "computerName": p.name(i),
                "uniqueId": uid,
                "agentId": uid,
                "hardwareKey": f"{hardware:016X}{int(fleet.hardware[i, 1]):016X}",
                "agentVersion": agents[key][int(fleet.agent[i])],
                "agentType": "105",
                "onlineStatus": 1 if online else 0,
                "lastUpdateTime": int(fleet.last_ok[i]),
                "agentTimeStamp": int(fleet.last_ok[i]),
                "creationTime": int(fleet.created[i]),
                "profileSerialNo": policy.serial,
                "profileVersion": str(policy.number),
                "group": summaries[key][int(fleet.group[i])],
                "lastServerName": host,
                "lastServerId": server_id,
                "lastSiteName": site.name,
                "lastSiteId": m.site_id,
                "deleted": 1 if deleted else 0,
                "domainOrWorkgroup": "CORP",
                "operatingSystem": OS_NAMES[int(fleet.os[i])][1],
                "macAddresses": [mac_of(hardware)],
                "ipAddresses": [f"198.18.{(i >> 8) & 255}.{i & 255}"],
                "logonUserName": f"user{i}",
            }
        )
    return out
