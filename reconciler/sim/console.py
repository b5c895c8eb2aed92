"""Admin routes for the console operations SEPM's REST API lacks around management server lists, and for the
behaviours (``/_sim/behaviours``, ``/_sim/lists``, ``/_sim/lists/assign``).

=====================================  ==========================================================================
``GET /_sim/behaviours``               this manager's behaviours (``managementServerLists``: the site's lists now)
``POST /_sim/behaviours``              ``"strict"``, ``"lenient"`` or any subset ``{KEY: VALUE}``; site keys change
                                       the whole site; a list named in ``managementServerLists`` is created or
                                       its protocol edited (lists are never deleted)
``POST /_sim/lists``                   ``{"name", "protocol", "copyOf"?}``: copy ``copyOf`` and paste it as
                                       ``name`` with ``protocol``, or (no ``copyOf``) edit ``name``'s protocol
``POST /_sim/lists/assign``            ``{"list", "groups": [PATH, …] | null}`` (null: every group and location)
                                       → ``{"assigned": [PATH, …], "list"}``
=====================================  ==========================================================================

Assigning or editing a list is a policy change (new serials) for the groups concerned, as in the console.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from reconciler.sim.behaviours import PROTOCOLS, BehaviourError, Behaviours, resolve
from reconciler.sim.groups import hex_id
from reconciler.sim.msl import MsList
from reconciler.sim.throttle import Throttle
from reconciler.sim.web import ApiError, Handler, JsonRoute, json_response, read_json
from reconciler.sim.world import World
from reconciler.sim.yamlmarks import dotted

__all__ = ["console_routes"]


def console_routes(world: World, name: str, admin: Callable[[Handler], Handler]) -> list[JsonRoute]:
    m = world.manager(name)
    site = m.site_obj

    def current() -> dict[str, Any]:
        shown = m.behaviours.to_json()
        shown["managementServerLists"] = [entry.to_json() for entry in site.lists.present()]
        return shown

    def apply(new: Behaviours, now: int) -> None:
        for spec in new.management_server_lists:
            existing = site.lists.by_name(spec.name)
            if existing is None:
                list_id = hex_id(site.seed, "list", site.name, spec.name, now, len(site.lists.lists))
                site.lists.add(MsList(list_id, spec.name, spec.protocol, now, now))
            else:
                site.set_list(spec.name, spec.protocol, None, now)
        site.set_behaviours(new)
        if new.throttle != m.behaviours.throttle:
            m.throttle = Throttle()  # a changed throttle starts a new window
        m.behaviours = dataclasses.replace(new)

    async def behaviours(request: Request) -> Response:
        if request.method == "POST":
            body = await read_json(request)
            with world.lock:
                try:
                    new = resolve(m.behaviours, body)
                except BehaviourError as exc:
                    where = dotted(exc.path)
                    raise ApiError(400, f"{where}: {exc.message}" if where else exc.message) from None
                apply(new, world.advance(site))
        with world.lock:
            return json_response(current())

    async def lists(request: Request) -> Response:
        body = await read_json(request)
        if not isinstance(body, dict):
            raise ApiError(400, 'the body must be {"name", "protocol", "copyOf"?}')
        list_name, protocol, copy_of = body.get("name"), body.get("protocol"), body.get("copyOf")
        if not isinstance(list_name, str) or not list_name.strip():
            raise ApiError(400, "name must be the list's name (a non-empty string)")
        if protocol not in PROTOCOLS:
            raise ApiError(400, "protocol must be https or http")
        if copy_of is not None and not isinstance(copy_of, str):
            raise ApiError(400, "copyOf must be the name of the list to copy")
        with world.lock:
            now = world.advance(site)
            try:
                entry = site.set_list(list_name, str(protocol), copy_of, now)
            except LookupError as exc:
                raise ApiError(404, str(exc)) from None
            except FileExistsError as exc:
                raise ApiError(409, str(exc)) from None
            return json_response(
                {"list": entry.to_json(), "lists": [e.to_json() for e in site.lists.present()]}
            )

    async def assign(request: Request) -> Response:
        body = await read_json(request)
        if not isinstance(body, dict) or not isinstance(body.get("list"), str) or "groups" not in body:
            raise ApiError(
                400, 'the body must be {"list": NAME, "groups": [PATH, …] or null for every group}'
            )
        groups = body["groups"]
        if groups is not None and (
            not isinstance(groups, list) or not groups or not all(isinstance(g, str) for g in groups)
        ):
            raise ApiError(400, "groups must be a non-empty list of group paths, or null for every group")
        with world.lock:
            entry = site.lists.by_name(body["list"])
            if entry is None:
                known = ", ".join(e.name for e in site.lists.present())
                raise ApiError(404, f"no management server list named {body['list']!r} (lists: {known})")
            now = world.advance(site)
            try:
                assigned = site.assign_list(entry, groups, now)
            except LookupError as exc:
                raise ApiError(404, str(exc)) from None
            except ValueError as exc:
                raise ApiError(400, str(exc)) from None
        return json_response({"assigned": assigned, "list": entry.name})

    return [
        JsonRoute("/_sim/behaviours", admin(behaviours), methods=["GET", "POST"]),
        JsonRoute("/_sim/lists", admin(lists), methods=["POST"]),
        JsonRoute("/_sim/lists/assign", admin(assign), methods=["POST"]),
    ]
