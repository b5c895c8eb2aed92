"""Probe checks of the groups: paging, fields, serials and policyDate, inheritance, the spec's groups, locations, the
verification flag at each location and the management server list name."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from reconciler.core.spec import ManagedServer
from reconciler.errors import Error
from reconciler.sepm.client import SepmClient
from reconciler.sepm.groups import RawGroup, raw_group, resolve_scope
from reconciler.sepm.paging import iter_pages
from reconciler.sepm.probe._model import Checks, Status, missing_fields
from reconciler.sepm.serials import parse_policy_serial
from reconciler.sepm.settings import FLAG_PATH, read_settings

__all__ = ["GROUP_FIELDS", "groups"]

GROUP_FIELDS = (
    "id",
    "fullPathName",
    "policySerialNumber",
    "policyDate",
    "policyInheritanceEnabled",
    "defaultLocationId",
)
_MANAGED_SAMPLE = 20  # managed groups whose locations and settings are read
_LOCATIONS = 4  # locations read per group


async def groups(checks: Checks, client: SepmClient, server: ManagedServer) -> None:
    raw: list[dict[str, Any]] = []
    total: Any = None
    size = server.spec.server.api.page_size
    try:
        async with contextlib.aclosing(iter_pages(client, "groups", page_size=size)) as pages:
            async for page in pages:
                total = page.total_elements if page.index == 1 else total
                raw.extend(page.content)
    except Error as exc:
        checks.failed("endpoint.groups", exc)
        return
    checks.add("endpoint.groups", Status.PASS, f"{total} groups", total=total)
    missing = missing_fields(raw, GROUP_FIELDS)
    checks.add(
        "fields.group",
        Status.FAIL if missing else Status.PASS if raw else Status.UNKNOWN,
        f"missing on some: {missing}" if missing else f"all present on {len(raw)} groups",
        missing=missing,
    )
    one_based = (
        Status.UNKNOWN if not isinstance(total, int) else Status.PASS if len(raw) == total else Status.FAIL
    )
    checks.add(
        "paging.one_based",
        one_based,
        f"paging groups from pageIndex 1 returned {len(raw)} of totalElements {total}",
    )
    found = [g for g in (raw_group(i) for i in raw) if g is not None]
    if not found:
        return
    _serials(checks, found)
    _policy_dates(checks, raw)
    _inheritance(checks, found, raw)
    scope = resolve_scope(found, list(server.spec.rollout.clients.groups))
    listed = server.spec.rollout.clients.groups
    checks.add(
        "spec.groups",
        Status.FAIL if scope.problems else Status.PASS,
        "; ".join(scope.problems)
        if scope.problems
        else f"{len(scope.managed)} groups would be changed"
        + ("" if listed else " (the list is empty: every group that does not inherit)"),
        managed=sorted(g.full_path_name for g in found if g.id in scope.managed),
    )
    managed = [g for g in found if g.id in scope.managed][:_MANAGED_SAMPLE]
    await checks.attempt("groups.locations", lambda: _locations(checks, client, managed))


def _serials(checks: Checks, found: Sequence[RawGroup]) -> None:
    bad = [
        f"{g.full_path_name}: {g.policy_serial!r}"
        for g in found
        if g.policy_serial is None
        or parse_policy_serial(g.policy_serial) is None
        or g.policy_serial[:4].upper() != g.id[:4].upper()
    ]
    checks.add(
        "serials.group",
        Status.FAIL if bad else Status.PASS,
        f"{len(bad)} do not match, e.g. {bad[:3]}" if bad else f"all {len(found)} match",
    )


def _swapped(serial_time: datetime, date: datetime) -> bool:
    """Day and month read the wrong way round."""
    if serial_time.day > 12:
        return False
    try:
        return serial_time.replace(month=serial_time.day, day=serial_time.month) == date.replace(
            microsecond=0
        )
    except ValueError:
        return False


def _policy_dates(checks: Checks, raw: Sequence[dict[str, Any]]) -> None:
    compared = 0
    off: list[str] = []
    for item in raw:
        serial, date = item.get("policySerialNumber"), item.get("policyDate")
        when = parse_policy_serial(serial) if isinstance(serial, str) else None
        if when is None or not isinstance(date, int | float) or isinstance(date, bool):
            continue
        compared += 1
        try:
            stamped = datetime.fromtimestamp(date / 1000, UTC)
        except (OverflowError, ValueError, OSError):
            off.append(f"{item.get('fullPathName')}: policyDate {date!r} is not a time")
            continue
        delta = (when - stamped).total_seconds()
        if abs(delta) <= 1:
            continue
        if _swapped(when, stamped):
            hint = "day and month swapped (the serial is month first)"
        elif abs(delta) % 1800 < 2 or abs(delta) % 1800 > 1798:
            hint = f"{delta / 3600:+g} h: the serial is not in GMT"
        else:
            hint = f"{delta:+.0f} s apart"
        off.append(
            f"{item.get('fullPathName')}: serial {serial!r} vs policyDate {stamped:%Y-%m-%d %H:%M:%S} UTC ({hint})"
        )
    checks.add(
        "serials.policy_date",
        Status.UNKNOWN if not compared else Status.FAIL if off else Status.PASS,
        f"{len(off)} of {compared} differ, e.g. {off[:2]}"
        if off
        else f"all {compared} agree to the second"
        if compared
        else "no group carries both a serial and a policyDate",
    )


def _inheritance(checks: Checks, found: Sequence[RawGroup], raw: Sequence[dict[str, Any]]) -> None:
    not_bool = [i.get("fullPathName") for i in raw if not isinstance(i.get("policyInheritanceEnabled"), bool)]
    scope = resolve_scope(found, [])
    by_id = {g.id: g for g in found}
    inheriting = [g for g in found if scope.source.get(g.id) not in (g.id, None)]
    mismatched = [
        g.full_path_name
        for g in inheriting
        if g.default_location_id != by_id[scope.source[g.id] or g.id].default_location_id
    ]
    seen = f"{len(inheriting)} of {len(found)} groups inherit"
    if not_bool:
        seen += f"; not a boolean on {not_bool[:3]}"
    if mismatched:
        seen += f"; a different defaultLocationId than their source on {mismatched[:3]}"
    checks.add(
        "groups.inheritance",
        Status.FAIL if not_bool or mismatched else Status.PASS,
        seen,
        inheriting=[g.full_path_name for g in inheriting],
    )


async def _locations(checks: Checks, client: SepmClient, managed: Sequence[RawGroup]) -> None:
    problems: list[str] = []
    flags: dict[str, dict[str, bool | None]] = {}
    lists: dict[str, str | None] = {}
    for group in managed:
        listed = await client.get_json(f"groups/{group.id}/locations")
        ids = [str(x).rstrip("/").rsplit("/", 1)[-1] for x in listed] if isinstance(listed, list) else None
        if not ids:
            problems.append(f"{group.full_path_name}: no location list")
            continue
        if group.default_location_id not in ids:
            problems.append(
                f"{group.full_path_name}: defaultLocationId {group.default_location_id} not listed"
            )
        per_location: dict[str, bool | None] = {}
        for location in ids[:_LOCATIONS]:
            document = await read_settings(client, group.id, location)
            per_location[location] = document.secure_communications
            if location == group.default_location_id or group.full_path_name not in lists:
                lists[group.full_path_name] = document.list_name
        flags[group.full_path_name] = per_location
    checks.add(
        "groups.locations",
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
    checks.add("groups.settings", status, seen or "no managed group to read", flags=flags)
    _list_names(checks, lists)


def _list_names(checks: Checks, lists: dict[str, str | None]) -> None:
    shown = {g: name for g, name in lists.items() if name}
    if not lists:
        checks.add("settings.list_name", Status.UNKNOWN, "no managed group to read", lists={})
    elif len(shown) == len(lists):
        names = sorted(set(shown.values()))
        checks.add(
            "settings.list_name",
            Status.PASS,
            f"shown for all {len(lists)} groups read: {', '.join(names)}",
            lists=shown,
        )
    else:
        checks.add(
            "settings.list_name",
            Status.UNKNOWN,
            f"not shown for {len(lists) - len(shown)} of {len(lists)} groups read: which list a group has cannot "
            "be read here; a list switch is then judged by the group's policy serial moving",
            lists=shown,
        )
