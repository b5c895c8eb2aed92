"""``sepm-reconciler suspend SERVER --reason TEXT [--by WHO]``."""

from __future__ import annotations

import click

from reconciler.cli import EXIT_ERROR, EXIT_OK
from reconciler.cli._options import TEXT
from reconciler.cli._state import change_record, daemon_note, default_actor, now, open_state, operator_options
from reconciler.core import requests
from reconciler.errors import Error


@click.command()
@click.argument("server", type=TEXT)
@operator_options()
def suspend(server: str, reason: str, by: str | None, state_url: str | None) -> int:
    """Suspend SERVER: no action and no move forward until `sepm-reconciler resume SERVER`.

    Drift is still observed and reported while suspended; an action already running is not interrupted. The
    daemon notices within seconds.

    \b
    Example:
      sepm-reconciler suspend sepm-east-01 --reason "change freeze until 2027-01-04" --by alice

    Exit codes: 0 recorded, 1 refused (unknown server, already suspended, unreadable state), 64 usage error.
    """
    actor = by or default_actor()
    try:
        with open_state(state_url) as store:
            change_record(store, server, lambda r: requests.suspend(r, by=actor, reason=reason, now=now()))
            note = daemon_note(store, now())
    except Error as exc:
        click.echo(f"error: {exc}", err=True)
        return EXIT_ERROR
    click.echo(f"{server}: suspended by {actor}: {reason}; {note}")
    return EXIT_OK
