"""The vendor REST API of one manager, at ``/sepm/api/v1/...``, in the shapes of the vendor's Swagger.

Status codes follow the Swagger: 400 for bad parameters, 401 for a missing/expired token, 410 for an unknown
group on ``groups/{id}``, ``groups/{id}/computers`` and ``groups/{id}/locations``, 404 for an unknown group or
location on ``.../settings`` and an unknown partner on ``replicatenow``. Errors have SEPM's JSON error body.
Faults (see :mod:`reconciler.sim.faults`) apply to every route here.
"""

from __future__ import annotations

import asyncio
import math
import secrets
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
from starlette.requests import Request
from starlette.responses import Response

from reconciler.sim.groups import Group, SettingsError
from reconciler.sim.manager import Manager
from reconciler.sim.web import ApiError, Handler, JsonRoute, endpoint, json_response, query_int, read_json
from reconciler.sim.world import World

__all__ = ["API_PREFIX", "api_routes"]

API_PREFIX = "/sepm/api/v1"
_SORT_COMPUTERS = {
    "COMPUTERNAME": "COMPUTER_NAME",
    "LASTUPDATETIME": "LAST_UPDATE_TIME",
}  # underscores and case ignored
_OS = [
    "Windows 10 Enterprise Edition",
    "Windows 11 Enterprise Edition",
    "Windows Server 2019 Standard Edition",
]


