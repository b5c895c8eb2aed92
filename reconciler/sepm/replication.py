"""Replication as the manager reports it: ``GET replication/is_replicated`` and ``GET replication/status``.

``replicationStatus`` is an object in the vendor Swagger; SEPM 14.3 has been seen answering a one-element array (a
public module unwraps it). Both are read; an array of several entries is read when they name one site, and is a
:class:`~reconciler.errors.ProtocolError` otherwise (which site is this manager's would be a guess).
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from reconciler.core.observation import ReplicationObservation, ReplicationPartner
from reconciler.errors import Error, ProtocolError
from reconciler.sepm._clock import epoch_ms_or_none
from reconciler.sepm.client import SepmClient

__all__ = ["observe_replication", "replication_status", "status_shape"]

_WHERE = "GET replication/status"


def _time(value: Any, field: str) -> datetime | None:
    """Epoch milliseconds; 0 or absent means never; an absurd value is a ProtocolError."""
    return epoch_ms_or_none(value, f"{_WHERE}: {field}")


def status_shape(data: Any) -> str:
    """How ``replicationStatus`` came: ``object``, ``array`` (of how many), or ``missing``."""
    status = data.get("replicationStatus") if isinstance(data, dict) else None
    if isinstance(status, dict):
        return "object"
    if isinstance(status, list):
        return f"array of {len(status)}"
    return "missing"


def replication_status(data: Any) -> dict[str, Any]:
    """The ``replicationStatus`` object, from either shape (see the module docstring)."""
    status = data.get("replicationStatus") if isinstance(data, dict) else None
    if isinstance(status, dict):
        return status
    if not isinstance(status, list) or not status or not all(isinstance(s, dict) for s in status):
        raise ProtocolError(f"{_WHERE}: the answer has no replicationStatus object (nor an array of them)")
    sites = {s.get("siteName") for s in status}
    if len(sites) > 1:
        raise ProtocolError(
            f"{_WHERE}: replicationStatus is an array of {len(status)} sites ({sorted(map(str, sites))}): which "
            "one is this manager's cannot be told"
        )
    merged: list[Any] = []
    for entry in status:
        listed = entry.get("replicationPartnerStatusList")
        if isinstance(listed, list):
            merged += listed
        elif listed is not None:
            raise ProtocolError(f"{_WHERE}: replicationPartnerStatusList is not a list")
    return {"siteName": status[0].get("siteName"), "replicationPartnerStatusList": merged}


def _partners(data: Any) -> tuple[str | None, tuple[ReplicationPartner, ...]]:
    status = replication_status(data)
    listed = status.get("replicationPartnerStatusList")
    if listed is None:
        listed = []
    if not isinstance(listed, list):
        raise ProtocolError(f"{_WHERE}: replicationPartnerStatusList is not a list")
    partners = []
    for item in listed:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise ProtocolError(f"{_WHERE}: a partner entry has no name")
        code = item.get("status_code")
        partners.append(
            ReplicationPartner(
                name=item["name"],
                status_code=code if isinstance(code, str) else None,
                last_run_time=_time(item.get("lastRunTime"), "lastRunTime"),
                last_successful_run_time=_time(item.get("lastSuccessfulRunTime"), "lastSuccessfulRunTime"),
                next_run_time=_time(item.get("nextRunTime"), "nextRunTime"),
            )
        )
    site = status.get("siteName")
    return (site if isinstance(site, str) else None), tuple(partners)


async def _is_replicated(client: SepmClient) -> bool:
    value = await client.get_json("replication/is_replicated")
    if not isinstance(value, bool):
        raise ProtocolError(f"GET replication/is_replicated: expected a bare boolean, got {value!r:.60}")
    return value


async def observe_replication(client: SepmClient) -> tuple[ReplicationObservation | None, list[str]]:
    """Both endpoints, concurrently. When the partner list cannot be read the whole observation is None (an empty
    partner list would read as "not replicating"); when only ``is_replicated`` fails it is None inside."""
    flag_result: bool | BaseException
    status_result: Any
    flag_result, status_result = await asyncio.gather(
        _is_replicated(client), client.get_json("replication/status"), return_exceptions=True
    )
    problems = []
    for what, result in (("replication/is_replicated", flag_result), ("replication/status", status_result)):
        if isinstance(result, BaseException) and not isinstance(result, Error):
            raise result
        if isinstance(result, Error):
            problems.append(f"{what}: {result}")
    if isinstance(status_result, BaseException):
        return None, problems
    try:
        site, partners = _partners(status_result)
    except ProtocolError as exc:
        return None, [*problems, str(exc)]
    is_replicated = flag_result if isinstance(flag_result, bool) else None
    return ReplicationObservation(site_name=site, is_replicated=is_replicated, partners=partners), problems
