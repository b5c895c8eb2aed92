"""``sepm-reconciler approve SERVER --step N --reason TEXT [--by WHO] [--accept-at-risk]``."""

from __future__ import annotations

import click

from reconciler.cli import EXIT_ERROR, EXIT_OK
from reconciler.cli._options import TEXT
from reconciler.cli._state import (
    change_record,
    daemon_note,
    default_actor,
    now,
    open_state,
    operator_options,
)
from reconciler.core import requests, wording
from reconciler.errors import Error


@click.command()
@click.argument("server", type=TEXT)
@click.option("--step", "step", type=int, required=True, help="The step to approve, 1 to 7.")
@click.option(
    "--accept-at-risk",
    is_flag=True,
    help="Steps 4, 5 and 7 only: accept that the clients counted at risk now may be orphaned, so the wait before "
    "the step (3, 4b or 6) may end once minSoak is over even if minAckRatio is not reached. When every one of them "
    "is listed by name, a later step waiting only on the same clients goes on without a second acceptance.",
)
@operator_options()
def approve(
    server: str, step: int, accept_at_risk: bool, reason: str, by: str | None, state_url: str | None
) -> int:
    """Approve STEP of SERVER's current rollout, for the rollout's target certificate.

    Steps listed in spec.rollout.approvals wait for an approval before they start; the daemon notices the
    approval within seconds and checks the server at once. An approval is permanent: who (--by, default your user
    name), why and when are recorded, and it only counts for this rollout and this target certificate (a new desired
    certificate needs a new approval). Approving twice changes nothing (exit 0). A step that needs no approval is
    refused, saying what the spec asks for.

    It also confirms a manual list sub-step while it waits: on a manager whose API does not show a group's
    management server list, step 2a (the HTTP list) and 5b (the original list) are done when every managed group's
    policy serial moved and an operator confirms with --step 2 or --step 5 (status says when).

    \b
    Examples:
      sepm-reconciler approve sepm-east-01 --step 4 --reason "CAB-1234 approved"
      sepm-reconciler approve sepm-east-01 --step 4 --accept-at-risk --reason "12 retired laptops" --by alice
      sepm-reconciler approve sepm-east-01 --step 2 --reason "HTTP list assigned to all groups" --by bob

    Exit codes: 0 recorded (or already recorded), 1 refused (unknown server, invalid or already started step, a
    step that needs no approval, nothing at risk to accept, unreadable state), 64 usage error (e.g. --step is not
    a number, --reason missing).
    """
    actor = by or default_actor()
    try:
        with open_state(state_url) as store:
            record, event = change_record(
                store,
                server,
                lambda r: requests.approve(
                    r, step=step, by=actor, reason=reason, now=now(), accept_at_risk=accept_at_risk
                ),
            )
            note = daemon_note(store, now())
    except Error as exc:
        click.echo(f"error: {exc}", err=True)
        return EXIT_ERROR
    if event is None:
        done = requests.existing_approval(record, step, accept_at_risk=accept_at_risk)
        who = f" by {done.by} at {wording.when(done.at)}: {done.reason}" if done is not None else ""
        click.echo(
            f"{server}: step {step} of rollout {record.rollout_id} is already approved{who}; nothing changed"
        )
        return EXIT_OK
    click.echo(f"{server}: {event.reason} (rollout {record.rollout_id}); {note}")
    approval = record.approvals[-1]
    later = requests.carries_forward(approval)
    if later:
        steps = " and ".join(map(str, later))
        click.echo(
            f"{server}: the {wording.count(approval.at_risk_accepted or 0)} client(s) accepted are listed by name: "
            f"if only they are at risk before step {steps}, this acceptance covers it too"
        )
    elif approval.accept_at_risk:
        click.echo(
            f"{server}: not every client at risk is listed by name, so before step "
            f"{' and '.join(str(s) for s in requests.AT_RISK_STEPS if s > step) or '-'} a new acceptance may be "
            "needed"
        )
    return EXIT_OK
