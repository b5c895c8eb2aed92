"""Replication as the manager reports it: ``GET replication/is_replicated`` and ``GET replication/status``."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from reconciler.core.observation import ReplicationObservation, ReplicationPartner
from reconciler.errors import Error, ProtocolError
from reconciler.sepm.client import SepmClient

__all__ = ["observe_replication"]


def _time(value: Any) -> datetime | None:
    """Epoch milliseconds; 0 or absent means never."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    return datetime.fromtimestamp(value / 1000, UTC)


def _partners(data: Any) -> tuple[str | None, tuple[ReplicationPartner, ...]]:
    status = data.get("replicationStatus") if isinstance(data, dict) else None
    if not isinstance(status, dict):
        raise ProtocolError("GET replication/status: the answer has no replicationStatus object")
    listed = status.get("replicationPartnerStatusList")
    if listed is None:
        listed = []
    if not isinstance(listed, list):
        raise ProtocolError("GET replication/status: replicationPartnerStatusList is not a list")
    partners = []
    for item in listed:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise ProtocolError("GET replication/status: a partner entry has no name")
        code = item.get("status_code")
        partners.append(
            ReplicationPartner(
                name=item["name"],
                status_code=code if isinstance(code, str) else None,
                last_run_time=_time(item.get("lastRunTime")),
                last_successful_run_time=_time(item.get("lastSuccessfulRunTime")),
                next_run_time=_time(item.get("nextRunTime")),
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
