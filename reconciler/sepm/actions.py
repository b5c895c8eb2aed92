"""The two changes the REST API can make: the verification flag (steps 2 and 5) and ``replicatenow`` (step 7).

Both are safe to repeat. The flag is set group by group, one at a time, by read–modify–write
(:func:`reconciler.sepm.settings.change_setting`): the whole document is read, the whole ``configuration`` PATCHed
with only the flag changed, and the document read back and compared field by field. A group whose flag already
reads as wanted is a no-op: nothing is sent. A PATCH that changed anything else raises
:class:`~reconciler.sepm.settings.CollateralSettingsChange` before the next group is touched. What is returned is
what the manager *confirmed*, not what was asked.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.core.observation import GroupObservation
from reconciler.errors import Error, TemporaryError
from reconciler.sepm.client import SepmClient
from reconciler.sepm.settings import (
    FLAG_PATH,
    SCOPE,
    CollateralSettingsChange,
    SettingsCache,
    change_setting,
    settings_path,
)

__all__ = ["SettingResult", "replicate_now", "secure_communications_body", "set_secure_communications"]


@dataclass(frozen=True, slots=True)
class SettingResult:
    """The outcome for one group: ``confirmed`` is the flag read back after the PATCH (None: could not be read);
    ``noop``: the flag already read as requested and nothing was sent (no policy serial moves)."""

    group_id: str
    full_path_name: str
    location_id: str | None
    requested: bool
    confirmed: bool | None
    error: str | None = None
    noop: bool = False

    @property
    def ok(self) -> bool:
        return self.confirmed is self.requested


def secure_communications_body(enabled: bool) -> dict[str, Any]:
    """The minimal settings PATCH body that names only ``secure_communications`` (what the rehearsal tries; the
    reconciler itself sends the whole ``configuration``)."""
    return {"configuration": {"general_settings": {"security_settings": {"secure_communications": enabled}}}}


async def _set_one(
    client: SepmClient, group: GroupObservation, enabled: bool, scope: Sequence[str] = SCOPE
) -> SettingResult:
    def result(confirmed: bool | None, error: str | None = None, *, noop: bool = False) -> SettingResult:
        return SettingResult(
            group.id, group.full_path_name, group.location_id, enabled, confirmed, error, noop
        )

    if group.inherits:
        return result(
            None, "the group inherits its settings from its parent: change the group it inherits from"
        )
    if group.location_id is None:
        return result(None, "the group's default location is unknown: nothing was sent")
    try:
        change = await change_setting(
            client,
            group.id,
            group.location_id,
            FLAG_PATH,
            enabled,
            scope=scope,
            group_name=group.full_path_name,
        )
    except CollateralSettingsChange:
        raise
    except Error as exc:
        return result(None, f"{settings_path(group.id, group.location_id)}: {exc}")
    confirmed = change.confirmed if isinstance(change.confirmed, bool) else None
    if confirmed is None:
        return result(None, "read-back after the PATCH: the settings carry no secure_communications flag")
    if confirmed is not enabled:
        return result(
            confirmed, f"the manager accepted the PATCH but still reports secure_communications={confirmed}"
        )
    return result(confirmed, noop=change.noop)


async def set_secure_communications(
    client: SepmClient,
    groups: Iterable[GroupObservation],
    enabled: bool,
    *,
    deadline: float | None = None,
    cache: SettingsCache | None = None,
    monotonic: Callable[[], float] = time.monotonic,
    scope: Sequence[str] = SCOPE,
) -> tuple[SettingResult, ...]:
    """Set the verification flag on ``groups`` (the managed ones), one group at a time, and read each back.

    Never raises for one group's failure: each result says what happened, in the order given. A PATCH that changed
    another field raises :class:`~reconciler.sepm.settings.CollateralSettingsChange` (carrying the groups done
    before) and no other group is touched. No group is started after ``deadline`` (our monotonic clock): those are
    reported as not attempted, so a step cut short by its time limit never leaves a group half-checked. ``scope``
    is the object PATCHed whole (the whole ``configuration``; a narrower one only to show what a manager does with
    a partial body).
    """
    results: list[SettingResult] = []
    for group in groups:
        if deadline is not None and monotonic() >= deadline:
            results.append(
                SettingResult(
                    group.id,
                    group.full_path_name,
                    group.location_id,
                    enabled,
                    None,
                    "not attempted: the action's time was up (the next attempt continues)",
                )
            )
            continue
        if cache is not None:
            cache.forget(group.id)
        try:
            results.append(await _set_one(client, group, enabled, scope))
        except CollateralSettingsChange as exc:
            exc.done = tuple(results)  # the groups changed cleanly before this one
            raise
    return tuple(results)


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
