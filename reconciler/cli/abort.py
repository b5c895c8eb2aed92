"""``sepm-reconciler abort SERVER --reason TEXT [--by WHO]``."""

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
def abort(server: str, reason: str | None, by: str | None, state_url: str | None) -> int:
    """Abort SERVER's rollout while it can still be undone.

    Before the certificate update starts (steps 1-3, or step 4 before any attempt), the next check rolls back:
    certificate verification is turned on again where it was on, then the replication partnerships are restored
    (and the flags re-checked after the re-join). The rollout is then held in "drifted" and not restarted for
    the same certificate and spec revision until `sepm-reconciler resume SERVER` or a new spec revision. The
    daemon notices within seconds.

    From step 4 on, clients may already trust the new certificate: abort is refused with the reason, and the
    rollout can only go forward.

    \b
    Example:
      sepm-reconciler abort sepm-east-01 --reason "wrong certificate in the spec" --by alice

    Exit codes: 0 recorded, 1 refused (from step 4 on, nothing to abort, unknown server, unreadable state),
    64 usage error.
    """
    actor = by or default_actor()
    why = given_reason(reason, "abort") or "requested with sepm-reconciler abort"
    try:
        with open_state(state_url) as store:
            change_record(store, server, lambda r: requests.request_abort(r, by=actor, reason=why, now=now()))
            note = daemon_note(store, now())
    except Error as exc:
        click.echo(f"error: {exc}", err=True)
        return EXIT_ERROR
    click.echo(f"{server}: abort requested by {actor}; the rollback starts at the next check: {note}")
    return EXIT_OK
