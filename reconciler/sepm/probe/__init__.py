"""Read-only checks of what the reconciler assumes about a manager: ``sepm-reconciler probe``.

A user's first contact with their real SEPM, so it is safe: it authenticates, sends ``GET`` requests, and logs out
at the end — nothing else — and it reads little (a page of computers twice, the groups, a sample of group
settings). It reports **every** row of the assumption inventory (:mod:`reconciler.sepm.probe.inventory`): the rows a
read-only probe can check as checks — pass, fail, or unknown (could not be determined) with what was seen — and the
others with how the run time verifies them before harm. ``probe --rehearse`` (:mod:`reconciler.sepm.probe.rehearse`)
is the one part that writes, on one sacrificial group, with the operator's explicit confirmation.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from datetime import UTC, datetime

from cryptography import x509

from reconciler.core.spec import ManagedServer
from reconciler.errors import Error
from reconciler.sepm.client import SepmClient, ThrottledError
from reconciler.sepm.probe import _computers, _groups, _others, _session
from reconciler.sepm.probe._model import NOT_CHECKED, Check, Checks, ProbeReport, Status
from reconciler.sepm.probe.inventory import INVENTORY, PROBE_CHECKS, RUN_TIME, Assumption
from reconciler.sepm.tls import observe_ports

__all__ = [
    "INVENTORY",
    "NOT_CHECKED",
    "PROBE_CHECKS",
    "RUN_TIME",
    "Assumption",
    "Check",
    "ProbeReport",
    "Status",
    "run_probe",
]


async def _rest(checks: Checks, client: SepmClient, server: ManagedServer) -> str:
    """The REST checks; why the ones not reached were not (for :meth:`Checks.complete`)."""
    if not await _session.version(checks, client):
        return "the REST API did not answer (see api.trusted / api.version)"
    session = await _session.authenticate(checks, client)
    if session is None:
        return "no session (see auth.authenticate)"
    throttled: str | None = None
    try:
        await checks.attempt("domains.visible", lambda: _session.domains(checks, client, session))
        await _groups.groups(checks, client, server)
        await _computers.computers(checks, client, server, client.manager_now() or session.server_time)
        await checks.attempt("endpoint.online_stats", lambda: _computers.online_stats(checks, client))
        await _others.replication(checks, client, server)
    except ThrottledError as exc:  # pragma: no cover - each check's own errors are caught by attempt()
        throttled = str(exc)
    else:
        throttled = next(
            (c.seen for c in checks.complete_so_far() if "throttled by the manager" in c.seen), None
        )
    _session.throttle(checks, client, throttled)
    await _session.logout(checks, client)
    return "an earlier check failed (see above)"


async def run_probe(
    server: ManagedServer,
    client: SepmClient,
    *,
    desired_fingerprint: str | None = None,
    desired_chain: Sequence[x509.Certificate] | None = None,
    port_timeout: float = 10.0,
    now: datetime | None = None,
) -> ProbeReport:
    """Run every check against ``server`` through ``client`` (authentication, GET requests, logout).

    ``desired_chain`` is the desired certificate with its chain, as the spec's file holds it (None: the spec names
    a fingerprint only); ``now`` (default: this machine's clock) is when its trust is judged.
    """
    checks = Checks()
    conn = server.spec.server
    ports_task = asyncio.ensure_future(observe_ports(conn.host, conn.ports.items(), within=port_timeout))
    try:
        try:
            why = await _rest(checks, client, server)
        except Error as exc:  # pragma: no cover - a defect in a check, reported rather than raised
            why = f"the probe stopped: {exc}"
        _others.ports(checks, await ports_task, desired_fingerprint)
    finally:
        if not ports_task.done():
            ports_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ports_task
    _others.desired_trusted(checks, server, desired_chain, now or datetime.now(UTC))
    return ProbeReport(server=server.name, api_url=conn.api_url, checks=checks.complete(why))
