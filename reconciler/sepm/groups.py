"""Client groups, their inheritance, and their ``secure_communications`` flag.

A group with ``policyInheritanceEnabled`` takes its settings from its parent, so its effective flag is the one of the
nearest ancestor that does not inherit — its *source*. Only sources can be PATCHed (NOTES.md [A]). Which groups the
reconciler manages:

* ``rollout.clients.groups`` empty: every group that does not inherit (every source); all clients are in scope;
* otherwise the listed groups that do not inherit; the clients in scope are those of every group whose source is
  one of them (the listed groups and the groups inheriting from them). A listed group that inherits from a group
  that is not listed cannot be changed on its own: that is reported, never guessed around.

Settings are read at the group's ``defaultLocationId`` (for an inheriting group SEPM gives its source's), whole
(:mod:`reconciler.sepm.settings`), and reused from a :class:`~reconciler.sepm.settings.SettingsCache` while the
group's policy serial does not move. ``domain`` (a domain id) scopes the group listing to one domain.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.core.observation import GroupObservation
from reconciler.errors import Error
from reconciler.sepm.client import SepmClient
from reconciler.sepm.paging import iter_items
from reconciler.sepm.serials import parse_policy_serial
from reconciler.sepm.settings import FLAG_PATH, SettingsCache, read_settings, settings_path

__all__ = [
    "GroupScope",
    "RawGroup",
    "fetch_groups",
    "flag_of",
    "observe_groups",
    "raw_group",
    "read_secure_communications",
    "resolve_scope",
    "settings_path",
]

SEPARATOR = "\\"


@dataclass(frozen=True, slots=True)
class RawGroup:
    """A group as ``GET groups`` lists it, reduced to what the reconciler uses."""

    id: str
    full_path_name: str
    inherits: bool
    default_location_id: str | None
    policy_serial: str | None
    domain_id: str | None
    domain_name: str | None

    @property
    def parent_path(self) -> str | None:
        head, sep, _ = self.full_path_name.rpartition(SEPARATOR)
        return head if sep else None


def raw_group(item: dict[str, Any]) -> RawGroup | None:
    """The group in one item of ``GET groups``, or None when it has no id or path."""
    gid, path = item.get("id"), item.get("fullPathName") or item.get("name")
    if not isinstance(gid, str) or not isinstance(path, str):
        return None
    domain: dict[str, Any] = item["domain"] if isinstance(item.get("domain"), dict) else {}
    serial = item.get("policySerialNumber")
    location = item.get("defaultLocationId")
    return RawGroup(
        id=gid,
        full_path_name=path,
        inherits=item.get("policyInheritanceEnabled") is True,
        default_location_id=location if isinstance(location, str) and location else None,
        policy_serial=serial if isinstance(serial, str) and serial else None,
        domain_id=domain.get("id") if isinstance(domain.get("id"), str) else None,
        domain_name=domain.get("name") if isinstance(domain.get("name"), str) else None,
    )


async def fetch_groups(
    client: SepmClient, *, domain: str | None = None, page_size: int = 1000
) -> tuple[list[RawGroup], list[str]]:
    """Every group of the manager (of ``domain``, a domain id, when given; all pages), and a note for each listed
    item that is not a usable group."""
    groups: list[RawGroup] = []
    problems: list[str] = []
    params = {"domain": domain} if domain else None
    async for item in iter_items(client, "groups", params=params, page_size=page_size):
        group = raw_group(item)
        if group is None:
            problems.append(f"groups: an entry has no id or fullPathName ({sorted(item)[:6]}…); ignored")
        else:
            groups.append(group)
    return groups, problems


@dataclass(frozen=True, slots=True)
class GroupScope:
    """Which groups the reconciler manages, how every group resolves, and which clients are in scope."""

    groups: tuple[RawGroup, ...]  # every group of the manager
    source: dict[
        str, str | None
    ]  # group id -> id of the group it takes its settings from (None: cannot resolve)
    managed: frozenset[str]  # ids of the groups the reconciler PATCHes
    in_scope: frozenset[str]  # ids of the groups whose clients are waited for
    problems: tuple[str, ...]


def resolve_scope(groups: Sequence[RawGroup], listed: Sequence[str]) -> GroupScope:
    """Resolve inheritance and select the managed groups from ``rollout.clients.groups`` (``listed``)."""
    by_path = {(g.domain_id, g.full_path_name.casefold()): g for g in groups}
    problems: list[str] = []
    source: dict[str, str | None] = {}

    def resolve(group: RawGroup) -> str | None:
        seen: set[str] = set()
        current = group
        while current.inherits:
            if current.id in seen:  # pragma: no cover - a cycle cannot come from a path tree
                return None
            seen.add(current.id)
            parent_path = current.parent_path
            if parent_path is None:  # a root group has nothing to inherit from: it is its own source
                return current.id
            parent = by_path.get((current.domain_id, parent_path.casefold()))
            if parent is None:
                problems.append(
                    f"group {group.full_path_name!r} inherits from {parent_path!r}, which the manager did not "
                    "list: its verification flag is unknown"
                )
                return None
            current = parent
        return current.id

    for group in groups:
        source[group.id] = resolve(group)

    if not listed:
        managed = frozenset(gid for gid, src in source.items() if src == gid)
    else:
        chosen: set[str] = set()
        by_name: dict[str, list[RawGroup]] = {}
        for g in groups:
            by_name.setdefault(g.full_path_name.casefold(), []).append(g)
        for name in listed:
            matches = by_name.get(name.casefold(), [])
            if not matches:
                problems.append(
                    f"spec.rollout.clients.groups names {name!r}, which the manager does not have "
                    "(group names are full paths such as 'My Company\\\\Laptops')"
                )
            for g in matches:
                src = source.get(g.id)
                if src == g.id:
                    chosen.add(g.id)
                elif src is not None:
                    problems.append(
                        f"group {g.full_path_name!r} inherits its settings from "
                        f"{_path_of(groups, src)!r}, which rollout.clients.groups does not list: list that group "
                        "too, or turn off inheritance on this one"
                    )
        managed = frozenset(chosen)
    in_scope = frozenset(gid for gid, src in source.items() if src is not None and src in managed)
    return GroupScope(tuple(groups), source, managed, in_scope, tuple(problems))


def _path_of(groups: Iterable[RawGroup], gid: str) -> str:
    return next((g.full_path_name for g in groups if g.id == gid), gid)


def flag_of(settings: Any) -> bool | None:
    """``configuration.general_settings.security_settings.secure_communications``, or None when absent."""
    node = settings
    for key in FLAG_PATH:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node if isinstance(node, bool) else None


async def read_secure_communications(client: SepmClient, group_id: str, location_id: str) -> bool | None:
    """The flag in the settings of one group at one location (None when the answer lacks it)."""
    return flag_of(await client.get_json(settings_path(group_id, location_id)))


async def observe_groups(
    client: SepmClient, scope: GroupScope, *, concurrency: int = 8, cache: SettingsCache | None = None
) -> tuple[tuple[GroupObservation, ...], list[str]]:
    """The in-scope groups with their effective flag and management server list (where the settings show it); the
    settings of every managed group are read concurrently (or taken from ``cache`` while the group's policy serial
    has not moved)."""
    by_id = {g.id: g for g in scope.groups}
    limit = asyncio.Semaphore(concurrency)
    problems: list[str] = []

    async def settings(gid: str) -> tuple[bool | None, str | None]:
        group = by_id[gid]
        if group.default_location_id is None:
            problems.append(
                f"group {group.full_path_name!r} has no defaultLocationId: its flag cannot be read"
            )
            return None, None
        document = cache.get(gid, group.default_location_id, group.policy_serial) if cache else None
        if document is None:
            async with limit:
                try:
                    document = await read_settings(client, gid, group.default_location_id)
                except Error as exc:
                    problems.append(f"settings of group {group.full_path_name!r}: {exc}")
                    return None, None
            if cache is not None:
                cache.put(document, group.policy_serial)
        value = document.secure_communications
        if value is None:
            problems.append(
                f"settings of group {group.full_path_name!r} at location {group.default_location_id}: no "
                f"{'.'.join(FLAG_PATH)} in the answer"
            )
        return value, document.list_name

    managed = sorted(scope.managed)
    read = dict(zip(managed, await asyncio.gather(*(settings(g) for g in managed)), strict=True))
    flags = {gid: flag for gid, (flag, _) in read.items()}
    lists = {gid: name for gid, (_, name) in read.items()}
    observed = []
    for group in sorted(scope.groups, key=lambda g: g.full_path_name.casefold()):
        if group.id not in scope.in_scope:
            continue
        src = scope.source[group.id]
        source_group = by_id[src] if src is not None else None
        observed.append(
            GroupObservation(
                id=group.id,
                full_path_name=group.full_path_name,
                inherits=group.id != src,
                managed=group.id in scope.managed,
                secure_communications=flags.get(src) if src is not None else None,
                policy_serial=group.policy_serial,
                policy_time=parse_policy_serial(group.policy_serial) if group.policy_serial else None,
                location_id=source_group.default_location_id if source_group else group.default_location_id,
                domain=group.domain_name or group.domain_id,
                list_name=lists.get(src) if src is not None else None,
            )
        )
        if group.policy_serial and observed[-1].policy_time is None:
            problems.append(
                f"group {group.full_path_name!r}: policySerialNumber {group.policy_serial!r} is not in the "
                "vendor's format XXXX-MM/DD/YYYY HH:MM:SS mmm"
            )
    return tuple(observed), problems
