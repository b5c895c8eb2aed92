"""The daemon's HTTP endpoints (starlette), read-only, bound to loopback unless told otherwise.

=================  ====================================================================================
``GET /healthz``   200 ``{"status": "ok"}``; 503 ``{"status": "unhealthy", "problems": [...]}`` when ticks are
                   stale or the state file was replaced under the daemon (see :mod:`reconciler.daemon.state`) —
                   for liveness probes
``GET /readyz``    200 when leading with valid specs in force and a usable state; 503 ``{"status": "not ready",
                   "reason"}`` (standby, no valid specs, state store unusable, starting, stopping) — for readiness
``GET /metrics``   Prometheus text exposition (``sepm_reconciler_*``)
``GET /api/status`` the ``status --output json`` document (from the store), plus ``"daemon"``: role, lease,
                   specs in force and the last refused commit, unmanaged servers, tick timings
``GET /``          the status page (HTML, refreshes itself, no script, no external asset)
``GET /servers/NAME/at-risk.csv``  the clients at risk of one server (``name,last_seen_utc,unseen_hours,online``)
=================  ====================================================================================

Every request must name this daemon in its ``Host`` header (:mod:`reconciler.daemon.hosts`: the listen address, and
the names of ``--allowed-host``); any other gets ``421 Misdirected Request`` — DNS rebinding cannot read the status.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Protocol
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from reconciler.core.events import Event
from reconciler.core.record import RolloutRecord
from reconciler.core.status import status_document
from reconciler.daemon.hosts import HostCheck, HostPolicy
from reconciler.daemon.metrics import CONTENT_TYPE, DaemonMetrics, Snapshot
from reconciler.daemon.page import ServerInfo, render_page
from reconciler.daemon.state import DaemonState
from reconciler.errors import StateError
from reconciler.views import at_risk_csv

__all__ = ["StatusSource", "build_app"]

EVENTS_SHOWN = 25
TIMELINE = 300  # events read per server for its rollout's timeline

_PAGE_HEADERS = {
    # No script may run on this page, whatever a value contains; styles are inline; nothing is loaded.
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class StatusSource(Protocol):
    """What the endpoints read (the daemon provides it)."""

    @property
    def state(self) -> DaemonState: ...

    @property
    def metrics(self) -> DaemonMetrics: ...

    @property
    def health_grace(self) -> timedelta: ...

    @property
    def page_refresh(self) -> int: ...

    def now(self) -> datetime: ...

    async def records(self) -> list[RolloutRecord]: ...

    async def events(self, limit: int) -> list[Event]: ...

    async def server_events(self, names: Sequence[str], limit: int) -> dict[str, list[Event]]: ...

    @property
    def state_url(self) -> str: ...

    def servers_info(self) -> Mapping[str, ServerInfo]: ...

    def snapshot(self, records: Sequence[RolloutRecord], now: datetime) -> Snapshot: ...


def _store_unavailable(exc: StateError) -> JSONResponse:
    return JSONResponse({"error": f"the state cannot be read: {exc}"}, status_code=503)


def build_app(source: StatusSource, hosts: HostPolicy | None = None) -> Starlette:
    """The endpoints over ``source``; ``hosts`` the ``Host`` names they answer to (default: loopback only)."""

    async def healthz(request: Request) -> Response:
        problems = source.state.health(source.now(), source.health_grace)
        if problems:
            return JSONResponse({"status": "unhealthy", "problems": problems}, status_code=503)
        return JSONResponse({"status": "ok", "role": source.state.role.value})

    async def readyz(request: Request) -> Response:
        reason = source.state.readiness()
        if reason is not None:
            return JSONResponse({"status": "not ready", "reason": reason}, status_code=503)
        return JSONResponse({"status": "ready", "revision": source.state.specs.revision})

    async def metrics(request: Request) -> Response:
        now = source.now()
        try:
            records = await source.records()
        except StateError:
            records = []  # the counters are still worth scraping; the servers' gauges are absent
        body = source.metrics.render(source.snapshot(records, now))
        return Response(body, media_type=CONTENT_TYPE)

    async def api_status(request: Request) -> Response:
        now = source.now()
        try:
            records = await source.records()
        except StateError as exc:
            return _store_unavailable(exc)
        document = status_document(records)
        managed = source.servers_info()
        known = source.state.has_specs  # without specs in force, nobody can be called unmanaged
        unmanaged = sorted(r.server for r in records if r.server not in managed) if known else []
        document["daemon"] = source.state.to_json(now, source.health_grace, unmanaged=unmanaged)
        return JSONResponse(document)

    async def page(request: Request) -> Response:
        now = source.now()
        try:
            records = await source.records()
            events = await source.events(EVENTS_SHOWN)
        except StateError as exc:
            return _store_unavailable(exc)
        servers = source.servers_info()
        try:
            timelines = await source.server_events(
                [r.server for r in records if r.server in servers], TIMELINE
            )
        except StateError as exc:
            return _store_unavailable(exc)
        body = render_page(
            source.state,
            now=now,
            records=records,
            events=events,
            servers=servers,
            refresh=source.page_refresh,
            server_events=timelines,
            state_url=source.state_url,
        )
        return HTMLResponse(body, headers=_PAGE_HEADERS)

    async def at_risk(request: Request) -> Response:
        name = request.path_params["name"]
        try:
            records = await source.records()
        except StateError as exc:
            return _store_unavailable(exc)
        record = next((r for r in records if r.server == name), None)
        if record is None:
            return JSONResponse({"error": f"no server {name!r} in the state"}, status_code=404)
        return Response(
            at_risk_csv(record),
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="{quote(name, safe="")}-at-risk.csv"',
                "X-Content-Type-Options": "nosniff",
                "Cache-Control": "no-store",
            },
        )

    routes = [
        Route("/healthz", healthz, methods=["GET", "HEAD"]),
        Route("/readyz", readyz, methods=["GET", "HEAD"]),
        Route("/metrics", metrics, methods=["GET", "HEAD"]),
        Route("/api/status", api_status, methods=["GET", "HEAD"]),
        Route("/", page, methods=["GET", "HEAD"]),
        Route("/servers/{name}/at-risk.csv", at_risk, methods=["GET", "HEAD"]),
    ]
    policy = hosts or HostPolicy("127.0.0.1")
    return Starlette(routes=routes, middleware=[Middleware(HostCheck, policy=policy)])
