"""``sepm-reconciler probe``: check, read-only, what the reconciler assumes about one real manager."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import click

from reconciler.cli import EXIT_ERROR, EXIT_OK
from reconciler.cli._live import echo_spec_errors, load, require_servers, specs_option
from reconciler.cli._options import output_option
from reconciler.errors import CertificateError, Error
from reconciler.sepm import open_client
from reconciler.sepm.probe import ProbeReport, Status, run_probe
from reconciler.specs import LoadedServer, desired_fingerprint

__all__ = ["probe"]


async def _probe(server: LoadedServer, desired: str | None, port_timeout: float) -> ProbeReport:
    async with open_client(server) as client:
        return await run_probe(server.spec, client, desired_fingerprint=desired, port_timeout=port_timeout)


def _text(report: ProbeReport) -> str:
    lines = [
        f"Probing {report.server} at {report.api_url}",
        "(read-only: one authentication and GET requests; nothing on the manager is changed)",
        "",
    ]
    for check in report.checks:
        lines.append(f"  {check.status.symbol} {check.title}  [{check.id}]")
        lines.append(f"      {check.seen}")
    lines += [
        "",
        "Not checked here (each needs a change on the manager; the rollout verifies it as it goes):",
    ]
    lines += [f"  - {item}" for item in report.not_checked]
    passed, failed, unknown = (report.count(s) for s in (Status.PASS, Status.FAIL, Status.UNKNOWN))
    lines += ["", f"{passed} passed, {failed} failed, {unknown} could not be determined."]
    return "\n".join(lines)


@click.command("probe")
@click.option(
    "--server", "server_name", required=True, metavar="NAME", help="metadata.name of the server to probe."
)
@specs_option
@output_option("text", "json")
@click.option(
    "--port-timeout",
    type=click.FloatRange(min=0.1),
    default=10.0,
    show_default=True,
    help="Seconds per TLS look.",
)
def probe(server_name: str, specs_path: Path, output: str, port_timeout: float) -> int:
    """Check, read-only, what the reconciler assumes about a real SEPM manager.

    Authenticates with the spec's credentials, sends GET requests only, and looks at the certificate each port
    presents. It changes nothing. Each check prints ✓ (as assumed), ✗ (not as assumed) or ? (could not be
    determined) with what was seen: the REST API and its version, authentication and the token lifetime, the
    manager's clock, the endpoints and fields the reconciler reads, paging (1-based, pageSize 1000 accepted), the
    lastUpdate filter, onlineStatus values, policy serial numbers, group inheritance, location ids and the
    secure_communications flag of the managed groups, replication, and the certificate on each port.

    \b
    Examples:
      sepm-reconciler probe --server sepm-east
      sepm-reconciler probe --server sepm-east --specs specs/ --output json

    Exit codes: 0 every check passed, 1 a check failed or could not be determined (or the specs are invalid),
    64 usage error (e.g. no server of that name).
    """
    spec_set = load(specs_path)
    if spec_set.errors:
        echo_spec_errors(spec_set)
        click.echo(
            f"error: {specs_path}: {len(spec_set.errors)} error(s) in the specs: nothing was probed "
            "(fix them; sepm-reconciler validate checks them)",
            err=True,
        )
        return EXIT_ERROR
    require_servers(spec_set, (server_name,), specs_path)
    server = spec_set.servers[server_name]
    try:
        desired: str | None = desired_fingerprint(server)
    except CertificateError as exc:
        click.echo(f"warning: the desired certificate cannot be read ({exc}); probing anyway", err=True)
        desired = None
    try:
        report = asyncio.run(_probe(server, desired, port_timeout))
    except Error as exc:  # a secret that cannot be resolved, an unreadable caBundle: located in the spec
        click.echo(f"error: {exc}; nothing was probed", err=True)
        return EXIT_ERROR
    if output == "json":
        click.echo(json.dumps(report.to_json(), indent=2, default=str))
    else:
        click.echo(_text(report))
    return EXIT_OK if report.passed else EXIT_ERROR
