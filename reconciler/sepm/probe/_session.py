"""Probe checks of the API and the session: trust, version, authentication, token lifetime, the manager's clock (and
its units), the Date header, domains, the throttle, logout."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from reconciler.errors import AuthenticationError, Error, ProtocolError
from reconciler.sepm._clock import parse_http_date
from reconciler.sepm.client import SepmClient, Session, UntrustedCertificateError
from reconciler.sepm.probe._model import Checks, Status

__all__ = ["authenticate", "domains", "logout", "throttle", "version"]

_SKEW_OK = timedelta(minutes=5)
_DATE_SLACK = timedelta(seconds=2)


def _skew(delta: timedelta) -> str:
    seconds = delta.total_seconds()
    if abs(seconds) < 60:
        return "within a minute of this machine's clock"
    hours = abs(seconds) / 3600
    return f"{hours:.1f} h {'ahead of' if seconds > 0 else 'behind'} this machine's clock"


async def version(checks: Checks, client: SepmClient) -> bool:
    """``api.trusted`` and ``api.version``; False when the REST API cannot be used at all."""
    try:
        data: Any = await client.get_json("version", authenticated=False)
    except UntrustedCertificateError as exc:
        checks.add("api.trusted", Status.FAIL, str(exc))
        return False
    except Error as exc:
        checks.add("api.version", Status.FAIL, str(exc))
        return False
    checks.add("api.trusted", Status.PASS, "verified")
    if isinstance(data, dict) and isinstance(data.get("version"), str):
        checks.add(
            "api.version",
            Status.PASS,
            f"version {data['version']} (API {data.get('API_VERSION')}, sequence {data.get('API_SEQUENCE')})",
            version=data["version"],
        )
    else:
        checks.add("api.version", Status.FAIL, f"unexpected answer {str(data)[:80]}")
    return True


def _lifetime(checks: Checks, session: Session) -> None:
    raw = session.raw_lifetime
    if session.lifetime is not None:
        checks.add("auth.token_lifetime", Status.PASS, f"{session.lifetime:g} s", seconds=session.lifetime)
        return
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        if raw > 1e11:
            hint = "it looks like an epoch time in milliseconds, not a lifetime in seconds"
        elif raw > 1e9:
            hint = "it looks like an epoch time in seconds, not a lifetime"
        elif raw > 30 * 86400:
            hint = f"as milliseconds it would be {raw / 1000:g} s: the unit may be wrong"
        else:
            hint = "shorter than 30 s"
        seen = f"tokenExpiration {raw:g}: {hint}; the reconciler then renews the token only on a 401"
    else:
        seen = "no tokenExpiration: the reconciler renews the token only on a 401"
    checks.add("auth.token_lifetime", Status.FAIL, seen, seconds=None, raw=raw if raw is None else str(raw))


async def authenticate(checks: Checks, client: SepmClient) -> Session | None:
    """``auth.authenticate``, ``auth.token_lifetime``, ``auth.server_time`` and ``auth.date_header``."""
    try:
        session = await client.authenticate()
    except AuthenticationError as exc:
        checks.add("auth.authenticate", Status.FAIL, str(exc))
        return None
    except ProtocolError as exc:
        checks.add("auth.authenticate", Status.FAIL, str(exc))
        if "serverTime" in str(exc):
            checks.add("auth.server_time", Status.FAIL, str(exc))
        return None
    except Error as exc:
        checks.add("auth.authenticate", Status.UNKNOWN, str(exc))
        return None
    domain = f" in domain {session.domain_name!r}" if session.domain_name else ""
    checks.add("auth.authenticate", Status.PASS, f"token issued{domain}")
    _lifetime(checks, session)
    if session.server_time is None:
        checks.add("auth.server_time", Status.FAIL, "no serverTime: the manager's clock is unknown")
        return session
    skew = session.server_time - datetime.now(UTC)
    checks.add(
        "auth.server_time",
        Status.PASS if abs(skew) <= _SKEW_OK else Status.FAIL,
        f"{session.server_time:%Y-%m-%d %H:%M:%S} UTC ({_skew(skew)})"
        + (
            ""
            if abs(skew) <= _SKEW_OK
            else "; soaks are measured on the manager's clock, but times shown next to this machine's mislead: "
            "check the time (and time zone) of both hosts"
        ),
        server_time=session.server_time.isoformat(),
        skew_seconds=round(skew.total_seconds(), 3),
    )
    await checks.attempt("auth.date_header", lambda: _date_header(checks, client, session))
    return session


async def _date_header(checks: Checks, client: SepmClient, session: Session) -> None:
    assert session.server_time is not None  # noqa: S101 - checked by the caller
    response = await client.request("GET", "version", authenticated=False)
    header = response.headers.get("date")
    date = parse_http_date(header)
    if date is None:
        checks.add(
            "auth.date_header",
            Status.FAIL,
            f"no usable Date header ({header!r}): the reconciler carries serverTime forward by its own clock and "
            "authenticates again every 10 minutes to read it",
        )
        return
    elapsed = timedelta(seconds=max(0.0, client_elapsed(client, session)))
    ok = session.server_time - _DATE_SLACK <= date <= session.server_time + elapsed + _DATE_SLACK
    checks.add(
        "auth.date_header",
        Status.PASS if ok else Status.FAIL,
        f"Date {header} against serverTime {session.server_time:%Y-%m-%d %H:%M:%S.%f}"[:-3]
        + (
            " UTC: they agree"
            if ok
            else " UTC: they disagree (a proxy's clock?); the reconciler trusts the Date header"
        ),
        date=date.isoformat(),
    )


def client_elapsed(client: SepmClient, session: Session) -> float:
    """Seconds since the session was asked for, on the client's monotonic clock."""
    return client.monotonic() - session.issued_at


