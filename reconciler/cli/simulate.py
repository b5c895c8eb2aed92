"""``sepm-reconciler simulate``: run the SEPM simulator until SIGINT/SIGTERM — on a fleet file, or on a fleet it
generates together with working specs (``--write-specs DIR``)."""

from __future__ import annotations

import asyncio
import logging
import shlex
import signal
import sys
from pathlib import Path
from typing import Any

import click

from reconciler.cli import EXIT_ERROR, EXIT_OK, EXIT_USAGE

__all__ = ["simulate"]

TRY_SPEED = 3600.0  # 24 h of soak = 24 s


def _next_steps(directory: Path, specs: Path, state: Path) -> str:
    q = shlex.quote
    return "\n".join(
        [
            f"Specs for the simulator written to {specs} (certificates it trusts, a new certificate and keystore to "
            "rotate to, caBundle, the simulator hooks with their environment, secrets in files).",
            "In another shell (the simulator's clock runs 3,600x: a 24 h soak lasts 24 s):",
            f"  sepm-reconciler validate --specs {q(str(specs))} --check-secrets",
            f"  sepm-reconciler probe --specs {q(str(specs))} --server sepm-east",
            f"  sepm-reconciler plan --specs {q(str(specs))} --state {q(str(state))}",
            f"  sepm-reconciler run --specs {q(str(specs))} --state {q(str(state))} \\",
            "      --active-interval 2s --waiting-interval 10s      # then open http://127.0.0.1:9370/",
            f"  sepm-reconciler status --state {q(str(state))} --watch",
            f"Everything lives in {directory}; the simulator stops with Ctrl-C (the specs stay).",
        ]
    )


def _generate(directory: Path, ports_file: Path | None) -> tuple[Any, Path]:
    """A lab (CA, current and new certificates, a fleet file) in ``directory``; returns it and its fleet file."""
    from dataclasses import replace

    from reconciler.cli._demo_lab import TRY_MANAGERS, build_lab

    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    lab = build_lab(directory, TRY_MANAGERS, speed=TRY_SPEED, seed=11)
    if ports_file is not None:
        lab = replace(lab, ports_file=ports_file.resolve())
    return lab, lab.fleet_file


@click.command("simulate")
@click.option(
    "--fleet",
    "fleet_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The fleet file (YAML). See docs/simulator.md; an example ships in reconciler/sim/fleets/example.yaml. "
    "Not with --write-specs, which generates its fleet.",
)
@click.option(
    "--ports-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the managers' ports, API URLs and the admin token here (mode 0600) once every port listens; "
    "removed at shutdown. Default with --write-specs: DIR/ports.json.",
)
@click.option(
    "--write-specs",
    "write_specs_to",
    type=click.Path(file_okay=False, path_type=Path),
    help="Generate a fleet of three managers (Site East ↔ Site West, Site DMZ), start it, and write working specs "
    "for it in DIR/specs: validate, probe, plan and run work on them as they are.",
)
@click.option(
    "--log-level", type=click.Choice(["debug", "info", "warning"]), default="warning", show_default=True
)
def simulate(
    fleet_file: Path | None, ports_file: Path | None, write_specs_to: Path | None, log_level: str
) -> int:
    """Run a simulated SEPM fleet over real HTTPS until interrupted (Ctrl-C or SIGTERM: clean shutdown, exit 0).

    Each manager of the fleet gets three TLS ports (clients, console, API), the vendor REST API at
    https://HOST:API_PORT/sepm/api/v1 and the simulator's admin API at /_sim (driven by `sepm-reconciler
    sim-admin`). The ports file holds, per manager, host, ports, api_url and the admin token (mode 0600).

    With --write-specs DIR it also generates everything needed to try the reconciler against it: a private CA, each
    manager's current certificate (what it serves) and a new one to rotate to (with its PKCS#12 keystore), the fleet
    file, and specs that name them — caBundle, the desired certificate, the keystore and its password (in a file),
    the API password (in a file), and the simulator hooks for steps 1, 2a, 4a, 5b and 7 — and, once the simulator is
    up, the HTTP copy of the clients' management server list (KB 187099) on each site. It prints what to run next.

    \b
    Examples:
      sepm-reconciler simulate --write-specs /tmp/sepm-try          # then follow what it prints
      sepm-reconciler simulate --fleet reconciler/sim/fleets/example.yaml --ports-file /tmp/ports.json
      sepm-reconciler sim-admin --ports-file /tmp/ports.json --manager sepm-east state      # in another shell

    \b
    Exit codes: 0 stopped cleanly, 1 invalid fleet file, a port that cannot be opened or an unwritable ports
    file or directory (nothing is left running), 64 usage error (no --fleet nor --write-specs, or both).
    """
    from reconciler.sim import SimError, Simulator, load_fleet

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if (fleet_file is None) == (write_specs_to is None):
        click.echo(
            "error: give --fleet FILE (a fleet of yours) or --write-specs DIR (a generated fleet and its specs)",
            err=True,
        )
        return EXIT_USAGE
    lab: Any = None
    if write_specs_to is not None:
        try:
            lab, fleet_file = _generate(write_specs_to.resolve(), ports_file)
        except OSError as exc:
            click.echo(f"error: cannot write to {write_specs_to}: {exc.strerror or exc}", err=True)
            return EXIT_ERROR
        ports_file = lab.ports_file
    assert fleet_file is not None  # noqa: S101 - one of the two, checked above
    try:
        config = load_fleet(fleet_file)
        simulator = Simulator(config, ports_file=ports_file)
    except SimError as exc:  # an invalid fleet file (file:line: field: message), a certificate it cannot use
        click.echo(f"error: {exc}", err=True)
        return EXIT_ERROR

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, stop.set)
            except (NotImplementedError, RuntimeError):  # Windows: Ctrl+C arrives as KeyboardInterrupt
                signal.signal(sig, lambda *_: loop.call_soon_threadsafe(stop.set))
        async with simulator:
            info = simulator.ports_info()
            for name, entry in info["managers"].items():
                ports = entry["ports"]
                click.echo(
                    f"{name}: api {entry['api_url']}  clients :{ports['clients']}  console :{ports['console']}",
                    err=True,
                )
            if lab is not None:
                from reconciler.cli._demo_lab import HTTP_LIST, copy_http_lists, write_specs

                # as an operator does once before a rollout (KB 187099): an HTTP copy of the clients' list
                sites = await asyncio.to_thread(copy_http_lists, lab, info)
                click.echo(f"{HTTP_LIST!r} made on {', '.join(sites)} (for step 2a)", err=True)
                specs = write_specs(lab, info, standalone=True)
                click.echo(_next_steps(lab.root, specs, lab.root / "state.db"), err=True)
            click.echo("simulator ready (Ctrl-C to stop)", err=True)
            sys.stderr.flush()
            await stop.wait()
        click.echo("simulator stopped", err=True)

    try:
        asyncio.run(serve())
    except OSError as exc:  # a port that cannot be opened, an unwritable ports file: nothing is left running
        click.echo(f"error: {exc.strerror or exc}", err=True)
        return EXIT_ERROR
    return EXIT_OK