def api_routes(world: World, name: str) -> list[JsonRoute]:
    """The vendor API routes of manager ``name``."""
    m = world.manager(name)

    def vendor(fn: Handler, *, public: bool = False) -> Handler:
        async def wrapper(request: Request) -> Response:
            await _inject_faults(world, m)
            if not public:
                _authorize(m, request)
            return await fn(request)

        wrapper.__name__ = fn.__name__
        return endpoint(wrapper)

    async def authenticate(request: Request) -> Response:
        body = await read_json(request)
        if (
            not isinstance(body, dict)
            or not isinstance(body.get("username"), str)
            or not isinstance(body.get("password"), str)
        ):
            raise ApiError(400, "username and password are required")
        domain = body.get("domain") or ""
        known_domain = domain in ("", "Default", m.cfg.domain)
        good = _same(body["username"], m.cfg.username) & _same(body["password"], m.cfg.password)
        if not (good and known_domain):
            raise ApiError(401, "Invalid username or password", app_code="AUTH_FAILED")
        with world.lock:
            token, lifetime = m.issue_token(body["username"])
            now = world.advance()
        return json_response(
            {
                "username": body["username"],
                "getfullName": "",
                "domain": "Default",
                "domainid": m.domain_id,
                "token": token,
                "tokenExpiration": lifetime,
                "refreshToken": secrets.token_urlsafe(24),
                "refreshTokenExpiration": lifetime * 2,
                "role": {"bitMask": 8, "title": "System Administrator"},
                "adminId": m.server_id,
                "permissionSet": {
                    "reportingRights": True,
                    "groupRights": True,
                    "siteRights": True,
                    "remoteCommandRights": True,
                    "policyRights": True,
                },
                "bannerTitle": "",
                "bannerText": "",
                "serverTime": now,
            }
        )

    async def logout(request: Request) -> Response:
        token = _bearer(request)
        with world.lock:
            m.tokens.pop(token or "", None)
        return Response(status_code=204)

    async def version(request: Request) -> Response:
        return json_response({"API_SEQUENCE": "230504002", "API_VERSION": "1.0.0", "version": m.cfg.version})

    async def computers(request: Request) -> Response:
        return _computers_page(world, m, request, group=None)

    async def groups(request: Request) -> Response:
        page = query_int(request, "pageIndex", 1, lo=1)
        size = query_int(request, "pageSize", 25, lo=1, hi=m.cfg.max_page_size)
        order = _order(request)
        wanted = request.query_params.get("fullPathName")
        with world.lock:
            world.advance()
            rows = sorted(m.groups.groups, key=lambda g: g.path.lower(), reverse=order == "DESC")
            if wanted:
                rows = [g for g in rows if g.path.lower() == wanted.lower()]
            counts = np.bincount(m.clients.group, minlength=len(m.groups.groups))
            content = [_group_json(m, g, int(counts[g.index])) for g in rows[(page - 1) * size : page * size]]
        return json_response(
            _page(content, len(rows), page, size, {"property": "fullPathName", "direction": order})
        )

    def _group_or_410(request: Request) -> Group:
        group = m.groups.by_id.get(request.path_params["group_id"])
        if group is None:
            raise ApiError(
                410, f"Cannot find the group {request.path_params['group_id']}", app_code="GROUP_NOT_FOUND"
            )
        return group

    async def group(request: Request) -> Response:
        with world.lock:
            world.advance()
            g = _group_or_410(request)
            return json_response(_group_json(m, g, int((m.clients.group == g.index).sum())))

    async def group_computers(request: Request) -> Response:
        with world.lock:
            g = _group_or_410(request)
        return _computers_page(world, m, request, group=g)

    async def locations(request: Request) -> Response:
        with world.lock:
            g = _group_or_410(request)
            source = m.groups.source(g)
            return json_response([f"{API_PREFIX}/groups/{g.id}/locations/{source.location_id}"])

    def _settings_target(request: Request) -> tuple[Group, Group]:
        g = m.groups.by_id.get(request.path_params["group_id"])
        if g is None:
            raise ApiError(
                404, f"Cannot find the group {request.path_params['group_id']}", app_code="GROUP_NOT_FOUND"
            )
        source = m.groups.source(g)
        if request.path_params["location_id"] != source.location_id:
            raise ApiError(
                404,
                f"Cannot find the location {request.path_params['location_id']} in group {g.path}",
                app_code="LOCATION_NOT_FOUND",
            )
        return g, source

    async def get_settings(request: Request) -> Response:
        with world.lock:
            _, source = _settings_target(request)
            return json_response(source.settings)

    async def patch_settings(request: Request) -> Response:
        body = await read_json(request)
        with world.lock:
            g, source = _settings_target(request)
            if g is not source:
                behaviour = m.cfg.patch_inheriting
                if behaviour == "reject":
                    raise ApiError(
                        400,
                        f"Group {g.path} inherits policies from {source.path}; change the settings there, or turn off "
                        "policy inheritance for this group",
                        app_code="GROUP_INHERITS_POLICY",
                    )
                if behaviour == "ignore":
                    return Response(status_code=200)
            now = world.advance()
            try:
                m.groups.patch_settings(source, body, now)
            except SettingsError as exc:
                raise ApiError(400, str(exc), app_code="INVALID_SETTINGS") from None
        return Response(status_code=200)

    async def replication_status(request: Request) -> Response:
        with world.lock:
            world.advance()
            partners = [
                {
                    "id": world.by_site(p.other(m.site)).site_id,
                    "name": p.other(m.site),
                    "lastRunTime": p.last_run,
                    "lastSuccessfulRunTime": p.last_success,
                    "nextRunTime": p.next_run,
                    "location": "NA",
                    "status_code": p.status,
                }
                for p in world.partners_of(m)
            ]
        return json_response(
            {
                "replicationStatus": {
                    "id": m.site_id,
                    "siteName": m.site,
                    "siteLocation": "NA",
                    "replicationPartnerStatusList": partners,
                }
            }
        )

    async def is_replicated(request: Request) -> Response:
        with world.lock:
            return json_response(bool(world.partners_of(m)))

    async def replicate_now(request: Request) -> Response:
        params = request.query_params
        missing = [k for k in ("partnerSiteName", "logs", "content") if k not in params]
        if missing:
            raise ApiError(400, f"missing required query parameter(s): {', '.join(missing)}")
        for flag in ("logs", "content"):
            if params[flag].lower() not in ("true", "false"):
                raise ApiError(400, f"{flag} must be true or false")
        with world.lock:
            try:
                world.replicate_now(m, params["partnerSiteName"])
            except LookupError as exc:
                raise ApiError(404, str(exc), app_code="PARTNER_NOT_FOUND") from None
        return json_response({"code": 0})

    async def online_status(request: Request) -> Response:
        with world.lock:
            now = world.advance()
            online = int(m.clients.online(now).sum())
        return json_response(
            {
                "clientCountStatsList": [
                    {"status": "ONLINE", "clientsCount": online},
                    {"status": "OFFLINE", "clientsCount": m.clients.count - online},
                ],
                "lastUpdated": now,
            }
        )

    p = API_PREFIX
    return [
        JsonRoute(f"{p}/identity/authenticate", vendor(authenticate, public=True), methods=["POST"]),
        JsonRoute(f"{p}/identity/logout", vendor(logout), methods=["POST"]),
        JsonRoute(f"{p}/version", vendor(version, public=True), methods=["GET"]),
        JsonRoute(f"{p}/computers", vendor(computers), methods=["GET"]),
        JsonRoute(f"{p}/groups", vendor(groups), methods=["GET"]),
        JsonRoute(f"{p}/groups/{{group_id}}", vendor(group), methods=["GET"]),
        JsonRoute(f"{p}/groups/{{group_id}}/computers", vendor(group_computers), methods=["GET"]),
        JsonRoute(f"{p}/groups/{{group_id}}/locations", vendor(locations), methods=["GET"]),
        JsonRoute(
            f"{p}/groups/{{group_id}}/locations/{{location_id}}/settings",
            vendor(get_settings),
            methods=["GET"],
        ),
        JsonRoute(
            f"{p}/groups/{{group_id}}/locations/{{location_id}}/settings",
            vendor(patch_settings),
            methods=["PATCH"],
        ),
        JsonRoute(f"{p}/replication/status", vendor(replication_status), methods=["GET"]),
        JsonRoute(f"{p}/replication/is_replicated", vendor(is_replicated), methods=["GET"]),
        JsonRoute(f"{p}/replication/replicatenow", vendor(replicate_now), methods=["POST"]),
        JsonRoute(f"{p}/stats/client/onlinestatus", vendor(online_status), methods=["GET"]),
    ]


