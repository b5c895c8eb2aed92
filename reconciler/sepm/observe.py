"""``observe()``: one manager, one immutable :class:`~reconciler.core.observation.ServerObservation`.

The parts are independent and run concurrently: the TLS handshakes on the three ports, ``GET version`` (which also
brings the manager's clock up to date from its ``Date`` header), then — in the client's session (reused between
ticks while its token lives; a new one when it is about to expire), with the manager's clock read from the session's
``serverTime`` and the answers' ``Date`` headers — the groups and their flags (settings reused while the groups'
policy serials do not move), replication, and the client scan. A part that fails leaves its field ``None`` and says
why in ``errors``; the other parts are kept. When the session cannot be had (no answer, credentials refused,
certificate not trusted) ``api_error`` says why and only the ports and ``GET version`` are observed. A manager that
**throttles** longer than a call may wait (a ``Retry-After`` of minutes) is not an observation at all:
:class:`~reconciler.sepm.client.ThrottledError` is raised with the delay, so the caller holds and comes back then.
Nothing is ever guessed.

``noop_groups`` names the managed groups whose verification flag already read as wanted when the step that changes
it began (nothing was sent to them, so their policy serial did not move): their clients acknowledge by applying
their group's *current* policy, whatever its age.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import Any, TypeVar

from reconciler.core.observation import (
    ClientAcknowledgement,
    Counting,
    DomainCounts,
    GroupObservation,
    PortObservation,
    ReplicationObservation,
    ServerObservation,
    merge_acknowledgements,
)
from reconciler.core.orphans import SwapAnalysis, SwapWindow
from reconciler.core.spec import ManagedServer
from reconciler.errors import AuthenticationError, Error
from reconciler.sepm.acknowledgement import count_acknowledgements, swap_cohort
from reconciler.sepm.client import SepmClient, Session, ThrottledError
from reconciler.sepm.domains import Domain, choose_domains, fetch_domains
from reconciler.sepm.groups import GroupScope, RawGroup, fetch_groups, observe_groups, resolve_scope
from reconciler.sepm.ledger import ClientLedger
from reconciler.sepm.replication import observe_replication
from reconciler.sepm.tls import observe_ports

__all__ = ["observe"]

log = logging.getLogger("reconciler.sepm")
T = TypeVar("T")


async def _part(
    name: str, work: Awaitable[T], errors: list[str], throttled: list[ThrottledError]
) -> T | None:
    try:
        return await work
    except ThrottledError as exc:
        throttled.append(exc)
        errors.append(f"{name}: {exc}")
        return None
    except Error as exc:
        errors.append(f"{name}: {exc}")
        return None


async def _version(client: SepmClient) -> str | None:
    data: Any = await client.get_json("version", authenticated=False)
    if isinstance(data, dict):
        for key in ("version", "API_VERSION"):
            if isinstance(data.get(key), str) and data[key]:
                return str(data[key])
    return None


async def _domain_groups(
    client: SepmClient, domains: tuple[Domain, ...], page_size: int
) -> tuple[list[RawGroup], list[str]]:
    """Every group of ``domains`` (each listed with its domain id), and the notes of their listings."""
    fetched = await asyncio.gather(*(fetch_groups(client, domain=d.id, page_size=page_size) for d in domains))
    raw: list[RawGroup] = []
    problems: list[str] = []
    for groups, notes in fetched:
        raw.extend(groups)
        problems.extend(notes)
    return raw, problems


async def _groups(
    client: SepmClient,
    listed: list[str],
    errors: list[str],
    ledger: ClientLedger,
    domains: tuple[Domain, ...],
) -> tuple[GroupScope, tuple[GroupObservation, ...]]:
    raw, problems = await _domain_groups(client, domains, ledger.page_size)
    scope = resolve_scope(raw, listed)
    observed, more = await observe_groups(client, scope, cache=ledger.settings)
    errors.extend(f"groups: {p}" for p in (*problems, *scope.problems, *more))
    return scope, observed


async def reread_groups(
    server: ManagedServer, client: SepmClient, ledger: ClientLedger | None = None
) -> tuple[GroupObservation, ...] | None:
    """The client groups and their verification flags, read again now, past any cache (None: they could not be
    read, or a domain the spec names is not visible) — what the engine checks right before it starts the
    certificate swap."""

    async def fresh() -> tuple[GroupObservation, ...] | None:
        page_size = ledger.page_size if ledger is not None else 1000
        chosen, missing = choose_domains(
            await fetch_domains(client), server.spec.rollout.clients.domain_names
        )
        if missing:
            return None
        raw, _ = await _domain_groups(client, chosen, page_size)
        scope = resolve_scope(raw, list(server.spec.rollout.clients.groups))
        observed, _ = await observe_groups(client, scope)
        return observed

    return await _part("groups", fresh(), [], [])


async def _scan(
    ledger: ClientLedger,
    client: SepmClient,
    domains: tuple[Domain, ...],
    *,
    manager_time: datetime,
    change_time: datetime | None,
    now: datetime,
) -> bool:
    """Refresh the ledger of every visible domain (the clients of each are listed with its domain id)."""
    ledger.forget_domains({d.id for d in domains})
    try:
        for domain in domains:  # one domain after the other: a manager throttles the API as a whole
            await ledger.for_domain(domain.id).refresh(
                client, manager_time=manager_time, change_time=change_time, now=now
            )
    finally:
        ledger.combine_domain_scans()
    return True


async def observe(
    server: ManagedServer,
    client: SepmClient,
    *,
    ledger: ClientLedger | None = None,
    change_time: datetime | None = None,
    checkin_since: datetime | None = None,
    swap: SwapWindow | None = None,
    now: datetime | None = None,
    port_timeout: float | None = None,
    counting: Counting | None = None,
    noop_groups: frozenset[str] = frozenset(),
) -> ServerObservation:
    """Observe ``server`` through ``client``.

    ``ledger`` is the per-manager client state the caller keeps between ticks (a throw-away one, hence a full scan,
    when omitted). ``change_time`` (manager clock) is the time of the policy change being waited for, None outside
    steps 3 and 6; ``checkin_since`` selects the clients reported as having stopped checking in (default:
    ``change_time``). ``counting`` (what the procedure table says for the rollout's stage) replaces ``change_time``
    and says how the clients are counted: a policy or a check-in since, by which ``excludeOfflineFor``, and whether
    every client is at risk. ``swap``: the window of a certificate swap already made (see
    :mod:`reconciler.core.orphans`). ``now`` is the reconciler's clock (``observed_at``). ``noop_groups``: see the
    module docstring.

    Raises :class:`~reconciler.sepm.client.ThrottledError` when the manager throttles longer than a call may wait.
    """
    if counting is not None:
        change_time = counting.since
    observed_at = now if now is not None else datetime.now(UTC)
    conn = server.spec.server
    policy = server.spec.rollout.clients
    errors: list[str] = []
    timeout = port_timeout if port_timeout is not None else min(conn.timeout.total_seconds(), 10.0)

    throttled: list[ThrottledError] = []
    ports_task = asyncio.ensure_future(observe_ports(conn.host, conn.ports.items(), within=timeout))
    try:
        api_version: str | None = None
        answered = True
        try:
            api_version = await _version(client)
        except ThrottledError as exc:
            throttled.append(exc)
            errors.append(f"api version: {exc}")
        except Error as exc:
            answered = False
            errors.append(f"api version: {exc}")
        session: Session | None = None
        manager_time: datetime | None = None
        api_error: str | None = None
        try:
            # a session carried from an earlier tick proves nothing: when GET version did not answer, the REST API
            # must answer an authentication in this tick to count as reachable
            session = await (client.ensure_session() if answered else client.authenticate())
            manager_time = await client.manager_time()
        except ThrottledError:
            raise
        except AuthenticationError as exc:
            api_error = str(exc)
        except Error as exc:
            api_error = f"authentication failed: {exc}"
        if api_error is not None:
            errors.append(f"api: {api_error}")
        if throttled and session is None:
            raise throttled[0]
    except BaseException:
        ports_task.cancel()
        await asyncio.gather(ports_task, return_exceptions=True)
        raise

    groups: tuple[GroupObservation, ...] | None = None
    replication: ReplicationObservation | None = None
    clients: ClientAcknowledgement | None = None
    domain_counts: tuple[DomainCounts, ...] | None = None
    missing: tuple[str, ...] = ()
    canary: SwapAnalysis | None = None
    parts: dict[str, ClientAcknowledgement] = {}
    if session is not None:
        if manager_time is None:
            errors.append("api: the authentication answer has no serverTime: the manager's clock is unknown")
        ledger = ledger if ledger is not None else ClientLedger(page_size=conn.api.page_size)
        visible = await _part("domains", fetch_domains(client), errors, throttled)
        chosen: tuple[Domain, ...] = ()
        if visible is not None:
            chosen, missing = choose_domains(visible, policy.domain_names)
            if missing:
                errors.append(
                    f"domains: rollout.clients.domains names {', '.join(map(repr, missing))}, which the "
                    f"credentials do not see (they see {', '.join(repr(d.name) for d in visible)})"
                )
        group_part = (
            _part("groups", _groups(client, list(policy.groups), errors, ledger, chosen), errors, throttled)
            if visible is not None
            else _nothing()
        )
        replication_part = _part("replication", observe_replication(client), errors, throttled)
        scan_part = (
            _part(
                "clients",
                _scan(
                    ledger,
                    client,
                    visible,
                    manager_time=manager_time,
                    change_time=change_time,
                    now=observed_at,
                ),
                errors,
                throttled,
            )
            if manager_time is not None and visible is not None
            else _nothing()
        )
        group_result, replication_result, scanned = await asyncio.gather(
            group_part, replication_part, scan_part
        )
        scope: GroupScope | None = None
        if group_result is not None:
            scope, groups = group_result
        if replication_result is not None:
            replication, notes = replication_result
            errors.extend(f"replication: {n}" for n in notes)
        if scanned and manager_time is not None and visible is not None:
            if policy.groups and scope is None:
                errors.append(
                    "clients: which clients are in scope is unknown, because the groups could not be read"
                )
            else:
                how = counting or Counting(since=change_time)
                for domain in chosen:
                    part, notes = count_acknowledgements(
                        ledger.for_domain(domain.id).entries(),
                        in_scope=scope.in_scope if policy.groups and scope is not None else None,
                        change_time=change_time,
                        manager_time=manager_time,
                        exclude_offline_for=how.exclude_offline_for or policy.exclude_offline_for,
                        checkin_since=checkin_since,
                        basis=how.basis,
                        everyone_at_risk=how.everyone_at_risk,
                        swap=swap,
                        settled=_settled(groups, scope, noop_groups, change_time),
                    )
                    parts[domain.id] = part
                    where = f"domain {domain.name!r}: " if len(visible) > 1 else ""
                    errors.extend(f"clients: {where}{n}" for n in notes)
                clients = merge_acknowledgements(tuple(parts.values()))
                if clients is None:  # no domain chosen (each named one missing): nothing counted
                    errors.append("clients: no domain of rollout.clients.domains is visible")
                if swap is not None:
                    canary = swap_cohort(
                        (e for d in visible for e in ledger.for_domain(d.id).entries()), swap, manager_time
                    )
            log.debug("%s: client scan %s", server.name, ledger.last_scan)
        if visible is not None:
            domain_counts = tuple(
                _domain_counts(d, d in chosen, parts.get(d.id) if scanned and clients is not None else None)
                for d in visible
            )
    if throttled:  # incomplete, and the manager asks us to slow down: no observation, come back later
        ports_task.cancel()
        await asyncio.gather(ports_task, return_exceptions=True)
        raise max(throttled, key=lambda e: e.delay or 0.0)

    ports: dict[str, PortObservation] = await ports_task
    return ServerObservation(
        server=server.name,
        observed_at=observed_at,
        api_reachable=session is not None or api_version is not None,
        api_version=api_version,
        manager_time=manager_time,
        ports=ports,
        replication=replication,
        groups=groups,
        clients=clients,
        errors=tuple(errors),
        api_error=api_error,
        domains=domain_counts,
        domains_missing=missing,
        canary=canary,
    )


def _domain_counts(domain: Domain, counted: bool, ack: ClientAcknowledgement | None) -> DomainCounts:
    if ack is None:
        return DomainCounts(domain.id, domain.name, counted)
    return DomainCounts(domain.id, domain.name, counted, ack.eligible, ack.acknowledged, ack.at_risk_count)


async def _nothing() -> None:
    return None


def _settled(
    groups: tuple[GroupObservation, ...] | None,
    scope: GroupScope | None,
    noop_groups: frozenset[str],
    change_time: datetime | None,
) -> dict[str, datetime]:
    """Per client group: the time of the policy its clients must have applied, for the groups where that is not
    ``change_time`` — those whose source was a no-op (``noop_groups``): their current policy, however old."""
    if not noop_groups or change_time is None or groups is None or scope is None:
        return {}
    return {
        g.id: g.policy_time
        for g in groups
        if g.policy_time is not None and scope.source.get(g.id) in noop_groups and g.policy_time < change_time
    }
