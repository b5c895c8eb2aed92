"""Shared bits of the simulator's HTTP apps: JSON responses, SEPM-style errors, query parsing."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

__all__ = ["ApiError", "JsonRoute", "endpoint", "json_response", "query_int", "read_json"]


class ApiError(Exception):
    """An HTTP error answered with SEPM's JSON error body ``{"errorCode", "appErrorCode", "errorMessage"}``."""

    def __init__(
        self, status: int, message: str, *, app_code: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.app_code = app_code
        self.headers = headers or {}

    def response(self) -> Response:
        body = {
            "errorCode": str(self.status),
            "appErrorCode": self.app_code or str(self.status),
            "errorMessage": self.message,
        }
        return json_response(body, self.status, headers=self.headers)


def json_response(data: Any, status: int = 200, *, headers: dict[str, str] | None = None) -> Response:
    payload = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return Response(payload, status_code=status, media_type="application/json", headers=headers)


Handler = Callable[[Request], Awaitable[Response]]


class JsonRoute(Route):
    """A route whose *405 Method Not Allowed* has SEPM's JSON error body too (Starlette's default is plain text)."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.methods and scope["method"] not in self.methods:
            response = ApiError(405, f"method {scope['method']} is not allowed on {scope['path']}").response()
            await response(scope, receive, send)
            return
        await super().handle(scope, receive, send)


def endpoint(fn: Handler) -> Handler:
    """Turn :class:`ApiError` into its JSON response."""

    async def wrapper(request: Request) -> Response:
        try:
            return await fn(request)
        except ApiError as exc:
            return exc.response()

    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper


async def read_json(request: Request, *, required: bool = True) -> Any:
    raw = await request.body()
    if not raw.strip():
        if required:
            raise ApiError(400, "the request needs a JSON body")
        return {}
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "the request body is not valid JSON") from None


def query_int(request: Request, name: str, default: int, *, lo: int, hi: int | None = None) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"{name} must be a whole number, got {raw!r}") from None
    if value < lo or (hi is not None and value > hi):
        bound = f"from {lo} to {hi}" if hi is not None else f"≥ {lo}"
        raise ApiError(400, f"{name} must be {bound}, got {value}")
    return value