# --- helpers ------------------------------------------------------------------------------------------------------


def _same(given: str, expected: str) -> bool:
    """Constant-time comparison that also accepts non-ASCII input."""
    return secrets.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _authorize(m: Manager, request: Request) -> None:
    token = _bearer(request)
    if token is None:
        raise ApiError(
            401,
            "Unauthorized: send Authorization: Bearer <token> from identity/authenticate",
            app_code="UNAUTHORIZED",
        )
    if not m.token_valid(token):
        raise ApiError(
            401, "The token is invalid or has expired; authenticate again", app_code="TOKEN_EXPIRED"
        )


async def _inject_faults(world: World, m: Manager) -> None:
    f = m.faults
    if f.latency_ms:
        await asyncio.sleep(f.latency_ms / 1000)
    with world.lock:
        throttled = f.throttle_burst > 0
        if throttled:
            f.throttle_burst -= 1
        hang = f.timeout_rate > 0 and world.random.random() < f.timeout_rate
        fail = f.error_rate > 0 and world.random.random() < f.error_rate
    if throttled:
        raise ApiError(
            429,
            "Too many requests: the throttle threshold was exceeded",
            app_code="THROTTLED",
            headers={"Retry-After": str(f.retry_after_s)},
        )
    if hang:
        await asyncio.sleep(f.hang_s)
        raise ApiError(504, "the request hung past its timeout (timeout fault)", app_code="TIMEOUT")
    if fail:
        raise ApiError(
            500,
            "The web service encountered an error while processing the web request (error fault)",
            app_code="INTERNAL",
        )


def _order(request: Request) -> str:
    order = request.query_params.get("order", "ASC").upper()
    if order not in ("ASC", "DESC"):
        raise ApiError(400, f"order must be ASC or DESC, got {request.query_params.get('order')!r}")
    return order


def _page(content: list[Any], total: int, page: int, size: int, sort: dict[str, str]) -> dict[str, Any]:
    pages = math.ceil(total / size) if total else 0
    return {
        "content": content,
        "firstPage": page == 1,
        "lastPage": page >= pages,
        "number": page - 1,
        "numberOfElements": len(content),
        "size": size,
        "sort": sort,
        "totalElements": total,
        "totalPages": pages,
    }


