"""The vendor REST API of one manager, at ``/sepm/api/v1/...``, in the shapes of the vendor's Swagger.

Status codes follow the Swagger: 400 for bad parameters, 401 for a missing/expired token, 410 for an unknown
group on ``groups/{id}``, ``groups/{id}/computers`` and ``groups/{id}/locations``, 404 for an unknown group or
location on ``.../settings`` and an unknown partner on ``replicatenow``, 429 past the throttle. Errors have SEPM's
JSON error body. Faults (see :mod:`reconciler.sim.faults`) and the throttle apply to every route here.

Domains: a token remembers its login domain. ``groups`` and ``computers`` take ``domain`` (a domain id);
``groups/{id}``, its ``computers`` and ``locations`` take ``domainId``. Without it, behaviour ``domainScope``
``login`` (strict) answers for the login domain only; ``all`` for every domain.
"""

from __future__ import annotations

import asyncio
import email.utils
import math
import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from reconciler.sim.computers import page_of_computers, parse_query, render
from reconciler.sim.groups import Group, SettingsError
from reconciler.sim.manager import Manager, Token
from reconciler.sim.site import Domain
from reconciler.sim.throttle import Throttle
from reconciler.sim.web import ApiError, Handler, JsonRoute, endpoint, json_response, query_int, read_json
from reconciler.sim.world import World

__all__ = ["API_PREFIX", "api_routes"]

API_PREFIX = "/sepm/api/v1"


