"""``sepm-reconciler resume SERVER``."""

from __future__ import annotations

import click

from reconciler.cli import EXIT_ERROR, EXIT_OK
from reconciler.cli._options import TEXT
from reconciler.cli._state import by_option, change_record, default_actor, now, open_state, state_option
from reconciler.core import requests
from reconciler.errors import Error


@click.command()
@click.argument("server", type=TEXT)
@click.option(
    "--reason", "reason", type=TEXT, metavar="TEXT", default="", help="Why (kept in the event log)."
)
@by_option
@state_option
def resume(server: str, reason: str, by: str | None, state_url: str | None) -> int:
    """Resume SERVER: lift a suspension, continue a stalled rollout from the step it stalled in (its attempts
    are counted afresh), and allow an aborted rollout to start again.

    A stalled rollout is never restarted automatically for the same certificate and spec revision: this command
    (or a new spec revision) is how it continues. Fix what the stall's remedy says first.

    \b
    Example:
      sepm-reconciler resume sepm-east-01 --by alice --reason "maxSoak raised to 21d"

    Exit codes: 0 recorded, 1 refused (unknown server, nothing to resume, unreadable state), 64 usage error.
    """
    actor = by or default_actor()
    try:
        with open_state(state_url) as store:
            _, event = change_record(
                store, server, lambda r: requests.resume(r, by=actor, now=now(), reason=reason)
            )
    except Error as exc:
        click.echo(f"error: {exc}", err=True)
        return EXIT_ERROR
    click.echo(f"{server}: {event.reason}; it takes effect at the next check")
    return EXIT_OK
