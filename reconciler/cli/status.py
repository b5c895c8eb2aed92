"""``sepm-reconciler status``: where every manager stands and why, and whether a daemon runs — from the state store
only (no network)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from reconciler.cli import EXIT_ERROR, EXIT_OK
from reconciler.cli._live import load, specs_option
from reconciler.cli._options import output_option
from reconciler.cli._rehearsals import latest_rehearsals, rehearsal_sentence
from reconciler.cli._state import now, open_state, state_option
from reconciler.core import wording
from reconciler.core._storage import iso, iso_or_none
from reconciler.core.actions import Performer
from reconciler.core.events import Event
from reconciler.core.procedure import Phase
from reconciler.core.procedure.table import STANDARD
from reconciler.core.record import RolloutRecord
from reconciler.core.site import site_order
from reconciler.core.status import domain_counts, domains_note, status_document
from reconciler.errors import Error, StateError
from reconciler.store import Lease, Store


def _state_label(record: RolloutRecord) -> str:
    if record.suspended:
        return "[yellow]suspended[/]"
    if record.stalled:
        return "[red]stalled[/]"
    if record.in_sync:
        return "[green]in sync[/]"
    if record.step:
        return "[cyan]rotating[/]"
    return "[yellow]drifted[/]" if record.phase is Phase.DRIFTED else record.phase.value.replace("_", " ")


def console() -> Console:
    """A console for tables: the terminal's width on a TTY, 120 columns when piped (logs, CI)."""
    probe = Console()
    return Console(highlight=False, width=None if probe.is_terminal else 120)


# --- the daemon, from the lease ------------------------------------------------------------------------------------


def lease_document(lease: Lease | None, at: datetime) -> dict[str, Any]:
    """``"lease"`` of ``status --output json``: whether a daemon holds the state's lease now, and since when."""
    if lease is None or isinstance(lease, LeaseUnknown):
        running = None if lease is not None else False
        return {"running": running, "holder": None, "epoch": None, "since": None, "renewed_at": None}
    running = bool(lease.holder) and lease.valid_at(at)
    return {
        "running": running,
        "holder": lease.holder or None,
        "epoch": lease.epoch,
        # running: since when it holds it; not running: since when nobody does (released, or expired unrenewed)
        "since": iso(lease.acquired_at if running else lease.expires_at),
        "renewed_at": iso(lease.renewed_at),
        "age_s": round(max(0.0, (at - lease.renewed_at).total_seconds()), 1) if running else None,
        "expires_at": iso_or_none(lease.expires_at if running else None),
    }


def daemon_line(lease: Lease | None, at: datetime) -> str:
    """One line: who acts on this state now — or that nobody does, since when."""
    if isinstance(lease, LeaseUnknown):
        return f"daemon: {lease.holder}"
    if lease is None:
        return "daemon: none has ever run on this state (start one: sepm-reconciler run)"
    if lease.holder and lease.valid_at(at):
        age = wording.span(max(timedelta(0), at - lease.renewed_at))
        return (
            f"daemon: {lease.holder} holds the lease (epoch {lease.epoch}, since {wording.when(lease.acquired_at)}; "
            f"renewed {age} ago)"
        )
    if lease.holder:
        return (
            f"daemon: no daemon holds the lease since {wording.when(lease.expires_at)} ({lease.holder} stopped "
            "renewing it): next-check times in the past are not acted on — start one: sepm-reconciler run"
        )
    return (
        f"daemon: no daemon holds the lease since {wording.when(lease.expires_at)} (released at a clean stop): "
        "start one: sepm-reconciler run"
    )


class LeaseUnknown(Lease):
    """The lease could not be read (a state written by an older version, opened read-only, has no epochs)."""

    __slots__ = ()


def _lease(store: Store) -> Lease | None:
    from reconciler.daemon.config import LEASE_NAME  # imported on use: the daemon is heavy

    try:
        return store.last_lease(LEASE_NAME)
    except StateError as exc:
        epoch = datetime.fromtimestamp(0, UTC)
        return LeaseUnknown(LEASE_NAME, f"unknown ({exc})", epoch, epoch, epoch, 0)


# --- rendering -----------------------------------------------------------------------------------------------------


def _table(records: list[RolloutRecord]) -> Table:
    table = Table(show_lines=True, expand=True)
    table.add_column("SERVER", no_wrap=True)
    table.add_column("STATE", no_wrap=True)
    table.add_column("WHY", ratio=1, min_width=30)
    table.add_column("NEXT CHECK (UTC)", no_wrap=True)
    for record in records:
        step = f" {record.substep or record.step}/{STANDARD.step_count}" if record.step else ""
        table.add_row(
            record.server,
            f"{_state_label(record)}{step}\n[dim]{record.phase.value}[/]",
            escape(record.reason),
            record.next_check_at.strftime("%Y-%m-%d %H:%M"),
        )
    return table


def _notes(records: list[RolloutRecord]) -> list[Text]:
    lines = []
    for record in records:
        notes = []
        if record.suspension is not None:
            s = record.suspension
            notes.append(f"suspended by {s.by} at {s.at:%Y-%m-%d %H:%M UTC}: {s.reason}")
        if record.stall is not None:
            notes.append(f"remedy: {record.stall.remedy}")
        if record.pending_action is not None and record.pending_action.performer is Performer.MANUAL:
            notes.append(
                f"to do by hand (step {record.pending_action.step}): {record.pending_action.instructions}"
            )
        if record.abort_request is not None:
            notes.append(f"abort requested by {record.abort_request.by}: carried out at the next check")
        if (by_domain := domains_note(domain_counts(record))) is not None:
            notes.append(by_domain)
        lines += [Text.from_markup(f"[bold]{escape(record.server)}[/]: {escape(note)}") for note in notes]
    return lines