def _group_json(m: Manager, g: Group, computers: int) -> dict[str, Any]:
    policy = m.groups.current(g)
    return {
        "id": g.id,
        "name": g.short_name,
        "description": "",
        "fullPathName": g.path,
        "numberOfPhysicalComputers": computers,
        "numberOfRegisteredUsers": 0,
        "createdBy": m.server_id,
        "created": g.created_ms,
        "lastModified": g.modified_ms,
        "policySerialNumber": policy.serial,
        "policyDate": policy.time_ms,
        "customIpsNumber": "",
        "defaultLocationId": m.groups.source(g).location_id,
        "domain": {"id": m.domain_id, "name": "Default"},
        "policyInheritanceEnabled": g.inherits,
    }


def _computers_page(world: World, m: Manager, request: Request, group: Group | None) -> Response:
    page = query_int(request, "pageIndex", 1, lo=1)
    size = query_int(request, "pageSize", 20, lo=1, hi=m.cfg.max_page_size)
    since = query_int(request, "lastUpdate", -1, lo=0)
    order = _order(request)
    raw_sort = request.query_params.get("sort", "COMPUTER_NAME")
    sort = _SORT_COMPUTERS.get(raw_sort.replace("_", "").upper())
    if sort is None:
        raise ApiError(400, f"sort must be COMPUTER_NAME or LAST_UPDATE_TIME, got {raw_sort!r}")
    name = request.query_params.get("computerName")
    with world.lock:
        now = world.advance()
        fleet = m.clients
        mask = np.ones(fleet.count, dtype=np.bool_)
        if group is not None:
            mask &= fleet.group == group.index
        if since >= 0:
            mask &= fleet.changed_at > since
        if name:
            mask[:] = False
            index = m.client_index(name)
            if index is not None and (group is None or fleet.group[index] == group.index):
                mask[index] = since < 0 or bool(fleet.changed_at[index] > since)
        selected = np.flatnonzero(mask)
        if sort == "LAST_UPDATE_TIME":
            selected = selected[np.argsort(fleet.last_ok[selected], kind="stable")]
        if order == "DESC":
            selected = selected[::-1]
        chunk = selected[(page - 1) * size : page * size]
        content = _render_computers(m, chunk, now)
    return json_response(
        _page(content, int(selected.size), page, size, {"property": sort, "direction": order})
    )


def _render_computers(m: Manager, indices: npt.NDArray[np.intp], now: int) -> list[dict[str, Any]]:
    fleet = m.clients
    versions = m.groups.versions
    agents = [v for v, _ in m.cfg.clients.agent_versions]
    summaries = [
        {
            "id": g.id,
            "name": g.short_name,
            "fullPathName": g.path,
            "domain": {"id": m.domain_id, "name": "Default"},
        }
        for g in m.groups.groups
    ]
    online = (~fleet.offline_at(now) & ~fleet.orphaned)[indices]
    host = m.cfg.certificate.common_name or m.cfg.name
    site, site_id, server_id = m.site, m.site_id, m.server_id
    hexer: Callable[[int, int], str] = lambda hi, lo: f"{hi:016X}{lo:016X}"  # noqa: E731 - local shorthand
    out = []
    for row, i in enumerate(indices.tolist()):
        policy = versions[int(fleet.applied[i])]
        uid = hexer(int(fleet.uid[i, 0]), int(fleet.uid[i, 1]))
        out.append(
            {
                "computerName": m.client_name(i),
                "uniqueId": uid,
                "agentId": uid,
                "hardwareKey": hexer(int(fleet.hardware[i, 0]), int(fleet.hardware[i, 1])),
                "agentVersion": agents[int(fleet.agent[i])],
                "agentType": "105",
                "onlineStatus": 1 if online[row] else 0,
                "lastUpdateTime": int(fleet.last_ok[i]),
                "agentTimeStamp": int(fleet.last_ok[i]),
                "creationTime": int(fleet.created[i]),
                "profileSerialNo": policy.serial,
                "profileVersion": str(policy.number),
                "group": summaries[int(fleet.group[i])],
                "lastServerName": host,
                "lastServerId": server_id,
                "lastSiteName": site,
                "lastSiteId": site_id,
                "deleted": 0,
                "domainOrWorkgroup": "CORP",
                "operatingSystem": _OS[i % len(_OS)],
                "ipAddresses": [f"198.18.{(i >> 8) & 255}.{i & 255}"],
                "logonUserName": f"user{i}",
            }
        )
    return out
