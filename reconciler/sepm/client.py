"""The one request path to a SEPM manager's REST API.

Every HTTP call the reconciler makes to a manager goes through :meth:`SepmClient.request`, which owns:

* the session: ``POST identity/authenticate`` once, the token reused until shortly before it expires (a 401 renews
  it once), ``POST identity/logout`` when the client is closed (:meth:`SepmClient.close`);
* the manager's clock (:meth:`SepmClient.manager_time`): the session's ``serverTime``, then the ``Date`` header of
  every answer (see :mod:`reconciler.sepm._clock`); absurd times are a :class:`~reconciler.errors.ProtocolError`;
* the throttle: a 429 is waited out — ``Retry-After`` when given (on every call, the login included), else the
  throttle window — within a budget; past it a :class:`ThrottledError` says when to come back
  (:mod:`reconciler.sepm._throttle`);
* retries with exponential backoff and full jitter on transport errors (refused, reset, a connection the server
  closed after a POST — SEPM 14.3 does that), timeouts and 5xx;
* bounded answers: each read waits at most the timeout and the whole exchange (headers and body) completes within
  twice it (a dripping answer ends there); a body is read up to
  ``max_body`` bytes (a larger one is a :class:`~reconciler.errors.ProtocolError` naming the call; an error body is
  only read as far as its excerpt needs, whatever its size);
* TLS verification (system trust, or the spec's ``caBundle``; never pinned to one certificate, since after step 4
  the API port presents the new one);
* translating every failure into :mod:`reconciler.errors`, chained, with response bodies truncated and scrubbed of
  tokens and passwords. Neither credentials nor tokens are ever logged or put in a message;
* counting the calls by endpoint (:attr:`SepmClient.calls`, and listeners such as the daemon's metric).

Every call the adapter makes is safe to repeat (GETs, authentication, logout, a settings PATCH that writes the
document it read with one field changed, ``replicatenow``), which is what makes retrying a request whose connection
dropped mid-way correct.
"""

from __future__ import annotations

import asyncio
import collections
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
    Error,
    PermanentError,
    ProtocolError,
    TemporaryError,
    UnreachableError,
)
from reconciler.sepm._clock import ManagerClock, epoch_ms
from reconciler.sepm._throttle import ThrottledError, ThrottleGate

__all__ = [
    "API_PREFIX",
    "DEFAULT_MAX_BODY",
    "ApiError",
    "CallListener",
    "ClientState",
    "RetryPolicy",
    "SepmClient",
    "SepmCredentials",
    "Session",
    "ThrottledError",
    "UntrustedCertificateError",
    "endpoint_of",
    "tls_context",
]

log = logging.getLogger("reconciler.sepm")

API_PREFIX = "/sepm/api/v1"
AUTH_PATH = "identity/authenticate"
LOGOUT_PATH = "identity/logout"
DEFAULT_MAX_BODY = 64 * 2**20
_ERROR_BODY = 64 * 2**10  # what is read of an error answer: enough for its excerpt
_EXCERPT = 200
_SECRET_FIELDS = re.compile(
    r'("(?:token|refreshToken|password|clientSecret|access_token|refresh_token)"\s*:\s*)"(?:[^"\\]|\\.)*"',
    re.IGNORECASE,
)
_RETRY_STATUSES = frozenset({500, 502, 503, 504})
_TOKEN_LIFETIME = (30.0, 30 * 86400.0)  # plausible tokenExpiration, in seconds
_DROPPED_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})
_ID_AFTER = frozenset({"groups", "locations", "domains"})

