"""Counting which clients applied a policy at or after a change time (see ``ClientAcknowledgement``).

Every in-scope client falls in exactly one bucket:

* **acknowledged** — the time in its ``profileSerialNo`` is at or after ``change_time`` (basis ``policy``), or its
  last check-in (``lastUpdateTime``) is (basis ``checkin``: step 4b, it fetched the certificate served since);
* **excluded_offline** — otherwise, offline and unseen (``lastUpdateTime``) for longer than ``excludeOfflineFor`` on
  the manager's clock: not waited for;
* **pending_online** / **pending_offline** — the rest, by ``onlineStatus``.

``eligible = acknowledged + pending_online + pending_offline`` and ``total = eligible + excluded_offline``; the
at-risk clients are all but the acknowledged ones (all of them with ``everyone_at_risk``: a skipped list switch
leaves every client's management server list unknown before the swap). Unknowns are resolved towards waiting: a serial that cannot be
parsed is not acknowledged, a client whose last check-in or online status is unknown is waited for.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta

from reconciler.core.observation import AT_RISK_LISTED, AtRiskClient, Basis, ClientAcknowledgement
from reconciler.core.orphans import Seen, SwapAnalysis, SwapWindow, classify_ms, summarise
from reconciler.sepm.ledger import UNKNOWN, ClientEntry

__all__ = ["LIST_LIMIT", "count_acknowledgements", "is_legacy_agent", "swap_cohort"]

LIST_LIMIT = 100


def is_legacy_agent(version: str) -> bool:
    """14.2 and 14.2.1 agents (versions ``14.2.x``) cannot use the multi-server shortcut."""
    return version == "14.2" or version.startswith("14.2.")


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def count_acknowledgements(
    entries: Iterable[ClientEntry],
    *,
    in_scope: frozenset[str] | None,
    change_time: datetime | None,
    manager_time: datetime,
    exclude_offline_for: timedelta,
    checkin_since: datetime | None = None,
    basis: Basis = Basis.POLICY,
    everyone_at_risk: bool = False,
    swap: SwapWindow | None = None,
    settled: Mapping[str, datetime] | None = None,
) -> tuple[ClientAcknowledgement, list[str]]:
    """Count the in-scope clients (``in_scope`` group ids; None = every client) and note what looked wrong.

    ``checkin_since`` (default ``change_time``) selects the clients listed as having stopped checking in: eligible
    clients whose last check-in precedes it. ``basis`` says what acknowledges the change (see the module docstring).
    ``settled`` maps group ids to an earlier time than ``change_time`` at which their clients count as acknowledged
    (groups whose flag already read as wanted, so nothing was changed: their current policy is the one to have).
    ``swap`` (after a certificate swap): the clients eligible at the swap stay eligible whatever their silence since
    (the exclusion cut-off is frozen at the swap), and each client is classified by
    :func:`reconciler.core.orphans.classify_ms` (silent ones are probably orphaned).
    """
    change_ms = _ms(change_time) if change_time is not None else None
    earlier = {gid: _ms(when) for gid, when in (settled or {}).items()} if change_ms is not None else {}
    cutoff_ms = _ms(manager_time - exclude_offline_for)
    if swap is not None:
        cutoff_ms = min(cutoff_ms, _ms(swap.eligible_from))
    window_ms = swap.in_ms() if swap is not None else None
    now_ms = _ms(manager_time)
    seen_counts: dict[Seen, int] = {}
    silent: list[str] = []
    since = checkin_since if checkin_since is not None else change_time
    since_ms = _ms(since) if since is not None else None
    total = acknowledged = pending_online = pending_offline = excluded = legacy = 0
    bad_serials = odd_status = 0
    oldest_ms: int | None = None
    at_risk: list[str] = []
    last_seen: dict[str, tuple[int, bool | None]] = {}  # the at-risk clients' last check-in and online status
    stopped: list[str] = []
    for entry in entries:
        if in_scope is not None and entry.group_id not in in_scope:
            continue
        total += 1
        if entry.agent_version and is_legacy_agent(entry.agent_version):
            legacy += 1
        if entry.bad_serial:
            bad_serials += 1
        if window_ms is not None:
            last = entry.last_update_ms
            seen = classify_ms(None if last == UNKNOWN else last, window_ms, now_ms)
            seen_counts[seen] = seen_counts.get(seen, 0) + 1
            if seen is Seen.SILENT:
                silent.append(entry.name)
        stamp = entry.last_update_ms if basis is Basis.CHECKIN else entry.serial_ms
        if change_ms is not None and stamp != UNKNOWN:
            needed = earlier.get(entry.group_id, change_ms) if earlier else change_ms
            if stamp >= needed:
                acknowledged += 1
                if everyone_at_risk:
                    at_risk.append(entry.name)
                    last_seen[entry.name] = (entry.last_update_ms, entry.online)
                continue
        at_risk.append(entry.name)
        seen_ms = entry.last_update_ms
        last_seen[entry.name] = (seen_ms, entry.online)
        if entry.online is True:
            pending_online += 1
        else:
            odd_status += entry.online is None
            if seen_ms != UNKNOWN and (oldest_ms is None or seen_ms < oldest_ms):
                oldest_ms = seen_ms
            if entry.online is False and seen_ms != UNKNOWN and seen_ms < cutoff_ms:
                excluded += 1
                continue  # not waited for, so not listed as having "stopped" checking in either
            pending_offline += 1
        if since_ms is not None and (seen_ms == UNKNOWN or seen_ms < since_ms):
            stopped.append(entry.name)
    problems = []
    if bad_serials:
        problems.append(
            f"{bad_serials} clients carry a profileSerialNo not in the vendor's format: counted as not acknowledged"
        )
    if odd_status:
        problems.append(f"{odd_status} clients have an onlineStatus other than 1 or 0: counted as offline")
    longest = None
    if oldest_ms is not None:
        longest = max(timedelta(0), timedelta(milliseconds=_ms(manager_time) - oldest_ms))
    ack = ClientAcknowledgement(
        change_time=change_time,
        total=total,
        eligible=total - excluded,
        acknowledged=acknowledged,
        pending_online=pending_online,
        pending_offline=pending_offline,
        excluded_offline=excluded,
        at_risk_count=len(at_risk),
        at_risk_names=tuple(heapq.nsmallest(LIST_LIMIT, at_risk)),
        legacy_agents=legacy,
        longest_unseen=longest,
        stopped_checking_in=tuple(heapq.nsmallest(LIST_LIMIT, stopped)),
        stopped_checking_in_count=len(stopped),
        at_risk_clients=tuple(_listed(heapq.nsmallest(AT_RISK_LISTED, at_risk), last_seen)),
        swap=summarise(swap, seen_counts, silent) if swap is not None else None,
        basis=basis,
    )
    return ack, problems


def swap_cohort(entries: Iterable[ClientEntry], swap: SwapWindow, manager_time: datetime) -> SwapAnalysis:
    """The swap's cohort over ``entries`` — every client, in scope or not: a client of a group the spec left out
    that still verified is orphaned by the swap like any other — and what became of it
    (:func:`reconciler.core.orphans.classify_ms`)."""
    window_ms, now_ms = swap.in_ms(), _ms(manager_time)
    counts: dict[Seen, int] = {}
    silent: list[str] = []
    for entry in entries:
        last = entry.last_update_ms
        seen = classify_ms(None if last == UNKNOWN else last, window_ms, now_ms)
        counts[seen] = counts.get(seen, 0) + 1
        if seen is Seen.SILENT:
            silent.append(entry.name)
    return summarise(swap, counts, silent)


def _listed(names: list[str], last_seen: dict[str, tuple[int, bool | None]]) -> Iterable[AtRiskClient]:
    for name in names:
        seen_ms, online = last_seen[name]
        last = None if seen_ms == UNKNOWN else datetime.fromtimestamp(seen_ms / 1000, UTC)
        yield AtRiskClient(name, last, online)
