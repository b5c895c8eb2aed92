"""A group's settings document: read whole, one field changed by read–modify–write, the result checked field by field.

``GET groups/{g}/locations/{l}/settings`` answers the whole document; ``PATCH`` is documented as "Patch all the
communication settings to a given group" and whether a manager deep-merges the body or **replaces** every object the
body names (its omitted fields reset to the model's defaults) is not known (NOTES [A]). So a change is made the way
that is safe under both:

1. read the whole document;
2. if the field already has the wanted value: nothing is sent (a no-op; it moves no policy serial);
3. PATCH the whole ``configuration`` object as read, with only that field changed (``scope``: the object sent whole;
   ``("configuration",)`` encloses both the verification flag and the management server list name);
4. read the document back and compare **every** field with what was read plus the one change: any other field that
   differs is a :class:`CollateralSettingsChange` naming the fields. The document as it was is then PATCHed back
   (whole) and read again, and the error says whether that restored it. The caller stops before any other group.

A field the manager does not show in its answer (a password, say) cannot be compared: the rehearsal
(``probe --rehearse``) says how this manager treats a partial body on one sacrificial group.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from reconciler.errors import PermanentError, ProtocolError
from reconciler.sepm.client import SepmClient

__all__ = [
    "COLLATERAL_CODE",
    "FLAG_PATH",
    "LIST_NAME_PATH",
    "SCOPE",
    "CollateralSettingsChange",
    "SettingChange",
    "SettingsCache",
    "SettingsDocument",
    "change_setting",
    "diff",
    "patch_body",
    "read_settings",
    "settings_path",
    "with_value",
]

FLAG_PATH = ("configuration", "general_settings", "security_settings", "secure_communications")
LIST_NAME_PATH = ("configuration", "communication_settings", "sem_server", "name")
SCOPE = ("configuration",)
COLLATERAL_CODE = "CollateralSettingsChange"
_MISSING = object()


def settings_path(group_id: str, location_id: str) -> str:
    return f"groups/{group_id}/locations/{location_id}/settings"


def dotted(path: Sequence[str]) -> str:
    return ".".join(path)


@dataclass(frozen=True, slots=True)
class SettingsDocument:
    """One group's settings at one location, as the manager answered them (``raw``: the exact bytes)."""

    group_id: str
    location_id: str
    data: Mapping[str, Any]
    raw: bytes = field(repr=False, default=b"")

    def get(self, path: Sequence[str]) -> Any:
        """The value at ``path``, or None when absent."""
        node: Any = self.data
        for key in path:
            if not isinstance(node, Mapping) or key not in node:
                return None
            node = node[key]
        return node

    @property
    def secure_communications(self) -> bool | None:
        value = self.get(FLAG_PATH)
        return value if isinstance(value, bool) else None

    @property
    def list_name(self) -> str | None:
        """``configuration.communication_settings.sem_server.name``: the assigned management server list, where the
        manager shows it (None where it does not)."""
        value = self.get(LIST_NAME_PATH)
        return value if isinstance(value, str) and value else None


async def read_settings(client: SepmClient, group_id: str, location_id: str) -> SettingsDocument:
    """The whole settings document of one group at one location."""
    path = settings_path(group_id, location_id)
    response = await client.request("GET", path)
    data = client.json(response, "GET", path)
    if not isinstance(data, dict):
        raise ProtocolError(f"GET {path}: expected a settings object, got {type(data).__name__}")
    return SettingsDocument(group_id, location_id, data, response.content)


def diff(before: Any, after: Any, prefix: str = "") -> list[str]:
    """The dotted paths of the fields that differ between two documents (added, removed or changed)."""
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        found: list[str] = []
        for key in sorted(set(before) | set(after), key=str):
            where = f"{prefix}.{key}" if prefix else str(key)
            found += diff(before.get(key, _MISSING), after.get(key, _MISSING), where)
        return found
    same = before == after and type(before) is type(after)
    return [] if same else [prefix or "(the document)"]


