"""The one request path to a SEPM manager's REST API.

Every HTTP call the reconciler makes to a manager goes through :meth:`SepmClient.request`, which owns:

* authentication (``POST identity/authenticate``), the ``Authorization: Bearer`` header, re-authentication shortly
  before the token expires and once more on a 401;
* retries with exponential backoff and full jitter on transport errors (refused, reset, a connection the server
  closed after a POST — SEPM 14.3 does that), timeouts, 5xx and 429 (``Retry-After`` honoured up to
  :attr:`RetryPolicy.max_delay`; a longer one ends the call with a :class:`~reconciler.errors.TemporaryError` whose
  ``delay`` says when to come back);
* per-call timeouts and TLS verification (system trust, or the spec's ``caBundle``; never pinned to one certificate,
  since after step 4 the API port presents the new one);
* translating every failure into :mod:`reconciler.errors`, chained, with response bodies truncated and scrubbed of
  tokens and passwords. Neither credentials nor tokens are ever logged or put in a message.

Every call the adapter makes is safe to repeat (GETs, authentication, a PATCH that *sets* a flag, ``replicatenow``),
which is what makes retrying a request whose connection dropped mid-way correct.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import random
import re
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

import httpx

from reconciler.errors import (
    AuthenticationError,
    PermanentError,
    ProtocolError,
    TemporaryError,
    UnreachableError,
)

__all__ = [
    "API_PREFIX",
    "ApiError",
    "RetryPolicy",
    "SepmClient",
    "SepmCredentials",
    "Session",
    "UntrustedCertificateError",
    "tls_context",
]

log = logging.getLogger("reconciler.sepm")

API_PREFIX = "/sepm/api/v1"
AUTH_PATH = "identity/authenticate"
_EXCERPT = 200
_SECRET_FIELDS = re.compile(
    r'("(?:token|refreshToken|password|clientSecret|access_token|refresh_token)"\s*:\s*)"(?:[^"\\]|\\.)*"',
    re.IGNORECASE,
)
_RETRY_STATUSES = frozenset({500, 502, 503, 504})


class UntrustedCertificateError(PermanentError):
    """The API port presented a certificate that the trust store (system or ``caBundle``) does not accept."""


class ApiError(PermanentError):
    """The manager answered a call with a 4xx status other than 401/403/429 (e.g. 400 bad paging, 404, 410)."""

    def __init__(self, message: str, *, status: int, method: str, path: str) -> None:
        self.status = status
        self.method = method
        self.path = path
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class SepmCredentials:
    """A SEPM administrator account. ``password`` is never shown by ``repr``."""

    username: str
    password: str = field(repr=False)
    domain: str = ""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard one call tries before giving up.

    ``attempts`` counts every try of a call (the re-authentication after a 401 is not counted). The sleep before try
    ``n+1`` is a random value in ``[0, min(max_delay, base_delay * 2**n)]`` ("full jitter"), or the server's
    ``Retry-After`` when it sends one. A ``Retry-After`` longer than ``max_delay`` is not slept through: the call ends
    with a TemporaryError carrying that delay.
    """

    attempts: int = 5
    base_delay: float = 0.25
    max_delay: float = 30.0

    def backoff(self, retry: int, rng: Callable[[], float]) -> float:
        return float(rng() * min(self.max_delay, self.base_delay * 2.0**retry))


@dataclass(frozen=True, slots=True)
class Session:
    """An authenticated session. ``server_time`` is the manager's clock when the token was issued."""

    token: str = field(repr=False)
    lifetime: float | None  # seconds (tokenExpiration), None when the manager did not say
    issued_at: float  # our monotonic clock
    server_time: datetime | None
    admin_id: str | None = None

    def expires_within(self, seconds: float, now: float) -> bool:
        if self.lifetime is None:
            return False
        return now >= self.issued_at + self.lifetime - seconds


def tls_context(ca_bundle: str | None = None) -> ssl.SSLContext:
    """A verifying client context: the system's trust store, or only the CAs in ``ca_bundle`` (a PEM file)."""
    try:
        return ssl.create_default_context(cafile=ca_bundle)
    except (OSError, ssl.SSLError) as exc:
        raise PermanentError(f"caBundle {ca_bundle}: cannot be loaded as PEM certificates: {exc}") from exc


def excerpt(text: str, limit: int = _EXCERPT) -> str:
    """A response body fit for a message: tokens and passwords replaced by ``***``, truncated to ``limit``."""
    scrubbed = _SECRET_FIELDS.sub(r'\1"***"', text)
    scrubbed = " ".join(scrubbed.split())
    return scrubbed if len(scrubbed) <= limit else scrubbed[:limit] + "…"


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _is_verification_failure(exc: BaseException) -> str | None:
    seen: BaseException | None = exc
    for _ in range(6):
        if seen is None:
            return None
        if isinstance(seen, ssl.SSLCertVerificationError):
            return seen.verify_message or str(seen)
        if "CERTIFICATE_VERIFY_FAILED" in str(seen):
            return str(seen)
        seen = seen.__cause__ or seen.__context__
    return None


