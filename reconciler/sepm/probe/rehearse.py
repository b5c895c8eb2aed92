"""``probe --rehearse --group PATH``: the settings PATCH tried for real on one sacrificial group, then undone.

What a read-only probe cannot know — how this manager applies a settings PATCH — is measured on one group the
operator gives up for a minute (refused when it, or a group inheriting from it, has clients, unless forced):

1. the verification flag is flipped **by the same code path as step 2** (read the whole document, PATCH the whole
   ``configuration`` with only the flag changed, read back and compare every field): any other field that changed is
   the collateral change step 2 would stall on;
2. did that move the group's policy serial (so client acknowledgement can be measured)?
3. a no-op PATCH (the document as it is): does it move the serial?
4. a **partial** body naming only the flag: are the omitted fields kept (merge) or reset (replace)? The reconciler
   never sends one, but this is what tells the two semantics apart;
5. the original document is PATCHed back whole and read again: it must be back **byte for byte**.

The result (:class:`Rehearsal`) is printed as evidence and recorded in the state (an event), so ``status`` and
``report`` can say "PATCH semantics rehearsed on this manager on DATE: …".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from reconciler.errors import Error, PermanentError
from reconciler.sepm.actions import secure_communications_body
from reconciler.sepm.client import SepmClient
from reconciler.sepm.groups import RawGroup, fetch_groups, resolve_scope
from reconciler.sepm.scan import is_deleted
from reconciler.sepm.settings import (
    FLAG_PATH,
    SCOPE,
    CollateralSettingsChange,
    SettingsDocument,
    change_setting,
    diff,
    read_settings,
    settings_path,
)

__all__ = ["Rehearsal", "RehearsalRefused", "rehearse"]

_FLAG = ".".join(FLAG_PATH)


class RehearsalRefused(PermanentError):
    """The group cannot be rehearsed on (unknown, inherits, has clients without ``force``): nothing was changed."""


@dataclass(frozen=True, slots=True)
class Rehearsal:
    """What the rehearsal measured on one group (see the module docstring)."""

    server: str
    group: str
    group_id: str
    location_id: str
    at: datetime
    flipped_to: bool
    collateral: tuple[str, ...]  # fields the whole-configuration PATCH changed besides the flag
    serial_moved: bool | None  # the flag change moved the group's policy serial
    noop_moves_serial: bool | None
    partial_resets: tuple[str, ...] | None  # fields a flag-only body reset (None: not tried)
    restored_bytes: bool  # the document reads back byte for byte as before
    restored_fields: tuple[str, ...]  # fields that differ after the restore (empty: equal)
    clients: int = 0
    evidence: tuple[str, ...] = field(default=())

    @property
    def partial_body(self) -> str:
        """``merge`` (omitted fields kept), ``replace`` (reset) or ``unknown``."""
        if self.partial_resets is None:
            return "unknown"
        return "replace" if self.partial_resets else "merge"

    @property
    def safe(self) -> bool:
        """The reconciler's way of writing settings works here: only the flag changed, the serial moved, and the
        group is back as it was."""
        return not self.collateral and self.serial_moved is True and not self.restored_fields

    @property
    def summary(self) -> str:
        semantics = {
            "merge": "partial body accepted, no collateral change",
            "replace": "a partial body resets the fields it omits (replace semantics: "
            + _few(self.partial_resets or ())
            + "); the reconciler's whole-configuration PATCH "
            + ("changed only the flag" if not self.collateral else "changed more than the flag"),
            "unknown": "partial body not tried",
        }[self.partial_body]
        if self.collateral and self.partial_body == "merge":
            semantics = f"the whole-configuration PATCH also changed {_few(self.collateral)}"
        notes = []
        if self.serial_moved is False:
            notes.append("the flag change did not move the policy serial")
        if self.noop_moves_serial is not None:
            notes.append(f"a no-op PATCH {'moves' if self.noop_moves_serial else 'does not move'} the serial")
        if self.restored_fields:
            notes.append(f"NOT restored: {_few(self.restored_fields)} differ")
        elif not self.restored_bytes:
            notes.append("restored (equal field by field, not byte for byte)")
        return semantics + ("; " + "; ".join(notes) if notes else "")

    def to_json(self) -> dict[str, Any]:
        return {
            "server": self.server,
            "group": self.group,
            "group_id": self.group_id,
            "location_id": self.location_id,
            "at": self.at.isoformat(),
            "flipped_to": self.flipped_to,
            "collateral": list(self.collateral),
            "serial_moved": self.serial_moved,
            "noop_moves_serial": self.noop_moves_serial,
            "partial_body": self.partial_body,
            "partial_resets": None if self.partial_resets is None else list(self.partial_resets),
            "restored_bytes": self.restored_bytes,
            "restored_fields": list(self.restored_fields),
            "clients": self.clients,
            "safe": self.safe,
            "summary": self.summary,
            "evidence": list(self.evidence),
        }

    def event_details(self) -> dict[str, str | int | bool | None]:
        """Flat details for the state's event log."""
        return {
            "group": self.group,
            "group_id": self.group_id,
            "partial_body": self.partial_body,
            "collateral": ", ".join(self.collateral),
            "partial_resets": None if self.partial_resets is None else ", ".join(self.partial_resets),
            "serial_moved": self.serial_moved,
            "noop_moves_serial": self.noop_moves_serial,
            "restored": not self.restored_fields,
            "restored_bytes": self.restored_bytes,
            "safe": self.safe,
            "summary": self.summary,
        }


