"""The simulator-only admin API under ``/_sim/`` on each manager's API port: the console operations SEPM's REST API
lacks, the clock, faults and the ground truth. Bearer token: the fleet's admin token (in the ports file).

=====================================  ==========================================================================
``POST /_sim/replication/partners/delete``  ``{"partner": SITE}``: remove the partnership on both sides
``POST /_sim/replication/partners/add``     ``{"partner": SITE}``: this site joins SITE (its group settings are
                                            overwritten with SITE's); both sides get the partnership
``POST /_sim/certificate``                  ``{"pkcs12_b64", "password"}``, ``{"cert_pem", "key_pem"[, "password"]}``
                                            or ``{"jks_b64", "password"[, "key_password"]}``; staged until restart
``POST /_sim/certificate/backup``           ``{"password"}`` → ``{"pkcs12_b64", "fingerprint"}`` of what is served
``POST /_sim/services/restart``             ``{}`` (all three) or ``{"services": ["semwebsrv", …]}``
``POST /_sim/clock/advance``                ``{"seconds": N}`` (the whole fleet shares one clock)
``POST /_sim/clock/set``                    ``{"time": ISO 8601}`` (forward only)
``POST /_sim/clients/rehome``               ``{}``: re-home this manager's orphaned clients that are online
``POST /_sim/clients/online``               ``{"online": bool, "names": [...] | "count": N | "share": x,
                                            "group"?: PATH, "for_seconds"?: N}``
``POST /_sim/faults``, ``GET /_sim/faults`` see :mod:`reconciler.sim.faults`
``GET /_sim/state[?clients=true]``          the ground truth of the whole fleet
``GET /_sim/clients/{name}``                one client's detail
``GET``/``POST /_sim/behaviours``,          see :mod:`reconciler.sim.console`
``POST /_sim/lists``, ``…/lists/assign``
=====================================  ==========================================================================
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from reconciler.sim.certs import ServerCertificate, load_jks, load_pem, load_pkcs12, to_pkcs12
from reconciler.sim.clock import iso
from reconciler.sim.console import console_routes
from reconciler.sim.errors import CertificateRejected
from reconciler.sim.jks import JKS_MAGIC
from reconciler.sim.manager import SERVICES
from reconciler.sim.web import ApiError, Handler, JsonRoute, endpoint, json_response, read_json
from reconciler.sim.world import World

__all__ = ["admin_routes", "decode_certificate"]

Restarter = Callable[[str, tuple[str, ...]], Awaitable[dict[str, Any]]]


def admin_routes(world: World, name: str, admin_token: str, restart: Restarter) -> list[JsonRoute]:
    m = world.manager(name)
    site = m.site_obj

    def admin(fn: Handler) -> Handler:
        async def wrapper(request: Request) -> Response:
            scheme, _, token = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not secrets.compare_digest(
                token.strip().encode(), admin_token.encode()
            ):
                raise ApiError(
                    401, "the /_sim admin API needs Authorization: Bearer <admin_token from the ports file>"
                )
            return await fn(request)

        wrapper.__name__ = fn.__name__
        return endpoint(wrapper)

    async def _partner(request: Request) -> str:
        body = await read_json(request)
        if not isinstance(body, dict) or not isinstance(body.get("partner"), str) or not body["partner"]:
            raise ApiError(400, 'the body must be {"partner": SITE NAME}')
        return str(body["partner"])

    def partners() -> Response:
        return json_response({"site": m.site, "partners": [p.other(m.site) for p in world.partners_of(m)]})

    async def partner_delete(request: Request) -> Response:
        site = await _partner(request)
        with world.lock:
            try:
                world.delete_partner(m, site)
            except LookupError as exc:
                raise ApiError(404, str(exc)) from None
            return partners()

    async def partner_add(request: Request) -> Response:
        site = await _partner(request)
        with world.lock:
            try:
                world.add_partner(m, site)
            except LookupError as exc:
                raise ApiError(404, str(exc)) from None
            except FileExistsError as exc:
                raise ApiError(409, str(exc)) from None
            except ConnectionError as exc:
                raise ApiError(503, str(exc)) from None
            except ValueError as exc:
                raise ApiError(400, str(exc)) from None
            return partners()

    async def certificate(request: Request) -> Response:
        body = await read_json(request)
        try:
            cert = decode_certificate(body)
        except CertificateRejected as exc:
            raise ApiError(422, str(exc), app_code="CERTIFICATE_REJECTED") from None
        with world.lock:
            fp = world.stage_certificate(m, cert)
        return json_response(
            {
                "staged": fp,
                "subject": cert.subject,
                "takes_effect": "when the services restart (POST /_sim/services/restart)",
            }
        )

    async def backup(request: Request) -> Response:
        body = await read_json(request)
        password = body.get("password") if isinstance(body, dict) else None
        if not isinstance(password, str) or not password:
            raise ApiError(400, 'the body must be {"password": "…"} (the backup is encrypted with it)')
        with world.lock:
            index = m.current["api"]
            cert = world.certs[index]
        data = to_pkcs12(cert, password.encode(), name=m.name)
        return json_response({"pkcs12_b64": base64.b64encode(data).decode(), "fingerprint": cert.fingerprint})

    async def services_restart(request: Request) -> Response:
        body = await read_json(request, required=False)
        services = body.get("services", list(SERVICES)) if isinstance(body, dict) else None
        if not isinstance(services, list) or not services or any(s not in SERVICES for s in services):
            raise ApiError(400, f"services must be a non-empty list drawn from {', '.join(SERVICES)}")
        try:
            result = await restart(name, tuple(dict.fromkeys(services)))
        except RuntimeError as exc:
            raise ApiError(409, str(exc)) from None
        return json_response(result, 202)

    async def clock_advance(request: Request) -> Response:
        body = await read_json(request)
        seconds = body.get("seconds") if isinstance(body, dict) else None
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
            raise ApiError(400, 'the body must be {"seconds": N} with N ≥ 0')
        with world.lock:
            world.clock.advance(float(seconds))
            now = world.advance()
        return json_response({"clock": iso(now)})

    async def clock_set(request: Request) -> Response:
        body = await read_json(request)
        raw = body.get("time") if isinstance(body, dict) else None
        try:
            when = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
        except ValueError:
            raise ApiError(400, 'the body must be {"time": "2026-12-02T08:00:00Z"}') from None
        with world.lock:
            try:
                world.clock.set(when)
            except ValueError as exc:
                raise ApiError(400, str(exc)) from None
            now = world.advance()
        return json_response({"clock": iso(now)})

    async def rehome(request: Request) -> Response:
        with world.lock:
            now = world.advance(site)
            rehomed = left = 0
            for population in site.homed(m.slot):
                done, remaining = population.fleet.rehome(now, site.environment(population))
                rehomed, left = rehomed + done, left + remaining
        return json_response({"rehomed": rehomed, "still_orphaned_offline": left})

    async def clients_online(request: Request) -> Response:
        body = await read_json(request)
        if not isinstance(body, dict) or not isinstance(body.get("online"), bool):
            raise ApiError(400, 'the body needs "online": true or false')
        until = body.get("for_seconds")
        if until is not None and (
            isinstance(until, bool) or not isinstance(until, int | float) or until <= 0
        ):
            raise ApiError(400, "for_seconds must be a number of seconds > 0")
        with world.lock:
            now = world.advance(site)
            try:
                selected = m.select_clients(body, now, want_online=body["online"])
            except LookupError as exc:
                raise ApiError(404, str(exc)) from None
            except ValueError as exc:
                raise ApiError(400, str(exc)) from None
            changed = 0
            for population, mask in selected:
                if body["online"]:
                    changed += population.fleet.set_online(mask, now, site.environment(population))
                else:
                    back = None if until is None else now + int(until * 1000)
                    changed += population.fleet.set_offline(mask, now, back)
        return json_response({"changed": changed})

    async def faults(request: Request) -> Response:
        if request.method == "POST":
            body = await read_json(request)
            with world.lock:
                try:
                    m.faults.update(body)
                except ValueError as exc:
                    raise ApiError(400, str(exc)) from None
        return json_response(m.faults.to_json())

    async def state(request: Request) -> Response:
        detail = request.query_params.get("clients", "").lower() in ("1", "true", "yes")
        return json_response(world.state(clients=detail))

    async def client(request: Request) -> Response:
        with world.lock:
            now = world.advance(site)
            row = world.client_row(m, request.path_params["name"], now)
            if row is None:
                raise ApiError(404, f"no computer named {request.path_params['name']!r} on {m.name}")
            return json_response(row)

    return [
        JsonRoute("/_sim/replication/partners/delete", admin(partner_delete), methods=["POST"]),
        JsonRoute("/_sim/replication/partners/add", admin(partner_add), methods=["POST"]),
        JsonRoute("/_sim/certificate", admin(certificate), methods=["POST"]),
        JsonRoute("/_sim/certificate/backup", admin(backup), methods=["POST"]),
        JsonRoute("/_sim/services/restart", admin(services_restart), methods=["POST"]),
        JsonRoute("/_sim/clock/advance", admin(clock_advance), methods=["POST"]),
        JsonRoute("/_sim/clock/set", admin(clock_set), methods=["POST"]),
        JsonRoute("/_sim/clients/rehome", admin(rehome), methods=["POST"]),
        JsonRoute("/_sim/clients/online", admin(clients_online), methods=["POST"]),
        JsonRoute("/_sim/clients/{name}", admin(client), methods=["GET"]),
        JsonRoute("/_sim/faults", admin(faults), methods=["GET", "POST"]),
        JsonRoute("/_sim/state", admin(state), methods=["GET"]),
        *console_routes(world, name, admin),
    ]


def decode_certificate(body: Any) -> ServerCertificate:
    """A certificate update body → the certificate, or :class:`CertificateRejected` saying why SEPM would refuse."""
    if not isinstance(body, dict):
        raise CertificateRejected("the body must be a JSON object")
    password = body.get("password")
    if password is not None and not isinstance(password, str):
        raise CertificateRejected("password must be a string")

    def b64(key: str) -> bytes:
        try:
            return base64.b64decode(str(body[key]), validate=True)
        except (binascii.Error, ValueError):
            raise CertificateRejected(f"{key} is not valid base64") from None

    if "pkcs12_b64" in body:
        return load_pkcs12(b64("pkcs12_b64"), (password or "").encode())
    if "jks_b64" in body:
        data = b64("jks_b64")
        if password is None:
            raise CertificateRejected("a JKS keystore needs its password")
        key_password = body.get("key_password")
        if (
            int.from_bytes(data[:4], "big") != JKS_MAGIC
        ):  # keytool's default store type is PKCS#12, even in .jks files
            return load_pkcs12(data, password.encode())
        return load_jks(data, password, key_password if isinstance(key_password, str) else None)
    if "cert_pem" in body and "key_pem" in body:
        return load_pem(
            str(body["cert_pem"]).encode(),
            str(body["key_pem"]).encode(),
            password.encode() if password else None,
        )
    raise CertificateRejected(
        'give {"pkcs12_b64", "password"}, {"cert_pem", "key_pem"} or {"jks_b64", "password"}'
    )
