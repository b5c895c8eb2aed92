"""The two changes the REST API can make: the verification flag (steps 2 and 5) and ``replicatenow`` (step 7).

Both are safe to repeat. The flag is set with the minimal partial body at the group's default location, then read
back: what is returned is what the manager *confirmed*, not what was asked.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from reconciler.core.observation import GroupObservation
from reconciler.errors import Error, TemporaryError
from reconciler.sepm.client import SepmClient
from reconciler.sepm.groups import read_secure_communications, settings_path

__all__ = ["SettingResult", "replicate_now", "secure_communications_body", "set_secure_communications"]


@dataclass(frozen=True, slots=True)
class SettingResult:
    """The outcome for one group: ``confirmed`` is the flag read back after the PATCH (None: could not be read)."""

    group_id: str
    full_path_name: str
    location_id: str | None
    requested: bool
    confirmed: bool | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.confirmed is self.requested


def secure_communications_body(enabled: bool) -> dict[str, Any]:
    """The minimal settings PATCH body that sets only ``secure_communications``."""
    return {"configuration": {"general_settings": {"security_settings": {"secure_communications": enabled}}}}


async def _set_one(client: SepmClient, group: GroupObservation, enabled: bool) -> SettingResult:
    def result(confirmed: bool | None, error: str | None = None) -> SettingResult:
        return SettingResult(group.id, group.full_path_name, group.location_id, enabled, confirmed, error)

    if group.inherits:
        return result(
            None, "the group inherits its settings from its parent: change the group it inherits from"
        )
    if group.location_id is None:
        return result(None, "the group's default location is unknown: nothing was sent")
    path = settings_path(group.id, group.location_id)
    try:
        await client.request("PATCH", path, json_body=secure_communications_body(enabled))
    except Error as exc:
        return result(None, f"PATCH {path}: {exc}")
    try:
        confirmed = await read_secure_communications(client, group.id, group.location_id)
    except Error as exc:
        return result(None, f"read-back after the PATCH: {exc}")
    if confirmed is None:
        return result(None, "read-back after the PATCH: the settings carry no secure_communications flag")
    if confirmed is not enabled:
        return result(
            confirmed, f"the manager accepted the PATCH but still reports secure_communications={confirmed}"
        )
    return result(confirmed)


async def set_secure_communications(
    client: SepmClient, groups: Iterable[GroupObservation], enabled: bool, *, concurrency: int = 4
) -> tuple[SettingResult, ...]:
    """Set the verification flag on ``groups`` (the managed ones) and read each back. Never raises for one group's
    failure: each result says what happened, in the order given."""
    limit = asyncio.Semaphore(concurrency)

    async def one(group: GroupObservation) -> SettingResult:
        async with limit:
            return await _set_one(client, group, enabled)

    return tuple(await asyncio.gather(*(one(g) for g in groups)))


async def replicate_now(
    client: SepmClient, partner_site: str, *, logs: bool = False, content: bool = False
) -> None:
    """Ask the manager to replicate with ``partner_site`` now (``POST replication/replicatenow``)."""
    params = {"partnerSiteName": partner_site, "logs": str(logs).lower(), "content": str(content).lower()}
    response = await client.request("POST", "replication/replicatenow", params=params)
    data = client.json(response, "POST", "replication/replicatenow") if response.content else None
    code = data.get("code") if isinstance(data, dict) else None
    if code not in (0, None):
        raise TemporaryError(f"replicatenow with {partner_site!r}: the manager answered code {code}")
