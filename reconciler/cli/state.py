"""``sepm-reconciler state``: look after the state store itself — migrate it between backends, back it up,
restore it, and say what it holds."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import click

from reconciler.cli import EXIT_ERROR, EXIT_OK
from reconciler.cli._options import output_option
from reconciler.cli._state import state_option
from reconciler.errors import Error
from reconciler.store import open_store, resolve_state_url
from reconciler.store.transfer import CopyReport, backup_state, copy_state, restore_state

__all__ = ["state"]


def _report(report: CopyReport, output: str, verb: str) -> None:
    if output == "json":
        click.echo(json.dumps(report.to_json(), indent=2))
        return
    last = f", last event #{report.last_event_id}" if report.last_event_id is not None else ""
    click.echo(
        f"{verb} {report.records} record(s) and {report.events} event(s){last} from {report.source} to "
        f"{report.target} (source schema {report.source_schema}); counts and the last event verified"
    )


@click.group("state")
def state() -> None:
    """Look after the state store: migrate it between SQLite and PostgreSQL, back it up, restore it.

    \b
    Examples:
      sepm-reconciler state info --state postgresql://reconciler@db.example/sepm
      sepm-reconciler state migrate --from sqlite:////var/lib/sepm-reconciler/state.db \\
                                    --to postgresql://reconciler@db.example/sepm
      sepm-reconciler state backup --to /backups/state-$(date +%F).db
      sepm-reconciler state restore --from /backups/state-2026-12-01.db --force

    PostgreSQL passwords never go in the URL: set PGPASSWORD, use ~/.pgpass, or write
    postgresql://USER:{env:NAME}@HOST/DB. See docs/state.md.
    """


@state.command("migrate")
@click.option("--from", "source", metavar="URL", required=True, help="The state to copy (left unchanged).")
@click.option("--to", "target", metavar="URL", required=True, help="Where to copy it (created if need be).")
@click.option(
    "--force", is_flag=True, help="Replace the records and events a non-empty target already holds."
)
@output_option("text", "json")
def migrate(source: str, target: str, force: bool, output: str) -> int:
    """Copy a whole state from one store to another — SQLite to PostgreSQL or back — keeping every record with its
    version and every event with its id, then verify the copy (counts and the last event).

    Stop every daemon on both states first (a state on which a daemon holds the lease is refused), then point the
    daemons at the target. A non-empty target is refused unless --force.

    Exit codes: 0 copied and verified, 1 error (nothing usable copied), 64 usage error.
    """
    try:
        report = copy_state(source, target, force=force)
    except Error as exc:
        click.echo(f"error: {exc}", err=True)
        return EXIT_ERROR
    _report(report, output, "copied")
    return EXIT_OK


@state.command("backup")
@state_option
@click.option(
    "--to",
    "target",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="A new file to write the backup to (a SQLite file, mode 0600; never overwritten).",
)
@output_option("text", "json")
def backup(state_url: str | None, target: Path, output: str) -> int:
    """Back the state up into one SQLite file, safely while the daemon runs.

    A SQLite state is copied with SQLite's online backup API (what is still in the -wal included: a plain `cp` of a
    running daemon's state.db misses it). A PostgreSQL state is copied from one consistent snapshot; back the
    whole database up with pg_dump as well (docs/state.md). Restore with `sepm-reconciler state restore`.

    Exit codes: 0 written, 1 error, 64 usage error.
    """
    try:
        report = backup_state(resolve_state_url(state_url), target)
    except Error as exc:
        click.echo(f"error: {exc}", err=True)
        return EXIT_ERROR
    _report(report, output, "backed up")
    return EXIT_OK


@state.command("restore")
@state_option
@click.option(
    "--from",
    "source",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="A file written by `state backup`.",
)
@click.option("--force", is_flag=True, help="Replace the records and events the state already holds.")
@output_option("text", "json")
def restore(state_url: str | None, source: Path, force: bool, output: str) -> int:
    """Restore a backup into the state (SQLite or PostgreSQL). Stop the daemon first: a state on which a daemon
    holds the lease is refused; a non-empty state is refused unless --force.

    The reconciler observes every manager before it acts, so a restored state that is older than the managers
    (a rollout moved on since the backup) is reconciled from what is seen, not from what was remembered.

    Exit codes: 0 restored and verified, 1 error, 64 usage error.
    """
    try:
        report = restore_state(source, resolve_state_url(state_url), force=force)
    except Error as exc:
        click.echo(f"error: {exc}", err=True)
        return EXIT_ERROR
    _report(report, output, "restored")
    return EXIT_OK


@state.command("info")
@state_option
@output_option("text", "json")
def info(state_url: str | None, output: str) -> int:
    """What the state holds: its schema version, how many records and events, and who holds the daemon lease
    (holder, epoch, expiry). Read-only.

    Exit codes: 0 shown, 1 the state cannot be read, 64 usage error.
    """
    from reconciler.store._sql import SqlStore

    try:
        with open_store(resolve_state_url(state_url), create=False, readonly=True) as store:
            assert isinstance(store, SqlStore)  # noqa: S101 - every backend is an SqlStore
            schema = store.schema_version()
            records, events = store.counts()
            lease = store.lease("daemon") if schema >= 3 else None
            shown = store.url
    except Error as exc:
        click.echo(f"error: {exc}", err=True)
        return EXIT_ERROR
    now = datetime.now(UTC)
    document = {
        "state": shown,
        "schema": schema,
        "records": records,
        "events": events,
        "lease": None
        if lease is None
        else {
            "holder": lease.holder,
            "epoch": lease.epoch,
            "renewed_at": lease.renewed_at.isoformat(),
            "expires_at": lease.expires_at.isoformat(),
            "valid": lease.valid_at(now),
        },
    }
    if output == "json":
        click.echo(json.dumps(document, indent=2))
        return EXIT_OK
    click.echo(f"state:   {shown} (schema {schema})")
    click.echo(f"content: {records} record(s), {events} event(s)")
    if lease is None:
        click.echo("lease:   free (no daemon leads)")
    else:
        valid = "valid" if lease.valid_at(now) else "expired"
        click.echo(
            f"lease:   held by {lease.holder}, epoch {lease.epoch}, {valid} until "
            f"{lease.expires_at:%Y-%m-%d %H:%M:%S} UTC"
        )
    return EXIT_OK