CallListener = Callable[[str, int | None], None]
"""Called for every HTTP exchange with the endpoint (``groups/{id}/locations``…) and the status (None: no answer)."""


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

    ``attempts`` counts every failed try of a call (a 429 and the re-authentication after a 401 are not counted).
    The sleep before try ``n+1`` is a random value in ``[0, min(max_delay, base_delay * 2**n)]`` ("full jitter"), or
    the server's ``Retry-After`` when it sends one. A ``Retry-After`` longer than ``max_delay`` is not slept through:
    the call ends with a :class:`ThrottledError` (429) or :class:`~reconciler.errors.TemporaryError` (503) carrying
    that delay. ``throttle_window`` is the manager's throttle window (``spec.server.api.throttleWindow``) and
    ``throttle_budget`` how long one call may wait for it in all.
    """

    attempts: int = 5
    base_delay: float = 0.25
    max_delay: float = 30.0
    throttle_window: float = 60.0
    throttle_budget: float = 180.0

    def backoff(self, retry: int, rng: Callable[[], float]) -> float:
        return float(rng() * min(self.max_delay, self.base_delay * 2.0**retry))


@dataclass(frozen=True, slots=True)
class Session:
    """An authenticated session. ``server_time`` is the manager's clock when the token was issued."""

    token: str = field(repr=False)
    lifetime: float | None  # seconds (tokenExpiration), None when the manager did not say (or said nonsense)
    issued_at: float  # our monotonic clock, before the authentication was sent
    server_time: datetime | None
    admin_id: str | None = None
    raw_lifetime: Any = None  # tokenExpiration as the manager gave it (the probe judges its units)
    domain_id: str | None = None  # the login domain (domainid), when the answer names it
    domain_name: str | None = None

    def expires_within(self, seconds: float, now: float) -> bool:
        if self.lifetime is None:
            return False
        return now >= self.issued_at + self.lifetime - seconds


@dataclass(slots=True)
class ClientState:
    """What one client of a manager hands to the next one (the engine builds a client per tick): the session, the
    manager's clock, what is known of the throttle, the page size the manager accepts. Taken over only by a client
    of the same URL and credentials (:meth:`SepmClient.adopt`)."""

    base_url: str
    credentials: SepmCredentials
    session: Session | None
    clock: ManagerClock
    throttle: ThrottleGate
    page_size: int | None


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


def endpoint_of(path: str) -> str:
    """The endpoint a path belongs to, ids replaced: ``groups/{id}/locations/{id}/settings``."""
    segments = path.split("?", 1)[0].strip("/").split("/")
    out = ["{id}" if i and segments[i - 1] in _ID_AFTER else segment for i, segment in enumerate(segments)]
    return "/".join(out)


