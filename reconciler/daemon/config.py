"""The daemon's settings (``sepm-reconciler run`` options), and parsing of ``--listen``."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from reconciler.core.decide import DEFAULT_TUNING, Tuning

__all__ = ["DEFAULT_LISTEN", "DEFAULT_NOTIFY_ENV", "DEFAULT_WEBHOOK_ENV", "DaemonConfig", "parse_listen"]

DEFAULT_LISTEN = "127.0.0.1:9370"
DEFAULT_WEBHOOK_ENV = "SEPM_RECONCILER_WEBHOOK_URL"
DEFAULT_NOTIFY_ENV = "SEPM_RECONCILER_NOTIFY_URLS"
LEASE_NAME = "daemon"


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` / ``[V6]:PORT`` → ``(host, port)``; raises ValueError with what to write instead."""
    value = text.strip()
    if not value.isprintable():
        raise ValueError(f"invalid listen address {text!r}: write HOST:PORT, e.g. {DEFAULT_LISTEN}")
    host, sep, port_text = value.rpartition(":")
    if not sep or not port_text.isdigit():
        raise ValueError(
            f"invalid listen address {text!r}: write HOST:PORT, e.g. {DEFAULT_LISTEN} or [::1]:9370"
        )
    bracketed = host.startswith("[") and host.endswith("]")
    if bracketed:
        host = host[1:-1]
    if not host:
        raise ValueError(f"invalid listen address {text!r}: name the host, e.g. 127.0.0.1:{port_text}")
    if ":" in host:
        try:
            ipaddress.IPv6Address(host)
        except ValueError as exc:
            raise ValueError(f"invalid listen address {text!r}: not an IPv6 address") from exc
        if not bracketed:
            raise ValueError(f"invalid listen address {text!r}: an IPv6 address goes in brackets, [::1]:9370")
    port = int(port_text)
    if not 0 <= port <= 65535:
        raise ValueError(f"invalid listen address {text!r}: the port must be 0-65535")
    return host, port


@dataclass(frozen=True, slots=True)
class DaemonConfig:
    """Everything ``run`` was told. Durations are seconds.

    * ``tick_timeout`` — how long observing and deciding one server may take; a server whose actions are hooks or
      API calls gets the longest action timeout on top, so an action is never cut short by it;
    * ``lease_ttl`` — the single-instance lease; renewed every third of it; a standby takes over once it expires;
    * ``watch_period`` — how often the specs directory is checked for changes;
    * ``jitter`` — at most this much is added to each run time (never more than a tenth of the wait);
    * ``max_interval`` — never wait longer than this between two ticks of a server (None: as the record says);
    * ``health_grace`` — how late a tick may be before ``/healthz`` fails;
    * ``shutdown_grace`` — how long in-flight ticks may take to finish on SIGTERM before they are cancelled;
    * ``allowed_hosts`` — names the endpoints answer to besides the listen address (``Host`` header; see
      :mod:`reconciler.daemon.hosts`);
    * ``observe_concurrency`` — how many managers are observed at once (the rest wait for a slot);
    * ``pause_scheduler_after`` — fault injection: pause the scheduler after that many ticks (a zombie scheduler,
      to check that ``/healthz`` and the liveness probe notice it);
    * ``debug_hold_before_action`` — fault injection: while this file exists, a hook whose attempt was just saved
      waits before it starts (so a test can kill or stop the leader between the save and the action).
    """

    specs: Path
    state_url: str
    host: str = "127.0.0.1"
    port: int = 9370
    tick_timeout: float = 300.0
    lease_ttl: float = 30.0
    watch_period: float = 5.0
    jitter: float = 5.0
    max_interval: float | None = None
    health_grace: float = 60.0
    shutdown_grace: float = 6.0
    events_period: float = 2.0
    page_refresh: int = 10
    tuning: Tuning = field(default=DEFAULT_TUNING)
    pause_scheduler_after: int | None = None
    allowed_hosts: tuple[str, ...] = ()
    observe_concurrency: int = 8
    debug_hold_before_action: Path | None = None

    @property
    def lease_period(self) -> float:
        return max(0.2, self.lease_ttl / 3)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"
