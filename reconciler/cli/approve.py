"""``sepm-reconciler approve SERVER --step N --by WHO --reason TEXT [--accept-at-risk]``."""

from __future__ import annotations

import click

from reconciler.cli import EXIT_ERROR, EXIT_OK
from reconciler.cli._options import TEXT
from reconciler.cli._state import change_record, now, open_state, state_option
from reconciler.core import requests
from reconciler.errors import Error


@click.command()
@click.argument("server", type=TEXT)
@click.option("--step", "step", type=int, required=True, help="The step to approve, 1 to 7.")
@click.option(
    "--by", "by", type=TEXT, metavar="WHO", required=True, help="Who approves (kept in the permanent record)."
)
@click.option(
    "--reason", "reason", type=TEXT, metavar="TEXT", required=True, help="Why (kept in the permanent record)."
)
@click.option(
    "--accept-at-risk",
    is_flag=True,
    help="Steps 4, 5 and 7 only: accept that the clients counted at risk now may be orphaned, so the wait before "
    "the step (3, 4b or 6) may end once minSoak is over even if minAckRatio is not reached.",
)
@state_option
def approve(server: str, step: int, by: str, reason: str, accept_at_risk: bool, state_url: str | None) -> int:
    """Approve STEP of SERVER's current rollout, for the rollout's target certificate.

    Steps listed in spec.rollout.approvals wait for an approval before they start. An approval is permanent:
    who, why and when are recorded, and it only counts for this rollout and this target certificate (a new
    desired certificate needs a new approval).

    It also confirms a manual list sub-step while it waits: on a manager whose API does not show a group's
    management server list, step 2a (the HTTP list) and 5b (the original list) are done when every managed group's
    policy serial moved and an operator confirms with --step 2 or --step 5 (status says when).

    \b
    Examples:
      sepm-reconciler approve sepm-east-01 --step 4 --by alice --reason "CAB-1234 approved"
      sepm-reconciler approve sepm-east-01 --step 4 --accept-at-risk --by alice --reason "12 retired laptops"
      sepm-reconciler approve sepm-east-01 --step 2 --by bob --reason "HTTP list assigned to all groups"

    Exit codes: 0 recorded, 1 refused (unknown server, invalid or already started step, nothing to approve,
    unreadable state), 64 usage error (e.g. --step is not a number, --by missing).
    """
    try:
        with open_state(state_url) as store:
            record, event = change_record(
                store,
                server,
                lambda r: requests.approve(
                    r, step=step, by=by, reason=reason, now=now(), accept_at_risk=accept_at_risk
                ),
            )
    except Error as exc:
        click.echo(f"error: {exc}", err=True)
        return EXIT_ERROR
    click.echo(f"{server}: {event.reason} (rollout {record.rollout_id}); it takes effect at the next check")
    return EXIT_OK
