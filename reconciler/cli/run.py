"""``sepm-reconciler run``: the daemon — reconcile every server continuously, serve health, metrics and status."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import click

from reconciler.cli import EXIT_ERROR, EXIT_USAGE
from reconciler.cli._live import specs_option, state_option
from reconciler.core.decide import DEFAULT_TUNING
from reconciler.core.durations import format_duration, parse_duration
from reconciler.store import resolve_state_url

__all__ = ["run"]

log = logging.getLogger("reconciler.daemon")


class Duration(click.ParamType[timedelta, Any]):
    """``30s``, ``5m``, ``24h``… (the spec's duration syntax)."""

    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> timedelta:
        if isinstance(value, timedelta):
            return value
        try:
            parsed = parse_duration(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)
        if parsed <= timedelta(0):
            self.fail(f"{value!r} must be longer than 0s", param, ctx)
        return parsed


DURATION = Duration()


def _default(delta: timedelta) -> str:
    return format_duration(delta)


@click.command("run")
@specs_option
@state_option
@click.option(
    "--listen",
    default="127.0.0.1:9370",
    envvar="SEPM_RECONCILER_LISTEN",
    show_default=True,
    metavar="HOST:PORT",
    help="Where the HTTP endpoints listen (/healthz /readyz /metrics /api/status and the status page). Loopback "
    "by default; in a container use 0.0.0.0:9370. Port 0 picks a free port.",
)
@click.option(
    "--allowed-host",
    "allowed_hosts",
    multiple=True,
    metavar="NAME",
    envvar="SEPM_RECONCILER_ALLOWED_HOSTS",
    help="A name the endpoints also answer to (the Host header of a reverse proxy or a Service, e.g. "
    "sepm-reconciler.corp.example; *.corp.example for all names under it); repeat, or separate with commas. "
    "Requests for any other Host than the --listen address get 421 (DNS rebinding cannot read the status).",
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="One line per record on standard error; json for log collectors.",
)
@click.option(
    "--log-level", type=click.Choice(["debug", "info", "warning"]), default="info", show_default=True
)
@click.option(
    "--tick-timeout",
    type=DURATION,
    default="5m",
    show_default=True,
    help="How long observing and deciding one server may take before the tick is cancelled (a server running a "
    "hook gets the hook's timeout on top: an action is never cut short by it).",
)
@click.option(
    "--webhook-url-env",
    metavar="NAME",
    default=None,
    help="The environment variable holding a Slack/Teams incoming-webhook URL for notifications (a secret: it is "
    "never logged). Default: SEPM_RECONCILER_WEBHOOK_URL when set; no notifications otherwise.",
)
@click.option(
    "--notify-urls-env",
    metavar="NAME",
    default=None,
    help="The environment variable holding apprise URLs (whitespace- or comma-separated) for notifications to "
    "Slack, Teams, e-mail, Matrix, ntfy and ~100 more (https://github.com/caronc/apprise/wiki). Secrets: never "
    "logged. Default: SEPM_RECONCILER_NOTIFY_URLS when set.",
)
@click.option(
    "--notify-config",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="An apprise configuration file (YAML or TEXT, with tags) listing where notifications go; keep it "
    "readable by the daemon's user only (it holds the services' secrets).",
)
@click.option(
    "--lease-ttl", type=DURATION, default="30s", show_default=True, help="The single-instance lease."
)
@click.option(
    "--watch-interval",
    type=DURATION,
    default="5s",
    show_default=True,
    help="How often the specs are checked.",
)
@click.option(
    "--active-interval",
    type=DURATION,
    default=_default(DEFAULT_TUNING.active_interval),
    show_default=True,
    help="Next look while a step is acting (1, 2, 4, 5, 7).",
)
@click.option(
    "--waiting-interval",
    type=DURATION,
    default=_default(DEFAULT_TUNING.waiting_interval),
    show_default=True,
    help="Next look while soaking (3, 6), held or stalled.",
)
@click.option(
    "--idle-interval",
    type=DURATION,
    default=_default(DEFAULT_TUNING.idle_interval),
    show_default=True,
    help="Next look while in sync.",
)
@click.option(
    "--jitter", type=DURATION, default="5s", show_default=True, help="At most this is added to run times."
)
@click.option(
    "--health-grace",
    type=DURATION,
    default="1m",
    show_default=True,
    help="How late a tick may be before /healthz fails.",
)
@click.option(
    "--shutdown-grace",
    type=DURATION,
    default="6s",
    show_default=True,
    help="On SIGTERM, how long in-flight ticks may run before they are cancelled.",
)
@click.option(
    "--observe-concurrency",
    type=click.IntRange(min=1, max=256),
    default=8,
    show_default=True,
    help="How many managers are observed at once; the others wait for a slot (a full observation of a large "
    "manager pages through every client).",
)
@click.option(
    "--effect-grace",
    type=DURATION,
    default=_default(DEFAULT_TUNING.effect_grace),
    show_default=True,
    help="How long an action's effect may take to be observed after it ended (or after its timeout, when its "
    "result was lost in a crash) before the attempt counts as failed.",
)
@click.option(
    "--retry-base",
    type=DURATION,
    default=_default(DEFAULT_TUNING.retry_base),
    show_default=True,
    help="The first wait before retrying a failed action (doubled after each failure).",
)
@click.option("--debug-pause-scheduler-after", type=click.IntRange(min=1), default=None, hidden=True)
@click.option(
    "--debug-hold-before-action", type=click.Path(path_type=Path, dir_okay=False), default=None, hidden=True
)
def run(
    specs_path: Path,
    state_url: str | None,
    listen: str,
    allowed_hosts: tuple[str, ...],
    log_format: str,
    log_level: str,
    tick_timeout: timedelta,
    webhook_url_env: str | None,
    notify_urls_env: str | None,
    notify_config: Path | None,
    lease_ttl: timedelta,
    watch_interval: timedelta,
    active_interval: timedelta,
    waiting_interval: timedelta,
    idle_interval: timedelta,
    jitter: timedelta,
    health_grace: timedelta,
    shutdown_grace: timedelta,
    observe_concurrency: int,
    effect_grace: timedelta,
    retry_base: timedelta,
    debug_pause_scheduler_after: int | None,
    debug_hold_before_action: Path | None,
) -> int:
    """Run the reconciler continuously: every server of the specs is observed on its own schedule and walked
    through the seven-step procedure, one safe action at a time.

    \b
    Specs are reloaded when the directory changes and on SIGHUP; an invalid commit is reported and the last
    valid specs stay in force. One daemon acts per state: another one started on the same state (SQLite on one
    host, or PostgreSQL from any host) waits as a standby and takes over when the first stops or its lease
    expires; a leader that lost its lease can no longer write or start an action (the lease's epoch fences every
    write). SIGTERM/SIGINT stop it cleanly.

    \b
    Endpoints (read-only):  /healthz  /readyz  /metrics  /api/status  /  (the status page)
    They answer only a Host header naming this daemon (the --listen address, localhost on loopback, any IP
    address when listening on 0.0.0.0, and the --allowed-host names); others get 421.

    \b
    Examples:
      sepm-reconciler run --specs specs/ --state sqlite:////var/lib/sepm-reconciler/state.db
      PGPASSWORD=… sepm-reconciler run --state postgresql://reconciler@db.example:5432/sepm
      SEPM_RECONCILER_WEBHOOK_URL=https://hooks.slack.com/… sepm-reconciler run --log-format json
      SEPM_RECONCILER_NOTIFY_URLS="msteams://… mailtos://…" sepm-reconciler run

    Exit codes: 0 stopped cleanly (SIGTERM, SIGINT), 1 could not start (state unusable, specs path missing,
    address in use, --webhook-url-env or --notify-urls-env naming an unset variable, an apprise URL or
    configuration it cannot use), 64 usage error.
    """
    from reconciler.daemon.config import DEFAULT_NOTIFY_ENV, DEFAULT_WEBHOOK_ENV, DaemonConfig, parse_listen
    from reconciler.daemon.hosts import parse_allowed_hosts
    from reconciler.daemon.logs import configure_logging
    from reconciler.daemon.loop import Daemon

    try:
        host, port = parse_listen(listen)
    except ValueError as exc:
        click.echo(f"error: --listen: {exc}", err=True)
        return EXIT_USAGE
    try:
        names = parse_allowed_hosts(allowed_hosts)
    except ValueError as exc:
        click.echo(f"error: --allowed-host: {exc}", err=True)
        return EXIT_USAGE
    configure_logging("json" if log_format == "json" else "text", level=getattr(logging, log_level.upper()))
    env_name = webhook_url_env or DEFAULT_WEBHOOK_ENV
    if webhook_url_env is not None and not os.environ.get(webhook_url_env):
        log.error(
            "--webhook-url-env names %s, which is not set or empty: set it, or drop the option",
            webhook_url_env,
        )
        return EXIT_ERROR
    webhook_url = os.environ.get(env_name) or None
    urls_env = notify_urls_env or DEFAULT_NOTIFY_ENV
    if notify_urls_env is not None and not os.environ.get(notify_urls_env):
        log.error(
            "--notify-urls-env names %s, which is not set or empty: set it, or drop the option",
            notify_urls_env,
        )
        return EXIT_ERROR
    from reconciler.daemon.notify import apprise_urls

    urls = apprise_urls(os.environ.get(urls_env, ""))
    if notify_config is not None and notify_config.stat().st_mode & 0o077:
        log.warning(
            "the apprise configuration %s is readable by others than its owner; it holds the services' secrets: "
            "chmod 600 it",
            notify_config,
        )
    if not _is_loopback(host):
        log.warning(
            "the endpoints listen beyond loopback: they are read-only but show server names, reasons and client "
            "names; restrict who can reach them",
            extra={"listen": listen},
        )
    tuning = replace(
        DEFAULT_TUNING,
        active_interval=active_interval,
        waiting_interval=waiting_interval,
        idle_interval=idle_interval,
        effect_grace=effect_grace,
        retry_base=retry_base,
    )
    config = DaemonConfig(
        specs=specs_path,
        state_url=resolve_state_url(state_url),
        host=host,
        port=port,
        tick_timeout=tick_timeout.total_seconds(),
        lease_ttl=lease_ttl.total_seconds(),
        watch_period=watch_interval.total_seconds(),
        jitter=jitter.total_seconds(),
        health_grace=health_grace.total_seconds(),
        shutdown_grace=shutdown_grace.total_seconds(),
        tuning=tuning,
        pause_scheduler_after=debug_pause_scheduler_after,
        allowed_hosts=names,
        observe_concurrency=observe_concurrency,
        debug_hold_before_action=debug_hold_before_action,
    )
    try:
        daemon = Daemon(
            config,
            webhook_url=webhook_url,
            apprise_urls=urls,
            apprise_config=str(notify_config) if notify_config else None,
        )
    except ValueError as exc:  # an apprise URL or configuration it cannot use (the message quotes no URL)
        log.error("notifications: %s", exc)
        return EXIT_ERROR
    return asyncio.run(daemon.run())


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
