"""``sepm-reconciler report``: which manager presents what, where it differs from the spec, who is at risk and what
blocks progress — as a table, JSON, Markdown (a pull-request comment) or one HTML file. Observes, never acts."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from datetime import timedelta
from pathlib import Path

import click
from rich.console import Console

from reconciler.cli import EXIT_ERROR
from reconciler.cli._live import specs_option
from reconciler.cli._options import output_option
from reconciler.cli._rehearsals import latest_rehearsals, rehearsal_sentence
from reconciler.cli._state import state_option
from reconciler.core.durations import parse_duration
from reconciler.engine import SystemClock
from reconciler.errors import Error
from reconciler.report import FORMATS, collect, render
from reconciler.store import STATE_ENV, Store, open_store, resolve_state_url
from reconciler.store.url import sqlite_path

__all__ = ["report"]


def _since(_ctx: click.Context, _param: click.Parameter, value: str | None) -> timedelta | None:
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _out(_ctx: click.Context, _param: click.Parameter, value: Path | None) -> Path | None:
    """Refuse a destination whose directory does not exist before anything is observed."""
    if value is not None and not value.parent.is_dir():
        raise click.BadParameter(f"the directory {str(value.parent)!r} does not exist: create it first")
    return value


def _open(state_url: str | None, *, required: bool) -> tuple[Store | None, list[str]]:
    """The state, or None (with a note) when it was not asked for explicitly, is not needed, and does not exist."""
    url = resolve_state_url(state_url)
    explicit = state_url is not None or bool(os.environ.get(STATE_ENV))
    if not explicit and not required and url.startswith("sqlite:///"):
        path = sqlite_path(url)
        if not path.exists():
            return None, [f"no state at {path}: rollout progress is not shown (pass --state URL to read one)"]
    return open_store(url, create=False, readonly=True), []


def _write(path: Path, text: str) -> None:
    """Replace ``path`` atomically: a reader never sees half a report."""
    directory = path.parent if str(path.parent) else Path()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        Path(tmp).replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            Path(tmp).unlink()
        raise


@click.command("report")
@specs_option
@state_option
@click.option(
    "--server",
    "names",
    metavar="NAME",
    multiple=True,
    help="Report only this server (repeatable). A server only in the state may be named too.",
)
@click.option(
    "--offline",
    is_flag=True,
    help="Do not contact any manager: report the last observation each record keeps (and say how old it is).",
)
@click.option(
    "--since",
    "since",
    metavar="DURATION",
    callback=_since,
    help="Add when each drift began and the rollout events of the last DURATION (e.g. 7d, 12h), from the state.",
)
@output_option(
    *FORMATS,
    help="text: a table; json: the documented document (schemaVersion 1); markdown: a pull-request comment; "
    "html: one self-contained page.",
)
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    callback=_out,
    help="Write the report to FILE (replaced atomically) instead of standard output.",
)
def report(
    specs_path: Path,
    state_url: str | None,
    names: tuple[str, ...],
    offline: bool,
    since: timedelta | None,
    output: str,
    out: Path | None,
) -> int:
    """Report, for every managed server, what each port presents, where it differs from the spec, which clients
    a certificate change would orphan, and what holds a rollout up — with a stable reason code per finding.

    Live by default: every manager of the specs is observed now (TLS handshakes and read-only REST calls); nothing
    is changed and the state is only read. Servers that are in the state but no longer in the specs are reported
    from their record. --offline contacts nothing and reports the last observation recorded by reconcile or the
    daemon.

    \b
    Examples:
      sepm-reconciler report                                  # ./specs, live, a table
      sepm-reconciler report --output markdown --out drift.md # a pull-request comment (GitOps check)
      sepm-reconciler report --offline --since 7d             # from the state: drift start and last week's events
      sepm-reconciler report --output json | jq '.servers[] | select(.in_sync | not) | .name'

    \b
    Exit codes (the worst finding decides; see docs/report.md):
      0  every server in sync, nothing to do
      2  drift, a rollout in progress, or a warning (e.g. a certificate expiring soon)
      1  an error: unreachable manager, failed handshake, expired certificate, stalled rollout, invalid spec,
         unreadable state
      64 usage error
    """
    try:
        store, notes = _open(state_url, required=offline or since is not None)
        with store if store is not None else contextlib.nullcontext():
            if store is not None:
                rehearsed = latest_rehearsals(store)
                notes = [*notes, *(f"{n}: {rehearsal_sentence(e)}" for n, e in sorted(rehearsed.items()))]
            result = asyncio.run(
                collect(
                    specs_path,
                    store,
                    clock=SystemClock(),
                    names=names,
                    offline=offline,
                    since=since,
                    notes=notes,
                )
            )
    except Error as exc:
        click.echo(f"error: {exc}", err=True)
        return EXIT_ERROR
    if out is not None:
        try:
            _write(out, render(result, output))
        except OSError as exc:
            click.echo(f"error: cannot write the report to {out}: {exc.strerror or exc}", err=True)
            return EXIT_ERROR
        click.echo(f"report written to {out} (exit code {result.exit_code})", err=True)
        return result.exit_code
    terminal = Console()
    color = output == "text" and terminal.is_terminal and not terminal.no_color
    width = terminal.width if terminal.is_terminal else 120
    click.echo(render(result, output, color=color, width=width), nl=False)
    return result.exit_code
