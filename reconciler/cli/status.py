"""``sepm-reconciler status``: where every manager stands and why, from the state store only (no network)."""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from reconciler.cli import EXIT_ERROR, EXIT_OK
from reconciler.cli._options import output_option
from reconciler.cli._rehearsals import latest_rehearsals, rehearsal_sentence
from reconciler.cli._state import open_state, state_option
from reconciler.core.actions import Performer
from reconciler.core.procedure import Phase
from reconciler.core.procedure.table import STANDARD
from reconciler.core.record import RolloutRecord
from reconciler.core.status import domain_counts, domains_note, status_document
from reconciler.errors import Error


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


def _render(console: Console, records: list[RolloutRecord]) -> None:
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
    console.print(table)
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
        for note in notes:
            console.print(f"[bold]{record.server}[/]: {escape(note)}", soft_wrap=True)


@click.command()
@state_option
@output_option("text", "json")
def status(state_url: str | None, output: str) -> int:
    """Show every managed server: phase, step k/7, why it waits and until when — from the state store only.

    Nothing is contacted: this reads what the last reconcile or the daemon recorded (see "observed_at").
    Manual steps show their console instructions; stalled servers show the remedy; a settings-PATCH rehearsal
    (probe --rehearse) shows what it measured.

    \b
    Examples:
      sepm-reconciler status                                    # ./.sepm-reconciler/state.db
      sepm-reconciler status --state sqlite:////var/lib/sepm-reconciler/state.db --output json

    \b
    JSON shape (--output json), documented keys first:
      {"servers": [{"name", "phase", "step", "in_sync", "stalled", "reason", "desired_fingerprint",
                    "observed_fingerprints": {"clients", "console", "api"}, "next_check_at", "code",
                    "substep", ...}]}
    "step" is 0 outside the procedure and 1..7 inside it; "substep" is "2a", "2b", "4a", "4b", "5a", "5b"
    inside a step that has sub-steps (KB 187099's HTTP list, the clients fetching the new certificate), else null.

    Exit codes: 0 shown, 1 the state cannot be read (missing, locked, newer, corrupt), 64 usage error.
    """
    try:
        with open_state(state_url, readonly=True) as store:
            records = store.all()
            rehearsals = latest_rehearsals(store)
    except Error as exc:
        click.echo(f"error: {exc}", err=True)
        return EXIT_ERROR
    if (
        output == "json"
    ):  # exactly the daemon's /api/status document (the rehearsals are in report --output json)
        click.echo(json.dumps(status_document(records), indent=2))
        return EXIT_OK
    out = console()
    if not records:
        out.print("no servers in the state yet")
    else:
        _render(out, records)
    for name, event in sorted(rehearsals.items()):
        out.print(f"[bold]{escape(name)}[/]: {escape(rehearsal_sentence(event))}", soft_wrap=True)
    return EXIT_OK