def api_routes(world: World, name: str) -> list[JsonRoute]:
    """The vendor API routes of manager ``name``."""
    m = world.manager(name)
    site = m.site_obj

    def vendor(fn: Handler, *, public: bool = False) -> Handler:
        async def wrapper(request: Request) -> Response:
            await _inject_faults(world, m)
            _throttle(world, m)
            if not public:
                request.state.session = _authorize(m, request)
            return await fn(request)

        wrapper.__name__ = fn.__name__
        handled = endpoint(wrapper)

        async def dated(request: Request) -> Response:
            response = await handled(request)
            # like Tomcat, every answer says when it was made, on the manager's (virtual) clock
            response.headers["Date"] = email.utils.formatdate(world.clock.now_ms() / 1000, usegmt=True)
            return response

        dated.__name__ = fn.__name__
        return dated

    def scope(request: Request, param: str) -> list[Domain]:
        """The domains a call is about: its ``param`` (a domain id), else the login domain (or every domain)."""
        raw = request.query_params.get(param)
        if raw:
            found = site.domain_by_id(raw)
            if found is None:
                raise ApiError(400, f"{param}: no domain with id {raw!r}", app_code="DOMAIN_NOT_FOUND")
            return [] if m.faults.hides(found.name) else [found]
        if m.behaviours.domain_scope == "all":
            return list(site.domains)
        session: Token = request.state.session
        return [site.domains[session.domain]]

    async def authenticate(request: Request) -> Response:
        body = await read_json(request)
        if (
            not isinstance(body, dict)
            or not isinstance(body.get("username"), str)
            or not isinstance(body.get("password"), str)
        ):
            raise ApiError(400, "username and password are required")
        wanted = str(body.get("domain") or "")
        domain = site.domain_by_name(wanted)
        if domain is None and wanted == m.cfg.domain:  # the account's own domain name stands for Default
            domain = site.domains[0]
        good = _same(body["username"], m.cfg.username) & _same(body["password"], m.cfg.password)
        if not (good and domain is not None):
            raise ApiError(401, "Invalid username or password", app_code="AUTH_FAILED")
        with world.lock:
            token, lifetime = m.issue_token(body["username"], domain.index)
            now = world.advance(site)
        return json_response(
            {
                "username": body["username"],
                "getfullName": "",
                "domain": domain.name,
                "domainid": domain.id,
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

    async def domains(request: Request) -> Response:
        return json_response(
            [
                {
                    "id": d.id,
                    "name": d.name,
                    "description": "",
                    "createdTime": d.created_ms,
                    "enable": True,
                    "companyName": "",
                    "contactInfo": "",
                    "administratorCount": 1,
                }
                for d in site.domains
                if not m.faults.hides(d.name)
            ]
        )

    async def computers(request: Request) -> Response:
        return _computers_page(request, scope(request, "domain"), group=None)

    async def groups(request: Request) -> Response:
        page = query_int(request, "pageIndex", 1, lo=1)
        size = query_int(request, "pageSize", 25, lo=1, hi=m.cfg.max_page_size)
        order = _order(request)
        wanted = request.query_params.get("fullPathName")
        with world.lock:
            world.advance(site)
            found = [(d, g) for d in scope(request, "domain") for g in d.tree.groups]
            found.sort(key=lambda dg: (dg[1].path.lower(), dg[0].index), reverse=order == "DESC")
            if wanted:
                found = [(d, g) for d, g in found if g.path.lower() == wanted.lower()]
            content = [_group_json(m, d, g) for d, g in found[(page - 1) * size : page * size]]
        return json_response(
            _page(content, len(found), page, size, {"property": "fullPathName", "direction": order})
        )

    def _group_or_410(request: Request) -> tuple[Domain, Group]:
        group_id = request.path_params["group_id"]
        found = site.group_by_id(group_id)
        if found is None or found[0] not in scope(request, "domainId"):
            raise ApiError(410, f"Cannot find the group {group_id}", app_code="GROUP_NOT_FOUND")
        return found

    async def group(request: Request) -> Response:
        with world.lock:
            world.advance(site)
            d, g = _group_or_410(request)
            return json_response(_group_json(m, d, g))

    async def group_computers(request: Request) -> Response:
        with world.lock:
            d, g = _group_or_410(request)
        return _computers_page(request, [d], group=g)

    async def locations(request: Request) -> Response:
        raw = request.query_params.get("hasName", "false").lower()
        if raw not in ("true", "false"):
            raise ApiError(400, f"hasName must be true or false, got {request.query_params['hasName']!r}")
        with world.lock:
            d, g = _group_or_410(request)
            source = d.tree.source(g)
            path = f"{API_PREFIX}/groups/{g.id}/locations/{source.location_id}"
            return json_response([f"Default:{path}" if raw == "true" else path])

    def _settings_target(request: Request) -> tuple[Domain, Group, Group]:
        found = site.group_by_id(request.path_params["group_id"])
        if found is None:
            raise ApiError(
                404, f"Cannot find the group {request.path_params['group_id']}", app_code="GROUP_NOT_FOUND"
            )
        d, g = found
        source = d.tree.source(g)
        if request.path_params["location_id"] != source.location_id:
            raise ApiError(
                404,
                f"Cannot find the location {request.path_params['location_id']} in group {g.path}",
                app_code="LOCATION_NOT_FOUND",
            )
        return d, g, source

    async def get_settings(request: Request) -> Response:
        with world.lock:
            d, g, _ = _settings_target(request)
            return json_response(d.tree.settings_document(g, show_list=m.behaviours.list_name_in_settings))

    async def patch_settings(request: Request) -> Response:
        body = await read_json(request)
        with world.lock:
            d, g, source = _settings_target(request)
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
            now = world.advance(site)
            b = m.behaviours
            try:
                d.tree.patch_settings(
                    source,
                    body,
                    now,
                    mode=b.settings_patch,
                    list_in_model=b.list_name_in_settings,
                    bump_noop=b.noop_patch_bumps_serial,
                )
            except SettingsError as exc:
                raise ApiError(400, str(exc), app_code="INVALID_SETTINGS") from None
        return Response(status_code=200)

    async def replication_status(request: Request) -> Response:
        with world.lock:
            world.advance(site)
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
        status = {
            "id": m.site_id,
            "siteName": m.site,
            "siteLocation": "NA",
            "replicationPartnerStatusList": partners,
        }
        shape = m.behaviours.replication_status_shape
        return json_response({"replicationStatus": [status] if shape == "array" else status})

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
            now = world.advance(site)
            online = sum(int(p.fleet.online(now).sum()) for p in site.populations)
            total = sum(int(p.fleet.live.sum()) for p in site.populations)
        return json_response(
            {
                "clientCountStatsList": [
                    {"status": "ONLINE", "clientsCount": online},
                    {"status": "OFFLINE", "clientsCount": total - online},
                ],
                "lastUpdated": now,
            }
        )

    def _computers_page(request: Request, domains: list[Domain], group: Group | None) -> Response:
        query = parse_query(request, m.cfg.max_page_size)
        with world.lock:
            now = world.advance(site)
            pops = sorted((p for d in domains for p in site.in_domain(d)), key=lambda p: p.prefix.upper())
            chosen, total = page_of_computers(pops, query, group, m.behaviours.deleted_rows)
            content = render(m, lambda p: site.domains[p.domain], chosen, now)
        return json_response(
            _page(content, total, query.page, query.size, {"property": query.sort, "direction": query.order})
        )

    p = API_PREFIX
    return [
        JsonRoute(f"{p}/identity/authenticate", vendor(authenticate, public=True), methods=["POST"]),
        JsonRoute(f"{p}/identity/logout", vendor(logout), methods=["POST"]),
        JsonRoute(f"{p}/version", vendor(version, public=True), methods=["GET"]),
        JsonRoute(f"{p}/domains", vendor(domains), methods=["GET"]),
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


def _authorize(m: Manager, request: Request) -> Token:
    token = _bearer(request)
    if token is None:
        raise ApiError(
            401,
            "Unauthorized: send Authorization: Bearer <token> from identity/authenticate",
            app_code="UNAUTHORIZED",
        )
    session = m.token(token)
    if session is None:
        raise ApiError(
            401, "The token is invalid or has expired; authenticate again", app_code="TOKEN_EXPIRED"
        )
    return session


def _throttle(world: World, m: Manager) -> None:
    with world.lock:
        spec = m.behaviours.throttle
        left = m.throttle.admit(spec, world.clock.now_ms())
    if left is None or spec is None:
        return
    headers = (
        {"Retry-After": str(Throttle.retry_after(left, world.clock.speed))} if spec.retry_after else None
    )
    raise ApiError(
        429,
        f"Too many requests: more than {spec.threshold} in {spec.window_minutes:g} minute(s)",
        app_code="THROTTLED",
        headers=headers,
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


def _group_json(m: Manager, d: Domain, g: Group) -> dict[str, Any]:
    policy = d.tree.current(g)
    computers = sum(int(((p.fleet.group == g.index) & p.fleet.live).sum()) for p in m.site_obj.in_domain(d))
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
        "defaultLocationId": d.tree.source(g).location_id,
        "domain": {"id": d.id, "name": d.name},
        "policyInheritanceEnabled": g.inherits,
    }