def with_value(data: Mapping[str, Any], path: Sequence[str], value: Any) -> dict[str, Any]:
    """A deep copy of ``data`` with ``path`` set to ``value`` (missing objects on the way are created)."""
    out = copy.deepcopy(dict(data))
    node: dict[str, Any] = out
    for key in path[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = node[key] = {}
        node = child
    node[path[-1]] = value
    return out


def patch_body(
    data: Mapping[str, Any], path: Sequence[str], value: Any, scope: Sequence[str] = SCOPE
) -> dict[str, Any]:
    """The PATCH body: the object at ``scope`` whole (as in ``data``, with ``path`` set to ``value``), nested in the
    objects above it (which carry nothing else). ``scope`` must be a prefix of ``path``."""
    if tuple(path[: len(scope)]) != tuple(scope):
        raise ValueError(f"{dotted(path)} is not inside {dotted(scope)}")
    changed = with_value(data, path, value)
    node: Any = changed
    for key in scope:
        node = node[key]
    body: Any = node
    for key in reversed(scope):
        body = {key: body}
    return dict(body)


class CollateralSettingsChange(PermanentError):
    """A settings PATCH changed fields other than the one asked for: the rollout stalls with this code before any
    other group is touched. ``fields`` are the dotted paths that changed; ``restored`` whether writing the document
    back as it was succeeded (None: not tried)."""

    code = COLLATERAL_CODE

    def __init__(
        self,
        message: str,
        *,
        group_id: str,
        location_id: str,
        fields: Sequence[str],
        restored: bool | None,
        done: Sequence[object] = (),
    ) -> None:
        self.group_id = group_id
        self.location_id = location_id
        self.fields = tuple(fields)
        self.restored = restored
        self.done: tuple[object, ...] = tuple(done)  # the groups changed (cleanly) before this one
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class SettingChange:
    """The outcome of :func:`change_setting` for one group. ``confirmed`` is the value read back (``before`` when
    nothing was sent); ``noop``: the value was already as wanted, nothing was sent."""

    group_id: str
    location_id: str
    path: str
    requested: Any
    before: Any
    confirmed: Any
    noop: bool = False

    @property
    def ok(self) -> bool:
        return self.confirmed == self.requested and type(self.confirmed) is type(self.requested)


def _shown(fields: Sequence[str], limit: int = 6) -> str:
    more = f" and {len(fields) - limit} more" if len(fields) > limit else ""
    return ", ".join(fields[:limit]) + more


async def change_setting(
    client: SepmClient,
    group_id: str,
    location_id: str,
    path: Sequence[str],
    value: Any,
    *,
    scope: Sequence[str] = SCOPE,
    group_name: str | None = None,
) -> SettingChange:
    """Set one field of one group's settings by read–modify–write (see the module docstring).

    Raises :class:`CollateralSettingsChange` when another field changed, the client's errors otherwise.
    """
    where = settings_path(group_id, location_id)
    name = dotted(path)
    before = await read_settings(client, group_id, location_id)
    current = before.get(path)
    if current == value and type(current) is type(value):
        return SettingChange(group_id, location_id, name, value, current, current, noop=True)
    await client.request("PATCH", where, json_body=patch_body(before.data, path, value, scope))
    after = await read_settings(client, group_id, location_id)
    collateral = [f for f in diff(with_value(before.data, path, value), after.data) if f != name]
    if collateral:
        restored = await _restore(client, before)
        who = f"group {group_name!r}" if group_name else f"group {group_id}"
        raise CollateralSettingsChange(
            f"PATCH {where} ({who}) to set {name}={value!r} also changed {_shown(collateral)}: the manager does not "
            "apply a settings PATCH field by field as assumed"
            + (
                "; the document was written back as it was and reads as before"
                if restored
                else "; writing the document back did not restore it: check those settings of the group in the console"
            ),
            group_id=group_id,
            location_id=location_id,
            fields=collateral,
            restored=restored,
        )
    return SettingChange(group_id, location_id, name, value, current, after.get(path))


async def _restore(client: SepmClient, before: SettingsDocument) -> bool:
    """PATCH ``before`` back (the whole ``configuration``: safe whatever the semantics) and read it again: True when
    it reads as before."""
    where = settings_path(before.group_id, before.location_id)
    body = {
        key: copy.deepcopy(before.data[key]) for key in SCOPE if isinstance(before.data.get(key), Mapping)
    }
    if not body:
        return False
    try:
        await client.request("PATCH", where, json_body=body)
        again = await read_settings(client, before.group_id, before.location_id)
    except PermanentError:
        return False
    return not diff(before.data, again.data)


class SettingsCache:
    """Settings documents of groups, reused while the group's policy serial does not move (a settings change is a
    policy save, which gives the group a new serial), so a steady-state tick reads none."""

    def __init__(self) -> None:
        self._documents: dict[tuple[str, str], tuple[str, SettingsDocument]] = {}
        self.hits = 0

    def get(self, group_id: str, location_id: str, serial: str | None) -> SettingsDocument | None:
        if serial is None:
            return None
        cached = self._documents.get((group_id, location_id))
        if cached is None or cached[0] != serial:
            return None
        self.hits += 1
        return cached[1]

    def put(self, document: SettingsDocument, serial: str | None) -> None:
        if serial is not None:
            self._documents[(document.group_id, document.location_id)] = (serial, document)

    def forget(self, group_id: str) -> None:
        for key in [k for k in self._documents if k[0] == group_id]:
            del self._documents[key]

    def __len__(self) -> int:
        return len(self._documents)
