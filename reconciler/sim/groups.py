"""The group tree of one domain, its policy serials and the location settings that carry the verification flag.

* Group ids are 32 uppercase hex digits derived from the fleet seed, the domain (none for ``Default``) and the full
  path, so replicated sites share them (as sites of one replicated database do).
* A group with ``policyInheritanceEnabled`` takes its settings — and its management server list — from the nearest
  ancestor that does not inherit. Its ``defaultLocationId`` is that ancestor's (as the vendor's Swagger describes).
* Every policy save is a new policy version: the group that owns the settings and every group inheriting from it
  get a new ``policySerialNumber`` ``XXXX-MM/DD/YYYY HH:MM:SS mmm`` (first 4 hex digits of the group id, GMT,
  virtual clock) and ``policyDate``. A version records what a client applies: the verification flag and the list
  (with its protocol at that time).
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from reconciler.sim.clock import ms_to_datetime
from reconciler.sim.fleet import GroupConfig
from reconciler.sim.msl import ListStore, MsList
from reconciler.sim.settings import SettingsError, initial_document, merge, replace, validate

__all__ = ["Group", "GroupTree", "PolicyVersion", "SettingsError", "hex_id", "policy_serial"]

_SEM_SERVER = "configuration.communication_settings.sem_server"


def hex_id(*parts: object) -> str:
    """A deterministic SEPM-style id: 32 uppercase hex digits."""
    return hashlib.sha256("\x00".join(map(str, parts)).encode()).hexdigest()[:32].upper()


def policy_serial(group_id: str, time_ms: int) -> str:
    """``718B-09/04/2023 12:56:58 775``: first 4 hex digits of the group id, GMT time, milliseconds."""
    return f"{group_id[:4]}-{ms_to_datetime(time_ms):%m/%d/%Y %H:%M:%S} {time_ms % 1000:03d}"


@dataclass(frozen=True, slots=True)
class PolicyVersion:
    """One policy a group had: what a client applies at check-in."""

    group: int
    serial: str
    time_ms: int
    secure: bool  # effective secure_communications of this policy
    number: int  # profileVersion
    list: int  # index of the management server list in the site's ListStore
    https: bool  # that list's protocol when this policy was saved


@dataclass(slots=True)
class Group:
    index: int
    id: str
    path: str
    parent: int | None
    inherits: bool
    location_id: str
    created_ms: int
    list_id: str  # own management server list (meaningful when not inheriting)
    settings: dict[str, Any] = field(default_factory=dict)  # own settings, without sem_server
    policy: int = -1  # index of the current PolicyVersion
    modified_ms: int = 0

    @property
    def short_name(self) -> str:
        return self.path.rsplit("\\", 1)[-1]

    @property
    def own_secure(self) -> bool:
        return bool(
            self.settings["configuration"]["general_settings"]["security_settings"]["secure_communications"]
        )


class GroupTree:
    """The groups of one domain of a site and every policy version they ever had."""

    def __init__(
        self,
        configs: tuple[GroupConfig, ...],
        *,
        seed: int,
        domain: str,
        domain_id: str,
        start_ms: int,
        heartbeat: float,
        lists: ListStore,
    ) -> None:
        self.domain = domain
        self.domain_id = domain_id
        self.lists = lists
        self.groups: list[Group] = []
        self.by_path: dict[str, Group] = {}
        self.by_id: dict[str, Group] = {}
        self.versions: list[PolicyVersion] = []
        self._secure = np.zeros(0, dtype=np.bool_)
        self._https = np.zeros(0, dtype=np.bool_)
        self._list = np.zeros(0, dtype=np.int16)
        scope = () if domain == "Default" else (domain,)
        initial_ms = start_ms - 30 * 86400 * 1000  # the policies were last saved a month before the start
        for index, cfg in enumerate(configs):
            chosen = lists.by_name(cfg.list) if cfg.list else lists.first()
            assert chosen is not None  # noqa: S101 - the fleet file is checked: the list exists
            parent = self.by_path[cfg.parent].index if cfg.parent else None
            group = Group(
                index=index,
                id=hex_id(seed, "group", *scope, cfg.path),
                path=cfg.path,
                parent=parent,
                inherits=cfg.inherits,
                location_id=hex_id(seed, "location", *scope, cfg.path),
                created_ms=initial_ms - 365 * 86400 * 1000,
                list_id=chosen.id,
                settings=initial_document(secure=cfg.secure_communications, heartbeat_s=int(heartbeat)),
            )
            self.groups.append(group)
            self.by_path[group.path] = group
            self.by_id[group.id] = group
        for group in self.groups:
            self._new_version(group, initial_ms)

    # --- reading ------------------------------------------------------------------------------------------------
    def source(self, group: Group) -> Group:
        """The group whose settings ``group`` uses: itself, or its nearest non-inheriting ancestor."""
        while group.inherits and group.parent is not None:
            group = self.groups[group.parent]
        return group

    def effective_secure(self, group: Group) -> bool:
        return self.source(group).own_secure

    def effective_list(self, group: Group) -> MsList:
        entry = self.lists.by_id(self.source(group).list_id)
        assert entry is not None  # noqa: S101 - a group always refers to a list of its site
        return entry

    def current(self, group: Group) -> PolicyVersion:
        return self.versions[group.policy]

    def current_policies(self) -> npt.NDArray[np.int32]:
        return np.array([g.policy for g in self.groups], dtype=np.int32)

    @property
    def policy_secure(self) -> npt.NDArray[np.bool_]:
        return self._secure

    @property
    def policy_https(self) -> npt.NDArray[np.bool_]:
        return self._https

    @property
    def policy_list(self) -> npt.NDArray[np.int16]:
        return self._list

    def dependents(self, source: Group) -> list[Group]:
        """``source`` and every group that takes its settings from it."""
        return [g for g in self.groups if self.source(g) is source]

    def settings_document(self, group: Group, *, show_list: bool) -> dict[str, Any]:
        """What ``GET …/settings`` answers for ``group`` (its source's settings, with the list name or not)."""
        source = self.source(group)
        document = copy.deepcopy(source.settings)
        if show_list:
            entry = self.effective_list(group)
            document["configuration"]["communication_settings"]["sem_server"] = {
                "name": entry.name,
                "description": "",
            }
        return document

    # --- changing -----------------------------------------------------------------------------------------------
    def _new_version(self, group: Group, time_ms: int, serial: str | None = None) -> None:
        number = self.versions[group.policy].number + 1 if group.policy >= 0 else 1
        entry = self.effective_list(group)
        version = PolicyVersion(
            group=group.index,
            serial=serial or policy_serial(group.id, time_ms),
            time_ms=time_ms,
            secure=self.effective_secure(group),
            number=number,
            list=self.lists.index(entry),
            https=entry.https,
        )
        group.policy = len(self.versions)
        group.modified_ms = time_ms
        self.versions.append(version)
        self._secure = np.append(self._secure, version.secure)
        self._https = np.append(self._https, version.https)
        self._list = np.append(self._list, np.int16(version.list))

    def _save(self, source: Group, time_ms: int) -> list[Group]:
        changed = self.dependents(source)
        for group in changed:
            self._new_version(group, time_ms)
        return changed

    def patch_settings(
        self, source: Group, body: Any, now_ms: int, *, mode: str, list_in_model: bool, bump_noop: bool
    ) -> list[Group]:
        """Apply a settings PATCH to ``source`` (``mode`` ``merge`` or ``replace``); returns the groups that got a
        new policy version (none for a no-op unless ``bump_noop``).

        ``list_in_model``: the manager's model carries ``communication_settings.sem_server`` — a PATCH naming a
        list assigns it, and a replacing PATCH that omits it resets the group to the site's first list. Without
        it, ``sem_server`` in a body is accepted and ignored. Raises :class:`SettingsError` (nothing changed).
        """
        validate(body)
        body = copy.deepcopy(body)
        communication = body.get("configuration", {}).get("communication_settings")
        named = communication.pop("sem_server", None) if isinstance(communication, dict) else None
        list_id = source.list_id
        if list_in_model:
            if isinstance(named, dict) and named.get("name"):
                entry = self.lists.by_name(named["name"])
                if entry is None:
                    raise SettingsError(
                        f"configuration.communication_settings.sem_server.name: no management server list named "
                        f"{named['name']!r} (lists: {', '.join(e.name for e in self.lists.present())})"
                    )
                list_id = entry.id
            elif mode == "replace" and "configuration" in body:
                list_id = self.lists.first().id  # the replaced communication settings lost the list
        if mode == "replace":
            settings = replace(source.settings, body, keep=frozenset({_SEM_SERVER}))
        else:
            settings = merge(source.settings, body)
        if settings == source.settings and list_id == source.list_id and not bump_noop:
            return []
        source.settings, source.list_id = settings, list_id
        return self._save(source, now_ms)

    def assign_list(self, source: Group, entry: MsList, now_ms: int) -> list[Group]:
        """Assign ``entry`` to ``source`` (a console operation); a policy save unless it already had it."""
        if source.list_id == entry.id:
            return []
        source.list_id = entry.id
        return self._save(source, now_ms)

    def list_edited(self, entry: MsList, now_ms: int) -> list[Group]:
        """A list's protocol changed: every group using it gets a new policy version."""
        changed: list[Group] = []
        for source in self.groups:
            if not source.inherits and source.list_id == entry.id:
                changed += self._save(source, now_ms)
        return changed

    def adopt(self, other: GroupTree, paths: list[str]) -> list[Group]:
        """Take ``other``'s settings, lists and serials for ``paths`` (replication); returns the groups changed.

        ``other``'s lists must already be in this site's store (same ids).
        """
        changed = [self.by_path[p] for p in paths if p in self.by_path and p in other.by_path]
        for group in changed:
            theirs = other.by_path[group.path]
            group.settings = copy.deepcopy(theirs.settings)
            if self.lists.by_id(theirs.list_id) is not None:
                group.list_id = theirs.list_id
        for group in changed:  # after every settings copy, so inherited flags are resolved on the new values
            theirs_version = other.current(other.by_path[group.path])
            self._new_version(group, theirs_version.time_ms, theirs_version.serial)
        return changed