async def domains(checks: Checks, client: SepmClient, session: Session) -> None:
    """``domains.visible``: the domains the account sees, and which it logged into."""
    data = await client.get_json("domains")
    items = data if isinstance(data, list) else data.get("content") if isinstance(data, dict) else None
    if not isinstance(items, list):
        checks.add(
            "domains.visible", Status.FAIL, f"GET domains answered {str(data)[:80]}, not a list of domains"
        )
        return
    names = [str(d.get("name")) for d in items if isinstance(d, dict) and d.get("id")]
    login = session.domain_name or client.credentials.domain or "Default"
    known = login in names or (login == "" and "Default" in names)
    checks.add(
        "domains.visible",
        Status.PASS if names and known else Status.FAIL,
        f"{len(names)} domain(s): {', '.join(names) or 'none'}; logged into {login!r}"
        + ("" if known else " (not among them)"),
        domains=names,
        login=login,
    )


def throttle(checks: Checks, client: SepmClient, throttled: str | None) -> None:
    """``api.throttle``: the 429s seen during the probe, and whether they were waited out."""
    gate = client.throttle
    calls = sum(client.calls.values())
    if throttled is not None:
        checks.add("api.throttle", Status.FAIL, throttled, refusals=gate.refusals, calls=calls)
        return
    if not gate.refusals:
        seen = f"no 429 in the probe's {calls} calls (the shipped threshold is 50 a minute)"
    else:
        header = (
            f"{gate.retry_after_seen} with Retry-After"
            if gate.retry_after_seen
            else "none with Retry-After (the window was waited out)"
        )
        seen = f"{gate.refusals} answers 429 in {calls} calls, {header}; waited {gate.waited:.1f} s in all"
    checks.add(
        "api.throttle",
        Status.PASS,
        seen,
        refusals=gate.refusals,
        retry_after=gate.retry_after_seen,
        calls=calls,
        waited_s=round(gate.waited, 1),
    )


async def logout(checks: Checks, client: SepmClient) -> None:
    """``auth.logout``: the session ends, and its token is refused afterwards (the probe's last calls)."""
    session = client.session
    if session is None:
        checks.add("auth.logout", Status.UNKNOWN, "no session to end")
        return
    status = await client.logout()
    if status is None or status >= 400:
        checks.add("auth.logout", Status.FAIL, f"POST identity/logout answered {status}")
        return
    after = await client.status_with_token("groups", session.token)
    ok = after in (401, 403)
    checks.add(
        "auth.logout",
        Status.PASS if ok else Status.FAIL,
        f"POST identity/logout answered {status}; the token was then "
        + ("refused" if ok else f"still answered ({after}): sessions end only when their token expires"),
    )
