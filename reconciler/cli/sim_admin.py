"""``sepm-reconciler sim-admin``: drive a running simulator's ``/_sim`` admin API (for hooks, demos and tests).

Passwords (keystores, backups) come from an environment variable (``--password-env NAME``) or the first line of
standard input (``--password-stdin``), never from the command line. Output is JSON on standard output.
Exit codes: 0 done, 1 the simulator refused or cannot be reached (or a file cannot be used), 64 usage error.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import click
import httpx

from reconciler.cli import EXIT_ERROR, EXIT_OK
from reconciler.cli._options import TEXT

__all__ = ["sim_admin"]


_MAX_PORTS_FILE = 1024 * 1024  # a ports file is a few hundred bytes
_FLEET_WIDE = frozenset({"state", "clock-advance", "clock-set"})  # commands about the whole fleet


class _Failed(Exception):
    """The simulator refused, cannot be reached, or a file cannot be used: exit 1 with this message."""


class _Target:
    def __init__(self, ports_file: Path, manager: str | None, *, fleet_wide: bool = False) -> None:
        written_by = f"written by `sepm-reconciler simulate --ports-file {ports_file}` while it runs"
        try:
            with ports_file.open("rb") as handle:
                info = json.loads(handle.read(_MAX_PORTS_FILE))
        except OSError as exc:
            raise click.UsageError(
                f"cannot read the ports file {ports_file}: {exc.strerror or exc} (it is {written_by})"
            ) from exc
        except (
            ValueError,
            RecursionError,
        ) as exc:  # not JSON, not UTF-8, cut at the size limit, nested absurdly
            reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)[:200]
            raise click.UsageError(
                f"{ports_file} is not a simulator ports file ({written_by}): {reason}"
            ) from exc
        managers = info.get("managers") if isinstance(info, dict) else None
        if not isinstance(managers, dict) or not all(
            isinstance(m, dict) and isinstance(m.get("api_url"), str) and "admin_token" in m
            for m in managers.values()
        ):
            raise click.UsageError(
                f"{ports_file} is not a simulator ports file ({written_by}): no managers with api_url and admin_token"
            )
        if manager is None:
            if len(managers) != 1 and not fleet_wide:
                raise click.UsageError(f"--manager is required: the fleet has {', '.join(sorted(managers))}")
            manager = sorted(managers)[0]  # the fleet's clock and state can be reached through any manager
        if manager not in managers:
            raise click.UsageError(
                f"no manager {manager!r} in {ports_file}; it has {', '.join(sorted(managers))}"
            )
        entry = managers[manager]
        self.manager = manager
        self.base = entry["api_url"].split("/sepm/api/v1")[0] + "/_sim"
        self.token = str(entry["admin_token"])

    def call(self, method: str, path: str, body: Any = None, params: dict[str, str] | None = None) -> Any:
        """The JSON answer of ``METHOD /_sim{path}``; :class:`_Failed` when refused or unreachable."""
        # The simulator's certificates are self-signed and change on purpose: this local admin client does not verify.
        try:
            with httpx.Client(verify=False, timeout=30.0) as client:  # noqa: S501 - see above
                response = client.request(
                    method,
                    self.base + path,
                    json=body,
                    params=params,
                    headers={"Authorization": f"Bearer {self.token}"},
                )
        except httpx.HTTPError as exc:
            raise _Failed(
                f"{self.manager}: cannot reach the simulator at {self.base}: {exc or type(exc).__name__} "
                "(is `sepm-reconciler simulate` still running, and is its API port up?)"
            ) from exc
        try:
            data = response.json()
        except ValueError:
            data = {"errorMessage": response.text[:200]}
        if response.status_code >= 400:
            message = data.get("errorMessage", data) if isinstance(data, dict) else data
            raise _Failed(f"{self.manager}: {method} /_sim{path} → {response.status_code}: {message}")
        return data


def _run(
    ctx: click.Context, method: str, path: str, body: Any = None, params: dict[str, str] | None = None
) -> int:
    target: _Target = ctx.obj
    try:
        result = target.call(method, path, body, params)
    except _Failed as exc:
        click.echo(f"error: {exc}", err=True)
        return EXIT_ERROR
    click.echo(json.dumps(result, indent=2))
    return EXIT_OK


def _password(env: str | None, stdin: bool, *, required: bool) -> str | None:
    if env and stdin:
        raise click.UsageError("give --password-env or --password-stdin, not both")
    if env:
        if env not in os.environ:
            raise click.UsageError(f"environment variable {env} is not set")
        return os.environ[env]
    if stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if required:
        raise click.UsageError("a password is needed: --password-env NAME or --password-stdin")
    return None


password_options = [
    click.option("--password-env", metavar="NAME", help="Read the password from this environment variable."),
    click.option(
        "--password-stdin", is_flag=True, help="Read the password from the first line of standard input."
    ),
]


def _with_password(fn: Any) -> Any:
    for option in reversed(password_options):
        fn = option(fn)
    return fn


@click.group("sim-admin")
@click.option(
    "--ports-file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The ports file written by `sepm-reconciler simulate --ports-file FILE`.",
)
@click.option(
    "--manager",
    help="The manager to act on (optional when the fleet has one, and for state, clock-advance and clock-set).",
)
@click.pass_context
def sim_admin(ctx: click.Context, ports_file: Path, manager: str | None) -> None:
    """Drive a running simulator's /_sim admin API: the console operations SEPM's REST API lacks (certificate
    update and backup, service restarts, replication partners, management server lists), the virtual clock,
    clients, faults, behaviours, ground truth.

    It reads the manager's address and the admin token from the ports file that `sepm-reconciler simulate
    --ports-file FILE` writes. Passwords come from --password-env NAME or --password-stdin, never from the command
    line. Answers are printed as JSON on standard output; see docs/simulator.md.

    \b
    Examples (P=/tmp/ports.json):
      sepm-reconciler sim-admin --ports-file $P --manager sepm-east state
      sepm-reconciler sim-admin --ports-file $P --manager sepm-east certificate --pkcs12 new.p12 --password-env P12_PASS
      sepm-reconciler sim-admin --ports-file $P --manager sepm-east restart          # the staged certificate takes effect
      sepm-reconciler sim-admin --ports-file $P --manager sepm-east partner-delete "Site West"
      sepm-reconciler sim-admin --ports-file $P clock-advance 1d                       # one clock for the whole fleet
      sepm-reconciler sim-admin --ports-file $P --manager sepm-east list-set "HTTP list" --protocol http \
          --copy-of "Default Management Server List"
      sepm-reconciler sim-admin --ports-file $P --manager sepm-east list-assign "HTTP list" --all
      sepm-reconciler sim-admin --ports-file $P --manager sepm-east behaviours --set settingsPatch=merge

    \b
    Exit codes: 0 done, 1 the simulator refused, cannot be reached, or a file cannot be used, 64 usage error.
    """
    ctx.obj = _Target(ports_file, manager, fleet_wide=ctx.invoked_subcommand in _FLEET_WIDE)


@sim_admin.command("state")
@click.option("--clients", is_flag=True, help="Include one row per client.")
@click.pass_context
def state(ctx: click.Context, clients: bool) -> int:
    """Print the ground truth of the whole fleet (GET /_sim/state)."""
    return _run(ctx, "GET", "/state", params={"clients": "true"} if clients else None)


@sim_admin.command("restart")
@click.option("--service", "services", multiple=True, type=click.Choice(["semsrv", "semwebsrv", "semapisrv"]))
@click.option("--wait/--no-wait", default=True, show_default=True, help="Wait until the services are back.")
@click.option("--timeout", default=60.0, show_default=True, help="Seconds to wait with --wait.")
@click.pass_context
def restart(ctx: click.Context, services: tuple[str, ...], wait: bool, timeout: float) -> int:
    """Restart the services (all three by default); a staged certificate takes effect."""
    if not wait:
        return _run(ctx, "POST", "/services/restart", {"services": list(services)} if services else {})
    target: _Target = ctx.obj
    try:
        started = target.call("POST", "/services/restart", {"services": list(services)} if services else {})
    except _Failed as exc:
        click.echo(f"error: {exc}", err=True)
        return EXIT_ERROR
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.1)
        try:
            manager = target.call("GET", "/state")["managers"][target.manager]
        except _Failed:
            continue  # the API port is down while semapisrv restarts
        if all(v != "restarting" for v in manager["services"].values()):
            result = {**started, "services": manager["services"], "served": manager["served"]}
            click.echo(json.dumps(result, indent=2))
            if all(v == "running" for v in manager["services"].values()):
                return EXIT_OK
            click.echo(
                f"error: {target.manager}: the restart failed: {manager['restarts'][-1]['result']}", err=True
            )
            return EXIT_ERROR
    click.echo(
        f"error: {target.manager}: the services did not come back within {timeout:g}s (a restart_fails fault that "
        "leaves semapisrv down also takes this manager's /_sim admin API down with it)",
        err=True,
    )
    return EXIT_ERROR


@sim_admin.command("clock-advance")
@click.argument("duration")
@click.pass_context
def clock_advance(ctx: click.Context, duration: str) -> int:
    """Move the fleet's clock forward by DURATION (seconds, or 30s / 15m / 24h / 7d)."""
    from reconciler.sim.fleet import parse_duration

    try:
        seconds = parse_duration(float(duration) if duration.replace(".", "", 1).isdigit() else duration)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="DURATION") from None
    return _run(ctx, "POST", "/clock/advance", {"seconds": seconds})


@sim_admin.command("clock-set")
@click.argument("when")
@click.pass_context
def clock_set(ctx: click.Context, when: str) -> int:
    """Set the fleet's clock to WHEN (ISO 8601 with a zone, not in the simulated past)."""
    return _run(ctx, "POST", "/clock/set", {"time": when})


@sim_admin.command("faults")
@click.option("--error-rate", type=float)
@click.option("--latency-ms", type=int)
@click.option("--timeout-rate", type=float)
@click.option("--hang-s", type=float)
@click.option("--throttle-burst", type=int)
@click.option("--retry-after-s", type=int)
@click.option("--token-lifetime-s", type=float)
@click.option("--restart-fails", type=click.Choice(["down", "old_cert", "none"]))
@click.option("--close-after-post/--no-close-after-post", default=None)
@click.option("--reset", is_flag=True, help="Clear every fault first.")
@click.pass_context
def faults(ctx: click.Context, /, **options: Any) -> int:
    """Show (no option) or set the manager's injected faults."""
    body = {k: v for k, v in options.items() if v is not None and k != "reset"}
    if body.get("restart_fails") == "none":
        body["restart_fails"] = None
    if options["reset"]:
        body["reset"] = True
    return _run(ctx, "POST", "/faults", body) if body else _run(ctx, "GET", "/faults")


@sim_admin.command("rehome")
@click.pass_context
def rehome(ctx: click.Context) -> int:
    """Re-home the manager's orphaned clients that are online (Communication Update Package)."""
    return _run(ctx, "POST", "/clients/rehome", {})


@sim_admin.command("partner-add")
@click.argument("site", type=TEXT)
@click.pass_context
def partner_add(ctx: click.Context, site: str) -> int:
    """Join SITE as a replication partner (this site's group settings are overwritten with SITE's)."""
    return _run(ctx, "POST", "/replication/partners/add", {"partner": site})


@sim_admin.command("partner-delete")
@click.argument("site", type=TEXT)
@click.pass_context
def partner_delete(ctx: click.Context, site: str) -> int:
    """Delete the replication partnership with SITE (on both sides)."""
    return _run(ctx, "POST", "/replication/partners/delete", {"partner": site})


@sim_admin.command("certificate")
@click.option(
    "--pkcs12", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="A .p12/.pfx file."
)
@click.option("--jks", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="A Java keystore.")
@click.option(
    "--cert",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A PEM certificate (+ chain).",
)
@click.option(
    "--key", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Its PEM private key."
)
@_with_password
@click.pass_context
def certificate(
    ctx: click.Context,
    pkcs12: Path | None,
    jks: Path | None,
    cert: Path | None,
    key: Path | None,
    password_env: str | None,
    password_stdin: bool,
) -> int:
    """Stage a new server certificate (takes effect at the next restart), as Manage Server Certificate > Update."""
    sources = [s for s in (pkcs12, jks, cert) if s is not None]
    if len(sources) != 1 or (cert is None) != (key is None):
        raise click.UsageError("give exactly one of --pkcs12 FILE, --jks FILE, or --cert FILE --key FILE")
    body: dict[str, Any]
    try:
        if pkcs12 is not None or jks is not None:
            store = pkcs12 if pkcs12 is not None else jks
            assert store is not None  # noqa: S101 - one of the two, checked above
            body = {
                "pkcs12_b64" if pkcs12 is not None else "jks_b64": base64.b64encode(_read(store)).decode(),
                "password": _password(password_env, password_stdin, required=True),
            }
        else:
            assert cert is not None and key is not None  # noqa: S101 - checked above
            body = {"cert_pem": _pem(cert, "certificate"), "key_pem": _pem(key, "private key")}
            password = _password(password_env, password_stdin, required=False)
            if password:
                body["password"] = password
    except _Failed as exc:
        click.echo(f"error: {exc}", err=True)
        return EXIT_ERROR
    return _run(ctx, "POST", "/certificate", body)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise _Failed(f"cannot read {path}: {exc.strerror or exc}") from exc


def _pem(path: Path, what: str) -> str:
    """The text of a PEM file; :class:`_Failed` naming the file when it is DER or anything else."""
    data = _read(path)
    if b"-----BEGIN " not in data or not data.isascii():
        raise _Failed(
            f"{path} is not a PEM file (text with a -----BEGIN … block): give the {what} in PEM, e.g. "
            f"openssl {'x509' if what == 'certificate' else 'pkey'} -inform DER -in {path} -out {path}.pem"
        )
    return data.decode("ascii")


@sim_admin.command("backup")
@click.option(
    "--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Where to write the .p12."
)
@_with_password
@click.pass_context
def backup(ctx: click.Context, out: Path, password_env: str | None, password_stdin: bool) -> int:
    """Back up the served certificate and key as a password-protected PKCS#12 file."""
    password = _password(password_env, password_stdin, required=True)
    target: _Target = ctx.obj
    try:
        result = target.call("POST", "/certificate/backup", {"password": password})
        try:
            fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(base64.b64decode(result["pkcs12_b64"]))
        except OSError as exc:
            raise _Failed(f"cannot write the backup to {out}: {exc.strerror or exc}") from exc
    except _Failed as exc:
        click.echo(f"error: {exc}", err=True)
        return EXIT_ERROR
    click.echo(json.dumps({"file": str(out), "fingerprint": result["fingerprint"]}, indent=2))
    return EXIT_OK


@sim_admin.command("clients")
@click.option("--online/--offline", required=True, help="Bring machines back, or take them away.")
@click.option("--count", type=int, help="How many (the first ones, by name).")
@click.option("--share", type=float, help="Which share of the candidates.")
@click.option("--name", "names", multiple=True, help="A computer name (repeatable).")
@click.option("--group", help="Only in this group (full path).")
@click.option(
    "--for", "for_", help="With --offline: come back after this duration (30m, 2d…); default never."
)
@click.pass_context
def clients(
    ctx: click.Context,
    online: bool,
    count: int | None,
    share: float | None,
    names: tuple[str, ...],
    group: str | None,
    for_: str | None,
) -> int:
    """Force clients online or offline."""
    from reconciler.sim.fleet import parse_duration

    body: dict[str, Any] = {"online": online}
    if names:
        body["names"] = list(names)
    elif count is not None:
        body["count"] = count
    elif share is not None:
        body["share"] = share
    else:
        raise click.UsageError("name the clients: --count N, --share X or --name NAME")
    if group:
        body["group"] = group
    if for_:
        try:
            body["for_seconds"] = parse_duration(for_)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--for") from None
    return _run(ctx, "POST", "/clients/online", body)


@sim_admin.command("behaviours")
@click.argument("preset", required=False, type=click.Choice(["strict", "lenient"]))
@click.option(
    "--set",
    "changes",
    multiple=True,
    metavar="KEY=VALUE",
    help="Change one behaviour (repeatable). VALUE is JSON when it parses as JSON (false, 100, "
    "'{\"threshold\": 100}'), else a plain string (merge, login).",
)
@click.pass_context
def behaviours(ctx: click.Context, preset: str | None, changes: tuple[str, ...]) -> int:
    """Show the manager's behaviours (no argument), reset them all to PRESET (strict or lenient), or change some.

    Site behaviours (managementServerLists, certificateWithPolicy, deletedRows, rejoin) change the whole site.

    \b
    Examples:
      sepm-reconciler sim-admin --ports-file $P --manager sepm-east behaviours
      sepm-reconciler sim-admin --ports-file $P --manager sepm-east behaviours lenient
      sepm-reconciler sim-admin --ports-file $P --manager sepm-east behaviours --set settingsPatch=merge \\
          --set 'throttle={"threshold": 100, "retryAfter": true}'
    """
    if preset and changes:
        raise click.UsageError("give a preset (strict or lenient) or --set KEY=VALUE, not both")
    if not preset and not changes:
        return _run(ctx, "GET", "/behaviours")
    body: Any = preset
    if changes:
        body = {}
        for change in changes:
            key, sep, raw = change.partition("=")
            if not sep or not key:
                raise click.BadParameter(f"expected KEY=VALUE, got {change!r}", param_hint="--set")
            try:
                body[key] = json.loads(raw)
            except ValueError:
                body[key] = raw
    return _run(ctx, "POST", "/behaviours", body)


@sim_admin.command("list-set")
@click.argument("name")
@click.option(
    "--protocol", required=True, type=click.Choice(["https", "http"]), help="How clients reach the servers."
)
@click.option("--copy-of", metavar="LIST", help="Create NAME as a copy of this list (else: edit NAME).")
@click.pass_context
def list_set(ctx: click.Context, name: str, protocol: str, copy_of: str | None) -> int:
    """Copy a management server list and paste it as NAME (--copy-of), or edit NAME's protocol (a console operation:
    SEPM's REST API has none). Groups using an edited list get a new policy serial."""
    body: dict[str, Any] = {"name": name, "protocol": protocol}
    if copy_of:
        body["copyOf"] = copy_of
    return _run(ctx, "POST", "/lists", body)


@sim_admin.command("list-assign")
@click.argument("name")
@click.option("--group", "groups", multiple=True, metavar="PATH", help="A group (full path; repeatable).")
@click.option("--all", "all_groups", is_flag=True, help="Every group and location of the site.")
@click.pass_context
def list_assign(ctx: click.Context, name: str, groups: tuple[str, ...], all_groups: bool) -> int:
    """Assign the management server list NAME to groups (a console operation; a new policy serial for each)."""
    if bool(groups) == all_groups:
        raise click.UsageError("name the groups: --group PATH (repeatable) or --all")
    return _run(ctx, "POST", "/lists/assign", {"list": name, "groups": None if all_groups else list(groups)})
