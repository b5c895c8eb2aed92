"""``sepm-reconciler demo`` (placeholder): validate the example specs and show, per server, the seven steps it
would go through and why. The simulator-driven demo replaces this command once the engine exists."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from reconciler.cli.validate import SPECS_ENV, run_validation
from reconciler.core.durations import format_duration
from reconciler.core.spec import Action, Mode, Rollout
from reconciler.errors import CertificateError
from reconciler.specs import LoadedServer, desired_fingerprint

__all__ = ["demo", "procedure_for"]


def _how(action: Action, manual: str) -> str:
    if action == "manual":
        return f"by an operator ({manual})"
    return f"by the hook `{' '.join(action.command)}` (timeout {format_duration(action.timeout)})"


def _wait(rollout: Rollout, what: str) -> str:
    c = rollout.clients
    scope = ", ".join(c.groups) if c.groups else "every group that does not inherit"
    return (
        f"until {c.min_ack_ratio:.0%} of eligible clients in {scope} have {what} and at least "
        f"{format_duration(c.min_soak)} have passed on the manager's clock; clients unseen for "
        f"{format_duration(c.exclude_offline_for)} are not waited for but listed as at risk; "
        f"stalls after {format_duration(c.max_soak)}"
    )


def procedure_for(server: LoadedServer) -> list[tuple[int, str, str]]:
    """``(step, title, what happens and why)`` for each of the seven steps, from the server's spec."""
    spec = server.spec.spec
    rollout, actions = spec.rollout, spec.rollout.actions
    partners = ", ".join(spec.replication.partners)
    try:
        target = desired_fingerprint(server)
    except CertificateError as exc:
        target = f"(unreadable: {exc})"
    gate = []
    if 4 in rollout.approvals:
        gate.append("after `sepm-reconciler approve --step 4`")
    if rollout.window is not None:
        w = rollout.window
        gate.append(f"in the window {', '.join(w.days)} {w.start}–{w.end} {w.timezone}")
    ports = ", ".join(str(port) for _, port in spec.server.ports.items())
    steps = [
        (
            "break replication",
            f"remove the partnership with {partners} "
            + _how(actions.break_replication, "delete it in Admin > Servers > Replication Partners")
            + "; done when the manager no longer replicates with them"
            if partners
            else "skipped: no replication partners",
        ),
        (
            "disable certificate verification",
            "PATCH secure_communications=false on the managed groups, then read it back, so that clients keep "
            "talking to the manager while its certificate changes",
        ),
        ("wait for clients", _wait(rollout, "the policy without verification")),
        (
            "update the certificate",
            f"install {target} "
            + (" ".join(gate) + " " if gate else "")
            + _how(actions.update_certificate, "Admin > Servers > Manage Server Certificate, then restart")
            + f"; done when ports {ports} all present it — no going back after this step",
        ),
        ("enable certificate verification", "PATCH secure_communications=true and read it back"),
        ("wait for clients", _wait(rollout, "the policy with verification")),
        (
            "restore replication",
            f"re-add {partners} "
            + _how(actions.restore_replication, "add the partner again in the console")
            + ", replicate now, wait for SUCCEEDED, then re-check verification (re-adding can revert it)"
            if partners
            else "skipped: no replication partners",
        ),
    ]
    return [(n, title, detail) for n, (title, detail) in enumerate(steps, start=1)]


@click.command("demo")
@click.option(
    "--specs",
    "specs_path",
    type=click.Path(path_type=Path),
    envvar=SPECS_ENV,
    default=Path("specs"),
    show_default="$SEPM_RECONCILER_SPECS, else ./specs",
    help="The specs to walk through.",
)
def demo(specs_path: Path) -> int:
    """Validate the example specs and print the seven-step procedure each server would go through (offline).

    A preview: the full demo runs a rotation against the built-in SEPM simulator. Exit codes: 0 valid, 1 invalid.
    """
    spec_set, issues = run_validation(specs_path, check_secrets_too=False, now=datetime.now(UTC))
    for issue in issues:
        click.echo(str(issue))
    if any(i.is_error for i in issues):
        click.echo(f"{specs_path}: invalid — fix the errors above; nothing would be done")
        return 1
    click.echo(f"{len(spec_set.servers)} servers in {specs_path} (revision {spec_set.revision})\n")
    for server in spec_set.servers.values():
        spec = server.spec.spec
        click.echo(f"{server.name} — {spec.server.site}, {spec.server.api_url} ({server.file}:{server.line})")
        if spec.rollout.mode is Mode.REPORT:
            click.echo("   mode report: the reconciler observes and reports these steps, and never acts")
        for number, title, detail in procedure_for(server):
            click.echo(f"   {number}. {title}: {detail}")
        click.echo("")
    return 0