class SepmClient:
    """An async REST client for one manager. Use as ``async with SepmClient(...) as client``.

    ``api_url`` is the manager's base URL (``https://sepm.example:8446``; a trailing ``/sepm/api/v1`` is accepted).
    ``transport`` replaces the network (tests pass ``httpx.MockTransport`` or a recording wrapper); when it is given
    ``verify`` is the transport's business. ``sleep``, ``monotonic`` and ``rng`` are injectable for tests.
    """

    def __init__(
        self,
        api_url: str,
        credentials: SepmCredentials,
        *,
        verify: ssl.SSLContext | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        max_connections: int = 8,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
    ) -> None:
        base = api_url.rstrip("/")
        if not base.endswith(API_PREFIX):
            base += API_PREFIX
        self.base_url = base + "/"
        self.credentials = credentials
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._monotonic = monotonic
        self._rng = rng
        self._session: Session | None = None
        self._auth_lock = asyncio.Lock()
        self.authentications = 0  # how many times we authenticated (observable in tests and the probe)
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            transport=transport,
            verify=verify if verify is not None else tls_context(),
            timeout=httpx.Timeout(timeout),
            limits=limits,
            headers={"Accept": "application/json", "User-Agent": "sepm-cert-reconciler"},
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    def __repr__(self) -> str:
        return f"SepmClient({self.base_url!r}, user={self.credentials.username!r})"

    # --- authentication --------------------------------------------------------------------------------------------

    @property
    def session(self) -> Session | None:
        """The current session, if any (its token is never shown by ``repr``)."""
        return self._session

    async def authenticate(self) -> Session:
        """Authenticate now (a fresh token and a fresh ``serverTime``), replacing the current session."""
        async with self._auth_lock:
            self._session = await self._authenticate()
            return self._session

    async def _token(self) -> str:
        session = self._session
        if session is not None and not self._expiring(session):
            return session.token
        async with self._auth_lock:
            session = self._session  # another task may have refreshed it while we waited
            if session is None or self._expiring(session):
                session = self._session = await self._authenticate()
            return session.token

    def _expiring(self, session: Session) -> bool:
        margin = 60.0 if session.lifetime is None else min(60.0, session.lifetime * 0.1)
        return session.expires_within(margin, self._monotonic())

    def _invalidate(self, token: str) -> None:
        if self._session is not None and self._session.token == token:
            self._session = None

    async def _authenticate(self) -> Session:
        creds = self.credentials
        body = {"username": creds.username, "password": creds.password, "domain": creds.domain}
        issued_at = self._monotonic()
        response = await self.request(
            "POST", AUTH_PATH, json_body=body, authenticated=False, raise_for_status=False
        )
        self.authentications += 1
        who = f"user {creds.username!r}" + (f" in domain {creds.domain!r}" if creds.domain else "")
        if response.status_code in (400, 401, 403):
            raise AuthenticationError(
                f"{self.base_url}{AUTH_PATH}: the manager refused the credentials of {who} "
                f"(HTTP {response.status_code}); check the account and its password reference"
            )
        self._raise_for_status("POST", AUTH_PATH, response)
        data = self.json(response, "POST", AUTH_PATH, redact=True)
        if not isinstance(data, dict) or not isinstance(data.get("token"), str) or not data["token"]:
            raise ProtocolError(f"POST {AUTH_PATH}: the answer has no token")
        lifetime = data.get("tokenExpiration")
        server_time = data.get("serverTime")
        return Session(
            token=data["token"],
            lifetime=float(lifetime) if isinstance(lifetime, int | float) and lifetime > 0 else None,
            issued_at=issued_at,
            server_time=(
                datetime.fromtimestamp(server_time / 1000, UTC)
                if isinstance(server_time, int | float) and not isinstance(server_time, bool)
                else None
            ),
            admin_id=data.get("adminId") if isinstance(data.get("adminId"), str) else None,
        )

    # --- the request path ------------------------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        authenticated: bool = True,
        call_timeout: float | None = None,
        raise_for_status: bool = True,
    ) -> httpx.Response:
        """Send one call, with authentication, retries and error translation. ``path`` is relative to the API root.

        Returns the response (2xx, or any status when ``raise_for_status`` is false: 5xx and 429 are still retried
        first). Raises :class:`~reconciler.errors.TemporaryError` / :class:`~reconciler.errors.UnreachableError`
        when the tries are used up, :class:`~reconciler.errors.AuthenticationError` when the manager refuses the
        credentials or a fresh token, :class:`ApiError` for other 4xx.
        """
        reauthenticated = False
        attempt = 0
        while True:
            attempt += 1
            token = await self._token() if authenticated else None
            failure: TemporaryError
            delay: float | None = None
            body = ""
            try:
                response = await self._send(
                    method, path, params=params, json_body=json_body, token=token, call_timeout=call_timeout
                )
            except TemporaryError as exc:
                failure = exc
            else:
                status = response.status_code
                if status == 401 and token is not None:
                    if reauthenticated:
                        raise AuthenticationError(
                            f"{method} {path}: the manager refused a fresh token (HTTP 401); the account may "
                            "lack the rights this call needs (a system administrator is required)"
                        )
                    reauthenticated = True
                    attempt -= 1  # the re-authentication does not use up a try
                    self._invalidate(token)
                    log.info("%s %s: 401, authenticating again", method, path)
                    continue
                if status != 429 and status not in _RETRY_STATUSES:
                    if raise_for_status:
                        self._raise_for_status(method, path, response)
                    return response
                delay = _retry_after(response) if status in (429, 503) else None
                what = "throttled (HTTP 429)" if status == 429 else f"HTTP {status}"
                if delay is not None and delay > self.retry.max_delay:
                    raise TemporaryError(
                        f"{method} {path}: {what}, the manager asks us to come back in {delay:.0f} s",
                        delay=delay,
                    )
                body = excerpt(response.text)
                failure = TemporaryError(f"{method} {path}: {what}", delay=delay)
            if attempt >= self.retry.attempts:
                gave_up = f"{failure}, gave up after {attempt} tries" + (f": {body}" if body else "")
                raise type(failure)(gave_up, delay=failure.delay) from failure.__cause__ or failure
            wait = delay if delay is not None else self.retry.backoff(attempt - 1, self._rng)
            log.info("%s; try %d of %d in %.2f s", failure, attempt + 1, self.retry.attempts, wait)
            await self._sleep(wait)

    async def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None,
        json_body: Any,
        token: str | None,
        call_timeout: float | None,
    ) -> httpx.Response:
        """One HTTP exchange; transport failures become TemporaryError/UnreachableError/PermanentError."""
        headers = {"Authorization": f"Bearer {token}"} if token is not None else None
        started = time.perf_counter()
        try:
            response = await self._http.request(
                method,
                path,
                params=params,
                json=json_body,
                headers=headers,
                timeout=httpx.Timeout(call_timeout) if call_timeout is not None else httpx.USE_CLIENT_DEFAULT,
            )
        except httpx.TimeoutException as exc:
            kind = "connecting" if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout) else "waiting"
            limit = call_timeout if call_timeout is not None else self.timeout
            raise UnreachableError(f"{method} {path}: no answer in {limit:g} s ({kind})") from exc
        except httpx.ConnectError as exc:
            verify = _is_verification_failure(exc)
            if verify is not None:
                remedy = (
                    "write in spec.server.apiUrl a host name the certificate lists (its subject alternative names)"
                    if "mismatch" in verify or "not valid for" in verify
                    else "set spec.server.caBundle to the CA that issued the manager's certificate"
                )
                raise UntrustedCertificateError(
                    f"{self.base_url}: the API port presents a certificate we do not trust ({verify}); {remedy}"
                ) from exc
            raise UnreachableError(f"{method} {path}: cannot connect to {self.base_url}: {exc}") from exc
        except httpx.TransportError as exc:  # reset, closed after a POST, protocol garbage
            raise TemporaryError(
                f"{method} {path}: the connection failed: {type(exc).__name__}: {exc}"
            ) from exc
        log.debug(
            "%s %s -> %d in %.0f ms",
            method,
            path,
            response.status_code,
            (time.perf_counter() - started) * 1000,
        )
        return response

    def _raise_for_status(self, method: str, path: str, response: httpx.Response) -> None:
        status = response.status_code
        if status < 400:
            return
        body = "" if path == AUTH_PATH else excerpt(response.text)
        detail = f"{method} {path}: HTTP {status}" + (f": {body}" if body else "")
        if status == 403:
            raise AuthenticationError(detail + " (the account lacks the rights this call needs)")
        raise ApiError(detail, status=status, method=method, path=path)

    def json(self, response: httpx.Response, method: str, path: str, *, redact: bool = False) -> Any:
        """The JSON body of ``response``, or :class:`~reconciler.errors.ProtocolError` naming the call."""
        try:
            return json.loads(response.content)
        except (ValueError, UnicodeDecodeError) as exc:
            shown = "" if redact else f": {excerpt(response.text)}"
            raise ProtocolError(f"{method} {path}: the answer is not valid JSON{shown}") from exc

    async def get_json(
        self, path: str, *, params: Mapping[str, Any] | None = None, authenticated: bool = True
    ) -> Any:
        """``GET path`` and its JSON body."""
        response = await self.request("GET", path, params=params, authenticated=authenticated)
        return self.json(response, "GET", path)
