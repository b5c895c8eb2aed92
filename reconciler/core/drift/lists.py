"""Checks of the management server lists around the swap (KB 187099): a skipped list switch, and a list duplicated by
replication (``NAME ~1``) that a managed group reads instead of the declared one."""

from __future__ import annotations

import re

from reconciler.core import wording
from reconciler.core.drift.inputs import DriftInput
from reconciler.core.drift.model import Finding, Reason, Severity
from reconciler.core.drift.rollout import change_pending

__all__ = ["duplicate_lists", "list_switch_skipped"]

_DUPLICATE = re.compile(r"^(?P<name>.+) ~(?P<n>\d+)$")


def list_switch_skipped(given: DriftInput) -> list[Finding]:
    """``ListSwitchSkipped``: ``managementServerList.skip`` — the clients stay on their list through the swap; on an
    HTTPS list they fail TLS when the certificate changes, flag or no flag. Warning while a certificate change is
    ahead (drift, or a rollout before the swap), info once there is none: shown in every report either way."""
    spec = given.spec
    lists = spec.spec.rollout.management_server_list if spec is not None else None
    if lists is None or not lists.skip:
        return []
    return [
        Finding(
            Reason.LIST_SWITCH_SKIPPED,
            Severity.WARNING if change_pending(given) else Severity.INFO,
            f"the management server list switch of the vendor's procedure (KB 187099) is skipped: {lists.reason} — "
            "clients on an HTTPS list keep the old certificate cached in it and fail TLS when it changes, so every "
            "client counts at risk before the swap",
        )
    ]


def duplicate_lists(given: DriftInput) -> list[Finding]:
    """``DuplicateManagementServerList`` (warning): a managed group reads ``NAME ~N``, a copy of a declared list that
    replication made when both sites had one of that name (the reconciler sees a list only through a group that
    uses it: SEPM has no REST endpoint for lists)."""
    seen, spec = given.seen, given.spec
    lists = spec.spec.rollout.management_server_list if spec is not None else None
    if seen is None or lists is None or lists.skip:
        return []
    declared = {lists.http, lists.original}
    found: dict[tuple[str, str], list[str]] = {}
    for group, name in sorted(seen.group_lists.items()):
        match = _DUPLICATE.match(name or "")
        if match is not None and match["name"] in declared:
            found.setdefault((match[0], match["name"]), []).append(group)
    return [
        Finding(
            Reason.DUPLICATE_LIST,
            Severity.WARNING,
            f"{wording.names(groups)} {'read' if len(groups) > 1 else 'reads'} the management server list {name!r}, "
            f"a duplicate of {of!r} (replication keeps both lists of one name and renames the newer): assign the "
            "declared list in the console and delete the duplicate; create the HTTP copy on one site of a "
            "replicating pair, or give each site its own name",
        )
        for (name, of), groups in found.items()
    ]