def _few(fields: tuple[str, ...] | list[str], limit: int = 4) -> str:
    more = f" and {len(fields) - limit} more" if len(fields) > limit else ""
    return ", ".join(fields[:limit]) + more


async def _group(client: SepmClient, path: str) -> tuple[RawGroup, list[RawGroup]]:
    groups, _ = await fetch_groups(client)
    matches = [g for g in groups if g.full_path_name.casefold() == path.casefold()]
    if not matches:
        raise RehearsalRefused(
            f"no group {path!r} on the manager (write the full path, e.g. 'My Company\\\\Lab')"
        )
    if len(matches) > 1:
        raise RehearsalRefused(
            f"{len(matches)} groups are named {path!r} (one per domain): rehearsal needs one"
        )
    group = matches[0]
    if group.inherits:
        raise RehearsalRefused(
            f"group {path!r} inherits its settings from its parent: rehearse on a group that does not inherit"
        )
    if group.default_location_id is None:
        raise RehearsalRefused(f"group {path!r} has no defaultLocationId: its settings cannot be addressed")
    scope = resolve_scope(groups, [group.full_path_name])
    return group, [g for g in groups if g.id != group.id and scope.source.get(g.id) == group.id]


async def _clients(client: SepmClient, groups: list[RawGroup]) -> int:
    """Live clients in ``groups`` (a first page each: enough to say "has clients")."""
    count = 0
    for group in groups:
        data = await client.get_json(f"groups/{group.id}/computers", params={"pageIndex": 1, "pageSize": 100})
        content = data.get("content") if isinstance(data, dict) else None
        if isinstance(content, list):
            count += sum(1 for item in content if isinstance(item, dict) and not is_deleted(item))
            total = data.get("totalElements")
            if isinstance(total, int) and total > len(content):
                count += total - len(content)
    return count


async def _serial(client: SepmClient, group_id: str) -> str | None:
    data = await client.get_json(f"groups/{group_id}")
    serial = data.get("policySerialNumber") if isinstance(data, Mapping) else None
    return serial if isinstance(serial, str) else None


async def _patch_whole(client: SepmClient, document: SettingsDocument) -> None:
    body = {key: document.data[key] for key in SCOPE if key in document.data}
    await client.request("PATCH", settings_path(document.group_id, document.location_id), json_body=body)


