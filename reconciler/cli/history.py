"""``sepm-reconciler history SERVER``: the append-only event log of one server."""

from __future__ import annotations

import json

import click
from rich.markup import escape
from rich.table import Table

from reconciler.cli import EXIT_ERROR, EXIT_OK
from reconciler.cli._options import TEXT, output_option
from reconciler.cli._state import open_state, state_option
from reconciler.cli.status import console
from reconciler.core.events import Event
from reconciler.errors import Error


def _move(event: Event) -> str:
    if event.from_phase is None or event.to_phase is None:
        return ""
    if event.from_phase is event.to_phase:
        return event.from_phase.value
    return f"{event.from_phase.value} → {event.to_phase.value}"


@click.command()
@click.argument("server", type=TEXT)
@state_option
@click.option(
    "--limit",
    type=click.IntRange(min=1, max=1_000_000),
    default=None,
    help="Show only the most recent N events.",
)
@output_option("text", "json")
def history(server: str, state_url: str | None, limit: int | None, output: str) -> int:
    """Show SERVER's event log, oldest first: every move, attempt, approval, suspension and abort, with who did
    it and why. From the state store only (no network).

    \b
    Examples:
      sepm-reconciler history sepm-east-01
      sepm-reconciler history sepm-east-01 --limit 20 --output json

    \b
    JSON shape: {"server": NAME, "events": [{"id", "at", "kind", "rollout_id", "from_phase", "to_phase",
                 "actor", "reason", "details"}]}

    Exit codes: 0 shown, 1 an unknown server or an unreadable state, 64 usage error.
    """
    try:
        with open_state(state_url, readonly=True) as store:
            events = store.events(server, limit=limit)
            if not events and store.get(server) is None:
                known = [r.server for r in store.all()]
                listing = f"it knows {', '.join(known)}" if known else "it has no servers yet"
                click.echo(
                    f"error: unknown server {server!r} in the state at {store.url}: {listing}", err=True
                )
                return EXIT_ERROR
    except Error as exc:
        click.echo(f"error: {exc}", err=True)
        return EXIT_ERROR
    if output == "json":
        entries = [{"id": e.id, **e.to_storage()} for e in events]
        for entry in entries:
            del entry["server"]
        click.echo(json.dumps({"server": server, "events": entries}, indent=2))
        return EXIT_OK
    table = Table(show_lines=False, expand=True)
    table.add_column("TIME (UTC)", no_wrap=True)
    table.add_column("EVENT", no_wrap=False, max_width=44)
    table.add_column("ACTOR", no_wrap=True)
    table.add_column("REASON", ratio=1, min_width=30)
    for event in events:
        move = _move(event)
        table.add_row(
            event.at.strftime("%Y-%m-%d %H:%M:%S"),
            event.kind.value + (f"\n[dim]{move}[/]" if move else ""),
            escape(event.actor),
            escape(event.reason),
        )
    console().print(table)
    return EXIT_OK