def retry_after(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds (a number, or an HTTP date), or None."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
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


def _lifetime(value: Any) -> float | None:
    plausible = isinstance(value, int | float) and not isinstance(value, bool)
    if plausible and _TOKEN_LIFETIME[0] <= value <= _TOKEN_LIFETIME[1]:
        return float(value)
    return None


class SepmClient:
    """An async REST client for one manager. Use as ``async with SepmClient(...) as client`` (which logs out at the
    end), or call :meth:`close`.

    ``api_url`` is the manager's base URL (``https://sepm.example:8446``; a trailing ``/sepm/api/v1`` is accepted).
    ``transport`` replaces the network (tests pass ``httpx.MockTransport`` or a recording wrapper); when it is given
    ``verify`` is the transport's business. ``max_body`` caps the bytes read of one answer. ``sleep``,
    ``monotonic`` and ``rng`` are injectable for tests.
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
        max_body: int = DEFAULT_MAX_BODY,
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
        self.max_body = max_body
        self._sleep = sleep
        self._monotonic = monotonic
        self._rng = rng
        self._session: Session | None = None
        self._auth_lock = asyncio.Lock()
        self._clock = ManagerClock()
        self.throttle = ThrottleGate(window=self.retry.throttle_window, budget=self.retry.throttle_budget)
        self.authentications = 0  # how many times we authenticated (observable in tests and the probe)
        self.calls: collections.Counter[str] = collections.Counter()  # HTTP exchanges by endpoint
        self.listeners: list[CallListener] = []
        self.page_size: int | None = None  # the largest page size the manager accepted (learned by paging)
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
        await self.close()

    async def close(self, *, logout: bool = True) -> None:
        """End the session on the manager (``logout``, best effort) and close the connections."""
        try:
            if logout:
                await self.logout()
        finally:
            await self._http.aclose()

    async def aclose(self) -> None:
        """Close the connections without logging out (the token expires by itself)."""
        await self._http.aclose()

    def __repr__(self) -> str:
        return f"SepmClient({self.base_url!r}, user={self.credentials.username!r})"

    # --- the session and the manager's clock --------------------------------------------------------------------

    @property
    def session(self) -> Session | None:
        """The current session, if any (its token is never shown by ``repr``)."""
        return self._session

    async def authenticate(self) -> Session:
        """Authenticate now (a fresh token and a fresh ``serverTime``), replacing the current session."""
        async with self._auth_lock:
            self._session = await self._authenticate()
            return self._session

    async def ensure_session(self) -> Session:
        """The current session, or a new one when there is none or its token is about to expire."""
        session = self._session
        if session is not None and not self._expiring(session):
            return session
        async with self._auth_lock:
            session = self._session
            if session is None or self._expiring(session):
                session = self._session = await self._authenticate()
            return session

    def carry(self) -> ClientState:
        """What the next client of this manager should take over (see :class:`ClientState`)."""
        return ClientState(
            self.base_url, self.credentials, self._session, self._clock, self.throttle, self.page_size
        )

    def adopt(self, state: ClientState) -> bool:
        """Take over ``state`` when it is this manager's with these credentials (True), else ignore it."""
        if state.base_url != self.base_url or state.credentials != self.credentials:
            return False
        self._session, self._clock, self.page_size = state.session, state.clock, state.page_size
        self.throttle = state.throttle
        return True

    def monotonic(self) -> float:
        """The client's monotonic clock (what :attr:`Session.issued_at` is measured on)."""
        return self._monotonic()

    def manager_now(self) -> datetime | None:
        """The manager's time as last stamped on an answer (a lower bound), or None when it must be read again."""
        return self._clock.now(self._monotonic())

    async def manager_time(self) -> datetime | None:
        """The manager's time: from the latest answer, or from a new session's ``serverTime`` when that is stale.
        None when the manager gives no time at all."""
        await self.ensure_session()
        now = self.manager_now()
        if now is None:
            await self.authenticate()
            now = self.manager_now()
        return now

    async def logout(self) -> int | None:
        """``POST identity/logout`` for the current session, if any: its HTTP status (None: no session, or no
        answer). Failures are logged, never raised."""
        session, self._session = self._session, None
        if session is None:
            return None
        try:
            response = await self._exchange(
                "POST", LOGOUT_PATH, params=None, json_body=None, token=session.token, call_timeout=5.0
            )
        except Exception as exc:
            log.debug("logout from %s failed: %s", self.base_url, type(exc).__name__)
            return None
        return response.status_code

    async def status_with_token(self, path: str, token: str) -> int | None:
        """The status of one ``GET path`` sent with ``token`` as it is — no re-authentication, no retry (the probe
        uses it to see that a token was ended). None when no answer came."""
        try:
            response = await self._exchange(
                "GET",
                path,
                params={"pageIndex": 1, "pageSize": 1},
                json_body=None,
                token=token,
                call_timeout=None,
            )
        except Error:
            return None
        return response.status_code

    async def _token(self) -> str:
        return (await self.ensure_session()).token

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
        raw_time = data.get("serverTime")
        server_time = None if raw_time is None else epoch_ms(raw_time, f"POST {AUTH_PATH}: serverTime")
        if server_time is not None:
            self._clock.set_server_time(server_time, self._monotonic())
        admin, domain_id, domain_name = data.get("adminId"), data.get("domainid"), data.get("domain")
        return Session(
            token=data["token"],
            lifetime=_lifetime(data.get("tokenExpiration")),
            issued_at=issued_at,
            server_time=server_time,
            admin_id=admin if isinstance(admin, str) else None,
            raw_lifetime=data.get("tokenExpiration"),
            domain_id=domain_id if isinstance(domain_id, str) else None,
            domain_name=domain_name if isinstance(domain_name, str) else None,
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
        """Send one call, with authentication, throttling, retries and error translation. ``path`` is relative to
        the API root.

        Returns the response (2xx, or any status when ``raise_for_status`` is false: 5xx and 429 are still retried
        first). Raises :class:`ThrottledError` when the manager throttles longer than the call may wait,
        :class:`~reconciler.errors.TemporaryError` / :class:`~reconciler.errors.UnreachableError` when the tries
        are used up, :class:`~reconciler.errors.AuthenticationError` when the manager refuses the credentials or a
        fresh token, :class:`ApiError` for other 4xx, :class:`~reconciler.errors.ProtocolError` for an answer
        larger than ``max_body``.
        """
        reauthenticated = False
        attempt = 0
        throttled_for = 0.0
        own_block = 0.0  # the gate's block this call set itself (already slept through)
        while True:
            blocked = self.throttle.wait_before_send(self._monotonic())
            if blocked > 0 and self.throttle.blocked_until > own_block:
                if self.throttle.asked and blocked > self.retry.max_delay:
                    raise ThrottledError(
                        f"{method} {path}: not sent: the manager throttles (HTTP 429) and asked to come back in "
                        f"{blocked:.0f} s",
                        delay=blocked,
                    )
                throttled_for += blocked
                if throttled_for > self.throttle.budget:
                    raise self._throttled(method, path, throttled_for, None)
                await self._sleep(blocked)
            attempt += 1
            token = await self._token() if authenticated else None
            failure: TemporaryError
            delay: float | None = None
            body = ""
            try:
                response = await self._exchange(
                    method, path, params=params, json_body=json_body, token=token, call_timeout=call_timeout
                )
            except TemporaryError as exc:
                failure = exc
            else:
                status = response.status_code
                now = self._monotonic()
                if status == 429:
                    asked = retry_after(response)
                    if asked is not None and asked > self.retry.max_delay:
                        self.throttle.refused(now, asked)
                        raise ThrottledError(
                            f"{method} {path}: throttled by the manager (HTTP 429); it asks to come back in "
                            f"{asked:.0f} s",
                            delay=asked,
                        )
                    wait = self.throttle.refused(now, asked)
                    if throttled_for + wait > self.throttle.budget:
                        raise self._throttled(method, path, throttled_for, asked)
                    attempt -= 1  # being throttled is not a failed try
                    throttled_for += wait
                    own_block = self.throttle.blocked_until
                    how = (
                        f"Retry-After {asked:g} s"
                        if asked is not None
                        else "no Retry-After: waiting the window"
                    )
                    log.info("%s %s: throttled (HTTP 429, %s); again in %.1f s", method, path, how, wait)
                    await self._sleep(wait)
                    continue
                self.throttle.admitted(now)
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
                if status not in _RETRY_STATUSES:
                    if raise_for_status:
                        self._raise_for_status(method, path, response)
                    return response
                delay = retry_after(response) if status == 503 else None
                if delay is not None and delay > self.retry.max_delay:
                    raise TemporaryError(
                        f"{method} {path}: HTTP {status}, the manager asks us to come back in {delay:.0f} s",
                        delay=delay,
                    )
                body = excerpt(response.text)
                failure = TemporaryError(f"{method} {path}: HTTP {status}", delay=delay)
            if attempt >= self.retry.attempts:
                gave_up = f"{failure}, gave up after {attempt} tries" + (f": {body}" if body else "")
                raise type(failure)(gave_up, delay=failure.delay) from failure.__cause__ or failure
            wait = delay if delay is not None else self.retry.backoff(attempt - 1, self._rng)
            log.info("%s; try %d of %d in %.2f s", failure, attempt + 1, self.retry.attempts, wait)
            await self._sleep(wait)

    def _throttled(self, method: str, path: str, waited: float, asked: float | None) -> ThrottledError:
        gate = self.throttle
        how = "" if asked is not None else ", no Retry-After"
        return ThrottledError(
            f"{method} {path}: throttled by the manager (HTTP 429{how}) for more than {gate.budget:g} s "
            f"({gate.refusals} refusals so far; throttle window {gate.window:g} s: spec.server.api.throttleWindow)",
            delay=gate.estimated_reset(self._monotonic()),
        )

    async def _exchange(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None,
        json_body: Any,
        token: str | None,
        call_timeout: float | None,
    ) -> httpx.Response:
        """One HTTP exchange, counted; transport failures become TemporaryError/UnreachableError/PermanentError."""
        endpoint = endpoint_of(path)
        self.calls[endpoint] += 1
        status: int | None = None
        try:
            response = await self._send(
                method, path, params=params, json_body=json_body, token=token, call_timeout=call_timeout
            )
            status = response.status_code
            return response
        finally:
            for listener in self.listeners:
                listener(endpoint, status)

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
        headers = {"Authorization": f"Bearer {token}"} if token is not None else None
        limit = call_timeout if call_timeout is not None else self.timeout
        started = time.perf_counter()
        request = self._http.build_request(
            method,
            path,
            params=params,
            json=json_body,
            headers=headers,
            timeout=httpx.Timeout(call_timeout) if call_timeout is not None else httpx.USE_CLIENT_DEFAULT,
        )
        content: bytes | None = None
        try:
            # httpx bounds each read by ``limit``; this, the whole exchange (a dripping answer)
            async with asyncio.timeout(2 * limit):
                response = await self._http.send(request, stream=True)
                try:
                    self._clock.note_date(response.headers.get("date"), self._monotonic())
                    if self._announced_within_cap(response):
                        await response.aread()  # the common case: plain, announced, small enough
                    else:
                        content = await self._read_body(method, path, response)
                finally:
                    await response.aclose()
        except (httpx.TimeoutException, TimeoutError) as exc:
            kind = "connecting" if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout) else "waiting"
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
        if content is None:
            return response
        kept = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in _DROPPED_HEADERS]
        return httpx.Response(response.status_code, headers=kept, content=content, request=request)

    def _announced_within_cap(self, response: httpx.Response) -> bool:
        """A successful, uncompressed answer whose announced length is within the cap (read as it is)."""
        declared = response.headers.get("content-length", "")
        return (
            response.status_code < 400
            and "content-encoding" not in response.headers
            and declared.isdigit()
            and int(declared) <= self.max_body
        )

    async def _read_body(self, method: str, path: str, response: httpx.Response) -> bytes:
        """The body, at most ``max_body`` bytes (more: ProtocolError); of an error answer only what an excerpt needs."""
        failed = response.status_code >= 400
        limit = _ERROR_BODY if failed else self.max_body
        declared = response.headers.get("content-length", "")
        if not failed and declared.isdigit() and int(declared) > limit:
            raise self._too_large(method, path, int(declared))
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > limit:
                if not failed:
                    raise self._too_large(method, path, size)
                chunks.append(chunk[: len(chunk) - (size - limit)])
                break  # the rest of an error body is not read (the connection is dropped)
            chunks.append(chunk)
        return b"".join(chunks)

    def _too_large(self, method: str, path: str, size: int) -> ProtocolError:
        return ProtocolError(
            f"{method} {path}: the answer is larger than {self.max_body:,} bytes (at least {size:,} read or "
            "announced): refused; raise spec.server.api.maxResponseSize if this manager's answers are that large"
        )

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
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            shown = "" if redact else f": {excerpt(response.text)}"
            raise ProtocolError(f"{method} {path}: the answer is not valid JSON{shown}") from exc

    async def get_json(
        self, path: str, *, params: Mapping[str, Any] | None = None, authenticated: bool = True
    ) -> Any:
        """``GET path`` and its JSON body."""
        response = await self.request("GET", path, params=params, authenticated=authenticated)
        return self.json(response, "GET", path)