async def rehearse(
    client: SepmClient, *, server: str, group: str, now: datetime, force: bool = False
) -> Rehearsal:
    """Rehearse the settings PATCH on ``group`` (a full path) and undo it (see the module docstring).

    Raises :class:`RehearsalRefused` before changing anything when the group cannot be used; the client's errors
    otherwise (after trying to put the document back).
    """
    target, heirs = await _group(client, group)
    clients = await _clients(client, [target, *heirs])
    if clients and not force:
        raise RehearsalRefused(
            f"group {target.full_path_name!r} has {clients} client(s) (with the groups inheriting from it): a "
            "rehearsal changes their policy for a minute; choose an empty group, or pass --force"
        )
    location = target.default_location_id
    assert location is not None  # noqa: S101 - checked by _group
    evidence: list[str] = []
    original = await read_settings(client, target.id, location)
    flag = original.secure_communications
    if flag is None:
        raise RehearsalRefused(f"group {target.full_path_name!r}: its settings carry no {_FLAG}")
    evidence.append(f"read settings of {target.full_path_name!r} at location {location}: {_FLAG}={flag}")
    serial0 = await _serial(client, target.id)
    flipped = not flag
    collateral: tuple[str, ...] = ()
    serial_moved = noop_moves = None
    resets: tuple[str, ...] | None = None
    try:
        try:
            change = await change_setting(client, target.id, location, FLAG_PATH, flipped, group_name=group)
        except CollateralSettingsChange as exc:
            collateral = exc.fields
            evidence.append(f"step 2's PATCH (whole configuration, {_FLAG}={flipped}): {exc}")
        else:
            evidence.append(
                f"step 2's PATCH (whole configuration, {_FLAG}={flipped}): read back {change.confirmed}, no other "
                "field changed"
            )
        serial1 = await _serial(client, target.id)
        serial_moved = serial1 != serial0
        evidence.append(f"policy serial {serial0} → {serial1}: {'moved' if serial_moved else 'did not move'}")
        current = await read_settings(client, target.id, location)
        await _patch_whole(client, current)
        serial2 = await _serial(client, target.id)
        noop_moves = serial2 != serial1
        evidence.append(
            f"no-op PATCH (the document as it is): serial {'moved' if noop_moves else 'unchanged'}"
        )
        before_partial = await read_settings(client, target.id, location)
        await client.request(
            "PATCH",
            settings_path(target.id, location),
            json_body=secure_communications_body(bool(before_partial.secure_communications)),
        )
        after_partial = await read_settings(client, target.id, location)
        resets = tuple(diff(before_partial.data, after_partial.data))
        evidence.append(
            "partial PATCH naming only the flag: "
            + (
                f"reset {_few(resets)} (replace semantics)"
                if resets
                else "nothing else changed (merge semantics)"
            )
        )
    finally:
        restored_bytes, restored_fields = await _restore(client, original, evidence)
    return Rehearsal(
        server=server,
        group=target.full_path_name,
        group_id=target.id,
        location_id=location,
        at=now,
        flipped_to=flipped,
        collateral=collateral,
        serial_moved=serial_moved,
        noop_moves_serial=noop_moves,
        partial_resets=resets,
        restored_bytes=restored_bytes,
        restored_fields=restored_fields,
        clients=clients,
        evidence=tuple(evidence),
    )


async def _restore(
    client: SepmClient, original: SettingsDocument, evidence: list[str]
) -> tuple[bool, tuple[str, ...]]:
    try:
        await _patch_whole(client, original)
        back = await read_settings(client, original.group_id, original.location_id)
    except Error as exc:
        evidence.append(f"restoring the original document FAILED: {exc}")
        return False, ("(the document could not be written back)",)
    fields = tuple(diff(original.data, back.data))
    same_bytes = back.raw == original.raw
    evidence.append(
        "original document PATCHed back: "
        + (
            "byte for byte as before"
            if same_bytes
            else "equal field by field"
            if not fields
            else f"differs: {_few(fields)}"
        )
    )
    return same_bytes, fields
