"""Which ``Host`` the endpoints answer to: the listen address and the names the operator adds — nothing else.

DNS rebinding: a page of ``attacker.example`` in a browser on the daemon's machine gets its name re-pointed at
127.0.0.1 and reads ``/api/status`` (server names, reasons, client names) — but the browser still sends
``Host: attacker.example``. Answering only a ``Host`` that names this daemon closes that door. Accepted:

* the listen host itself (``--listen``), an address or a name;
* listening on loopback: ``localhost`` and any loopback address (``127.0.0.1``, ``[::1]``);
* listening on every address (``0.0.0.0``, ``[::]``, a container): any IP address literal — kubelet probes,
  Prometheus and ``kubectl port-forward`` address the daemon by IP; a rebinding page never can — and ``localhost``;
* the names of ``--allowed-host`` / ``SEPM_RECONCILER_ALLOWED_HOSTS`` (a reverse proxy's or a Service's name;
  ``*.example.org`` allows every name under ``example.org``).

The port is not compared. Anything else — a missing ``Host`` too — gets ``421 Misdirected Request`` and one line.
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["HostCheck", "HostPolicy", "host_of", "parse_allowed_hosts"]

log = logging.getLogger("reconciler.daemon")

_REFUSAL = "421 misdirected request: this daemon does not answer to that Host (see --allowed-host)\n"
_LOGGED_AT_MOST = 20  # distinct refused hosts logged (a scanner must not fill the log)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def host_of(header: str) -> str:
    """``Host`` header → the host, lower case, without port, brackets or a trailing dot (``""`` when unusable)."""
    value = header.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        return value[1:end] if end > 0 else ""
    host, sep, port = value.rpartition(":")
    if sep and port.isdigit() and ":" not in host:
        value = host
    return value.rstrip(".")


def parse_allowed_hosts(values: tuple[str, ...]) -> tuple[str, ...]:
    """``--allowed-host`` values (each may hold several names, separated by commas or spaces) → names.

    Raises ValueError naming a value that is not a host name or address."""
    names: list[str] = []
    for value in values:
        for part in value.replace(",", " ").split():
            name = part.lower().rstrip(".")
            if name.startswith("[") and name.endswith("]"):
                name = name[1:-1]
            bare = name[2:] if name.startswith("*.") else name
            if _address(name) is None and not (bare and all(c.isalnum() or c in "-." for c in bare)):
                raise ValueError(f"{part!r} is not a host name (write e.g. sepm-reconciler.example.org)")
            names.append(name)
    return tuple(dict.fromkeys(names))


@dataclass(frozen=True, slots=True)
class HostPolicy:
    """The hosts the endpoints answer to, for a daemon listening on ``listen`` (see the module docstring)."""

    listen: str
    extra: tuple[str, ...] = ()

    def allows(self, header: str | None) -> bool:
        if not header:
            return False
        host = host_of(header)
        if not host:
            return False
        listen = self.listen.strip("[]").lower()
        if host == listen:
            return True
        for name in self.extra:
            if host == name or (name.startswith("*.") and host.endswith(name[1:])):
                return True
        address = _address(host)
        bound = _address(listen)
        if bound is not None and bound.is_unspecified:  # 0.0.0.0 / ::: any address literal of this machine
            return address is not None or host == "localhost"
        if (bound is not None and bound.is_loopback) or listen == "localhost":
            return host == "localhost" or (address is not None and address.is_loopback)
        return address is not None and bound is not None and address == bound


class HostCheck:
    """ASGI middleware: a request whose ``Host`` the policy does not allow gets 421 and never reaches a route."""

    def __init__(self, app: ASGIApp, policy: HostPolicy) -> None:
        self.app = app
        self.policy = policy
        self._logged: set[str] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            header = Headers(scope=scope).get("host")
            if not self.policy.allows(header):
                self._log(header)
                await PlainTextResponse(_REFUSAL, status_code=421)(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _log(self, header: str | None) -> None:
        shown = (header or "(none)")[:100]
        if shown in self._logged or len(self._logged) >= _LOGGED_AT_MOST:
            return
        self._logged.add(shown)
        log.warning(
            "refused a request for Host %r: not a name of this daemon (DNS rebinding?); if it is one, add it with "
            "--allowed-host or SEPM_RECONCILER_ALLOWED_HOSTS",
            shown,
        )
