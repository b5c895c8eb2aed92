"""``sepm-reconciler probe``: check, read-only, what the reconciler assumes about one real manager — and, with
``--rehearse``, try the settings PATCH on one sacrificial group and put it back."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path

import click
from cryptography import x509

from reconciler.certs import load_certificates
from reconciler.cli import EXIT_ERROR, EXIT_OK
from reconciler.cli._live import echo_spec_errors, load, open_state_if_any, require_servers, specs_option
from reconciler.cli._options import output_option
from reconciler.cli._state import by_option, default_actor, now, state_option
from reconciler.core.events import Event, EventKind
from reconciler.errors import CertificateError, Error
from reconciler.sepm import open_client
from reconciler.sepm.probe import ProbeReport, Status, run_probe
from reconciler.sepm.probe.rehearse import Rehearsal, rehearse
from reconciler.specs import LoadedServer, desired_fingerprint

__all__ = ["probe"]


async def _probe(
    server: LoadedServer, desired: str | None, chain: Sequence[x509.Certificate] | None, port_timeout: float
) -> ProbeReport:
    async with open_client(server) as client:
        return await run_probe(
            server.spec, client, desired_fingerprint=desired, desired_chain=chain, port_timeout=port_timeout
        )


async def _rehearse(server: LoadedServer, group: str, force: bool) -> Rehearsal:
    async with open_client(server) as client:
        return await rehearse(client, server=server.name, group=group, now=now(), force=force)


def _text(report: ProbeReport) -> str:
    lines = [
        f"Probing {report.server} at {report.api_url}",
        "(read-only: one authentication, GET requests and a logout; nothing on the manager is changed)",
        "",
    ]
    for check in report.checks:
        lines.append(f"  {check.status.symbol} {check.title}  [{check.id}]")
        lines.append(f"      {check.seen}")
    lines += ["", "Verified at run time instead (each needs a change on the manager), before it can do harm:"]
    lines += [f"  - {item}" for item in report.not_checked]
    passed, failed, unknown = (report.count(s) for s in (Status.PASS, Status.FAIL, Status.UNKNOWN))
    lines += ["", f"{passed} passed, {failed} failed, {unknown} could not be determined."]
    return "\n".join(lines)


def _rehearsal_text(result: Rehearsal, recorded: str) -> str:
    lines = [
        f"Rehearsed the settings PATCH on {result.server}, group {result.group!r} (location {result.location_id}):"
    ]
    lines += [f"  - {line}" for line in result.evidence]
    lines += ["", f"PATCH semantics: {result.summary}."]
    lines.append(
        "The reconciler's way of changing settings is safe on this manager."
        if result.safe
        else "WARNING: the reconciler's way of changing settings is NOT safe on this manager as measured: do not "
        "roll out before finding out why (docs/probe.md, 'Rehearsal')."
    )
    lines.append(recorded)
    return "\n".join(lines)


def _desired_chain(server: LoadedServer) -> Sequence[x509.Certificate] | None:
    path = server.spec.spec.certificate.file
    if path is None:
        return None
    try:
        return load_certificates(Path(path)).certificates
    except CertificateError:
        return None


def _record(state_url: str | None, result: Rehearsal, by: str | None) -> str:
    """Append the rehearsal to the state's event log; a sentence saying where (or why not)."""
    try:
        store = open_state_if_any(state_url, readonly=False)
    except Error as exc:
        return f"Not recorded: the state cannot be opened ({exc})."
    if store is None:
        return "Not recorded: there is no state yet (pass --state URL to record it where the daemon keeps its state)."
    event = Event(
        at=result.at,
        server=result.server,
        kind=EventKind.REHEARSAL,
        reason=f"PATCH semantics rehearsed on group {result.group}: {result.summary}",
        actor=by or default_actor(),
        details=result.event_details(),
    )
    with store:
        try:
            store.append([event])
        except Error as exc:
            return f"Not recorded: {exc}."
        return f"Recorded in the state at {store.url} (status and report show it)."


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
@click.option(
    "--rehearse",
    is_flag=True,
    help="Instead of the read-only checks: try the settings PATCH on the group given by --group, then put it back "
    "(changes that group for a minute; needs --confirm).",
)
@click.option("--group", "group", metavar="PATH", help="The sacrificial group of --rehearse (full path).")
@click.option("--confirm", is_flag=True, help="Confirm that --rehearse may change the settings of --group.")
@click.option(
    "--force",
    is_flag=True,
    help="Rehearse even though the group (or a group inheriting from it) has clients.",
)
@state_option
@by_option
def probe(
    server_name: str,
    specs_path: Path,
    output: str,
    port_timeout: float,
    rehearse: bool,
    group: str | None,
    confirm: bool,
    force: bool,
    state_url: str | None,
    by: str | None,
) -> int:
    """Check, read-only, what the reconciler assumes about a real SEPM manager.

    Authenticates with the spec's credentials, sends GET requests only, logs out, and looks at the certificate each
    port presents. It changes nothing. It reports every row of the assumption inventory (docs/probe.md): each
    assumption a read-only look can check prints ✓ (as assumed), ✗ (not as assumed) or ? (could not be determined)
    with what was seen — the REST API, the session (token lifetime and its units, the manager's clock and its units,
    the Date header, logout), domains, the throttle, the endpoints and fields the reconciler reads, paging (1-based,
    page size, a stable order), deleted and duplicate records, the lastUpdate filter, policy serials and policyDate,
    group inheritance, locations, the verification flag and the management server list in the settings,
    replication and its shape, the certificate on each port, and whether the desired certificate will be trusted —
    and the others with how the rollout verifies them before they can do harm.

    --rehearse --group PATH --confirm tries, on one sacrificial group, what no read-only look can: it flips the
    verification flag the way step 2 does (whole document read, whole configuration PATCHed, every field compared),
    checks the policy serial moved, sends a no-op PATCH and a flag-only PATCH (merge or replace semantics?), and
    PATCHes the original document back, verifying it is byte for byte as before. It refuses a group with clients
    (itself or the groups inheriting from it) unless --force. The result is printed and recorded in the state
    (--state), where status and report show it.

    \b
    Examples:
      sepm-reconciler probe --server sepm-east
      sepm-reconciler probe --server sepm-east --specs specs/ --output json
      sepm-reconciler probe --server sepm-east --rehearse --group 'My Company\\Lab' --confirm

    Exit codes: 0 every check passed (rehearsal: the reconciler's way is safe here and the group was restored), 1 a
    check failed or could not be determined, the rehearsal found it unsafe, refused or could not restore the group,
    or the specs are invalid, 64 usage error (e.g. no server of that name, --rehearse without --group or --confirm).
    """
    if rehearse and (group is None or not confirm):
        missing = "--group PATH" if group is None else "--confirm"
        raise click.UsageError(
            f"--rehearse changes a group's settings (and puts them back): it needs {missing}"
            + ("" if group is None else f" to change {group!r}")
        )
    if not rehearse and (group is not None or confirm or force):
        raise click.UsageError("--group, --confirm and --force go with --rehearse")
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
    if rehearse:
        assert group is not None  # noqa: S101 - checked above
        try:
            result = asyncio.run(_rehearse(server, group, force))
        except Error as exc:
            click.echo(f"error: {exc}", err=True)
            return EXIT_ERROR
        recorded = _record(state_url, result, by)
        if output == "json":
            click.echo(json.dumps({**result.to_json(), "recorded": recorded}, indent=2))
        else:
            click.echo(_rehearsal_text(result, recorded))
        return EXIT_OK if result.safe else EXIT_ERROR
    try:
        desired: str | None = desired_fingerprint(server)
    except CertificateError as exc:
        click.echo(f"warning: the desired certificate cannot be read ({exc}); probing anyway", err=True)
        desired = None
    try:
        report = asyncio.run(_probe(server, desired, _desired_chain(server), port_timeout))
    except Error as exc:  # a secret that cannot be resolved, an unreadable caBundle: located in the spec
        click.echo(f"error: {exc}; nothing was probed", err=True)
        return EXIT_ERROR
    if output == "json":
        click.echo(json.dumps(report.to_json(), indent=2, default=str))
    else:
        click.echo(_text(report))
    return EXIT_OK if report.passed else EXIT_ERROR
