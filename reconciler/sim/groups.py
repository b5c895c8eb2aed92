"""A manager's group tree, its policy serials and the location settings that carry the verification flag.

* Group ids are 32 uppercase hex digits derived from the fleet seed and the full path, so replicated sites share
  them (as sites of one replicated database do).
* A group with ``policyInheritanceEnabled`` takes its settings from the nearest ancestor that does not inherit.
  Its ``defaultLocationId`` is that ancestor's (as the vendor's Swagger describes).
* Every accepted settings save is a policy change: the group that owns the settings and every group inheriting
  from it get a new ``policySerialNumber`` ``XXXX-MM/DD/YYYY HH:MM:SS mmm`` (first 4 hex digits of the group id,
  GMT, virtual clock) and ``policyDate``.
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

__all__ = ["Group", "GroupTree", "PolicyVersion", "SettingsError", "hex_id", "policy_serial"]


def hex_id(*parts: object) -> str:
    """A deterministic SEPM-style id: 32 uppercase hex digits."""
    return hashlib.sha256("\x00".join(map(str, parts)).encode()).hexdigest()[:32].upper()


def policy_serial(group_id: str, time_ms: int) -> str:
    """``718B-09/04/2023 12:56:58 775``: first 4 hex digits of the group id, GMT time, milliseconds."""
    return f"{group_id[:4]}-{ms_to_datetime(time_ms):%m/%d/%Y %H:%M:%S} {time_ms % 1000:03d}"


class SettingsError(ValueError):
    """A settings PATCH body SEPM would answer with 400."""


SETTINGS_TEMPLATE: dict[str, Any] = {
    "configuration": {
        "general_settings": {
            "security_settings": {
                "secure_communications": True,
                "password_protection": False,
                "require_password_for_uninstall": False,
                "require_password_to_stop_service": False,
            },
            "tamper_protection": {"enabled": True},
            "windows_settings": {"show_client_icon": True},
        },
        "communication_settings": {
            "heartbeat_interval_seconds": 300,
            "push_mode": True,
            "download_policies_and_content": True,
            "upload_learned_applications": False,
        },
    },
    "lockedoptions": {},
}


@dataclass(frozen=True, slots=True)
class PolicyVersion:
    """One policy a group had: what a client applies at check-in."""

    group: int
    serial: str
    time_ms: int
    secure: bool  # effective secure_communications of this policy
    number: int  # profileVersion


@dataclass(slots=True)
class Group:
    index: int
    id: str
    path: str
    parent: int | None
    inherits: bool
    location_id: str
    created_ms: int
    settings: dict[str, Any] = field(default_factory=dict)  # own settings (meaningful when not inheriting)
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
    """The groups of one manager and every policy version they ever had."""

    def __init__(
        self, configs: tuple[GroupConfig, ...], *, seed: int, domain_id: str, start_ms: int, heartbeat: float
    ) -> None:
        self.domain_id = domain_id
        self.groups: list[Group] = []
        self.by_path: dict[str, Group] = {}
        self.by_id: dict[str, Group] = {}
        self.versions: list[PolicyVersion] = []
        self._secure = np.zeros(0, dtype=np.bool_)
        initial_ms = start_ms - 30 * 86400 * 1000  # the policies were last saved a month before the start
        for index, cfg in enumerate(configs):
            settings = copy.deepcopy(SETTINGS_TEMPLATE)
            settings["configuration"]["general_settings"]["security_settings"]["secure_communications"] = (
                cfg.secure_communications
            )
            settings["configuration"]["communication_settings"]["heartbeat_interval_seconds"] = int(heartbeat)
            parent = self.by_path[cfg.parent].index if cfg.parent else None
            group = Group(
                index=index,
                id=hex_id(seed, "group", cfg.path),
                path=cfg.path,
                parent=parent,
                inherits=cfg.inherits,
                location_id=hex_id(seed, "location", cfg.path),
                created_ms=initial_ms - 365 * 86400 * 1000,
                settings=settings,
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

    def current(self, group: Group) -> PolicyVersion:
        return self.versions[group.policy]

    def current_policies(self) -> npt.NDArray[np.int32]:
        return np.array([g.policy for g in self.groups], dtype=np.int32)

    @property
    def policy_secure(self) -> npt.NDArray[np.bool_]:
        return self._secure

    def dependents(self, source: Group) -> list[Group]:
        """``source`` and every group that takes its settings from it."""
        return [g for g in self.groups if self.source(g) is source]

    # --- changing -----------------------------------------------------------------------------------------------
    def _new_version(self, group: Group, time_ms: int, serial: str | None = None) -> None:
        number = self.versions[group.policy].number + 1 if group.policy >= 0 else 1
        version = PolicyVersion(
            group=group.index,
            serial=serial or policy_serial(group.id, time_ms),
            time_ms=time_ms,
            secure=self.effective_secure(group),
            number=number,
        )
        group.policy = len(self.versions)
        group.modified_ms = time_ms
        self.versions.append(version)
        self._secure = np.append(self._secure, version.secure)

    def patch_settings(self, source: Group, body: dict[str, Any], now_ms: int) -> list[Group]:
        """Deep-merge a partial settings body into ``source``'s settings; a policy save for it and its dependents.

        Raises :class:`SettingsError` (no change made) for unknown fields or wrongly typed values.
        """
        merged = copy.deepcopy(source.settings)
        _merge(merged, body, SETTINGS_TEMPLATE, "")
        source.settings = merged
        changed = self.dependents(source)
        for group in changed:
            self._new_version(group, now_ms)
        return changed

    def adopt(self, other: GroupTree, paths: list[str]) -> list[Group]:
        """Take ``other``'s settings and serials for ``paths`` (replication); returns the groups changed."""
        changed = [self.by_path[p] for p in paths if p in self.by_path and p in other.by_path]
        for group in changed:
            group.settings = copy.deepcopy(other.by_path[group.path].settings)
        for group in changed:  # after every settings copy, so inherited flags are resolved on the new values
            theirs = other.current(other.by_path[group.path])
            self._new_version(group, theirs.time_ms, theirs.serial)
        return changed


def _merge(target: dict[str, Any], patch: Any, template: dict[str, Any], where: str) -> None:
    if not isinstance(patch, dict):
        raise SettingsError(f"{where or 'the body'} must be a JSON object")
    for key, value in patch.items():
        path = f"{where}.{key}" if where else key
        if key not in template:
            raise SettingsError(f"unrecognized field {path!r}")
        expected = template[key]
        if isinstance(expected, dict):
            if key == "lockedoptions":
                if not isinstance(value, dict):
                    raise SettingsError(f"{path} must be a JSON object")
                target[key] = {**target.get(key, {}), **value}
                continue
            _merge(target[key], value, expected, path)
        elif type(value) is not type(expected):
            raise SettingsError(f"{path} must be a {type(expected).__name__.replace('bool', 'boolean')}")
        else:
            target[key] = value
