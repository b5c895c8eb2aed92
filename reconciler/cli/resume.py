"""``sepm-reconciler resume SERVER --reason TEXT [--by WHO]``."""

from __future__ import annotations

import click

from reconciler.cli import EXIT_ERROR, EXIT_OK
from reconciler.cli._options import TEXT
from reconciler.cli._state import (
    change_record,
    daemon_note,
    default_actor,
    given_reason,
    now,
    open_state,
    operator_options,
)
from reconciler.core import requests
from reconciler.errors import Error


@click.command()
@click.argument("server", type=TEXT)
@operator_options(reason_required=False)
def resume(server: str, reason: str | None, by: str | None, state_url: str | None) -> int:
    """Resume SERVER: lift a suspension, continue a stalled rollout from the step it stalled in (its attempts
    are counted afresh), and allow an aborted rollout to start again.

    A stalled rollout is never restarted automatically for the same certificate and spec revision: this command
    (or a new spec revision) is how it continues. Fix what the stall's remedy says first. The daemon notices within
    seconds.

    \b
    Example:
      sepm-reconciler resume sepm-east-01 --reason "maxSoak raised to 21d" --by alice

    Exit codes: 0 recorded, 1 refused (unknown server, nothing to resume, unreadable state), 64 usage error.
    """
    actor = by or default_actor()
    why = given_reason(reason, "resume")
    try:
        with open_state(state_url) as store:
            _, event = change_record(
                store, server, lambda r: requests.resume(r, by=actor, now=now(), reason=why)
            )
            note = daemon_note(store, now())
    except Error as exc:
        click.echo(f"error: {exc}", err=True)
        return EXIT_ERROR
    assert event is not None  # noqa: S101 - resume always records an event (or refuses)
    click.echo(f"{server}: {event.reason}; {note}")
    return EXIT_OK