@dataclass(frozen=True, slots=True)
class _Read:
    records: list[RolloutRecord]
    lease: Lease | None
    rehearsals: dict[str, Event]
    sites: dict[
        str, str
    ]  # server → spec.server.site, from the specs at --specs (empty when none can be read)


def _view(read: _Read, at: datetime) -> RenderableType:
    parts: list[RenderableType] = [Text(daemon_line(read.lease, at))]
    if read.records:
        parts += [_table(read.records), *_notes(read.records)]
    else:
        parts.append(Text("no servers in the state yet"))
    for name, event in sorted(read.rehearsals.items()):  # what probe --rehearse measured
        parts.append(Text.from_markup(f"[bold]{escape(name)}[/]: {escape(rehearsal_sentence(event))}"))
    return Group(*parts)


def _read(state_url: str | None, specs_path: Path) -> _Read:
    sites = {name: s.spec.spec.server.site for name, s in load(specs_path).servers.items()}
    with open_state(state_url, readonly=True) as store:
        records = store.all()
        by_name = {r.server: r for r in records}
        ordered = [by_name[name] for name in site_order(by_name, sites)]  # grouped by site when one is shared
        return _Read(ordered, _lease(store), latest_rehearsals(store), sites)


def _document(read: _Read, at: datetime) -> dict[str, Any]:
    """The daemon's ``/api/status`` document (its ``servers``, exactly; the rehearsals are in ``report --output
    json``) plus ``lease``: whether a daemon acts on this state."""
    return {**status_document(read.records, read.sites), "lease": lease_document(read.lease, at)}


@click.command()
@state_option
@specs_option
@output_option("text", "json")
@click.option("-w", "--watch", is_flag=True, help="Show it again every --every seconds until Ctrl-C.")
@click.option(
    "--every",
    type=click.FloatRange(min=0.5),
    default=2.0,
    show_default=True,
    metavar="SECONDS",
    help="How often --watch reads the state again.",
)
def status(state_url: str | None, specs_path: Path, output: str, watch: bool, every: float) -> int:
    """Show every managed server: phase, step k/7, why it waits and until when, and whether a daemon acts on
    this state (who holds the lease, or since when nobody does) — from the state store only.

    Nothing is contacted: this reads what the last reconcile or the daemon recorded (see "observed_at").
    Manual steps show their console instructions; stalled servers show the remedy; a settings-PATCH rehearsal
    (probe --rehearse) shows what it measured. Clients are counted at risk only while a certificate change is
    ahead or awaited (steps 1-4b): an in-sync server has none.

    \b
    Examples:
      sepm-reconciler status                                    # ./.sepm-reconciler/state.db
      sepm-reconciler status --state /var/lib/sepm-reconciler/state.db -o json
      sepm-reconciler status --watch                            # until Ctrl-C

    \b
    JSON shape (-o json; with --watch one document per line), documented keys first:
      {"servers": [{"name", "phase", "step", "in_sync", "stalled", "reason", "desired_fingerprint",
                    "observed_fingerprints": {"clients", "console", "api"}, "next_check_at", "code",
                    "substep", ..., "site": {"name", "rollout", "phase", "step", "substep", "lead",
                    "servers": {NAME: "pending" | "swapping" | "swapped" | "none"}} or null}],
       "lease": {"running", "holder", "epoch", "since", "renewed_at", "age_s", "expires_at"}}
    "step" is 0 outside the procedure and 1..7 inside it; "substep" is "2a", "2b", "4a", "4b", "5a", "5b"
    inside a step that has sub-steps (KB 187099's HTTP list, the clients fetching the new certificate), else null.

    Exit codes: 0 shown (--watch: stopped with Ctrl-C), 1 the state cannot be read (missing, locked, newer,
    corrupt), 64 usage error.
    """
    try:
        read = _read(state_url, specs_path)
    except Error as exc:
        click.echo(f"error: {exc}", err=True)
        return EXIT_ERROR
    if not watch:
        if output == "json":
            click.echo(json.dumps(_document(read, now()), indent=2))
        else:
            console().print(_view(read, now()))
        return EXIT_OK
    return _watch(state_url, specs_path, output, every, read)


def _watch(state_url: str | None, specs_path: Path, output: str, every: float, read: _Read) -> int:
    out = console()
    live = Live(console=out, auto_refresh=False) if output == "text" and out.is_terminal else None
    try:
        if live is not None:
            live.start()
        while True:
            at = now()
            if output == "json":
                click.echo(json.dumps(_document(read, at)))
            elif live is not None:
                live.update(_view(read, at), refresh=True)
            else:
                out.rule(f"{wording.when(at)}")
                out.print(_view(read, at))
            time.sleep(every)
            try:
                read = _read(state_url, specs_path)
            except Error as exc:  # a moment of contention, a restore under way: say so and keep watching
                click.echo(f"error: {exc} (trying again)", err=True)
    except KeyboardInterrupt:
        return EXIT_OK
    finally:
        if live is not None:
            live.stop()
