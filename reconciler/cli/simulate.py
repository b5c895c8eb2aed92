"""``sepm-reconciler simulate``: run the SEPM simulator until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path

import click

from reconciler.cli import EXIT_ERROR, EXIT_OK

__all__ = ["simulate"]


@click.command("simulate")
@click.option(
    "--fleet",
    "fleet_file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The fleet file (YAML). See docs/simulator.md; an example ships in reconciler/sim/fleets/example.yaml.",
)
@click.option(
    "--ports-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the managers' ports, API URLs and the admin token here (mode 0600) once every port listens; "
    "removed at shutdown.",
)
@click.option(
    "--log-level", type=click.Choice(["debug", "info", "warning"]), default="warning", show_default=True
)
def simulate(fleet_file: Path, ports_file: Path | None, log_level: str) -> int:
    """Run a simulated SEPM fleet over real HTTPS until interrupted (Ctrl-C or SIGTERM: clean shutdown, exit 0).

    Each manager of the fleet file gets three TLS ports (clients, console, API), the vendor REST API at
    https://HOST:API_PORT/sepm/api/v1 and the simulator's admin API at /_sim (driven by `sepm-reconciler
    sim-admin`). The ports file holds, per manager, host, ports, api_url and the admin token (mode 0600).

    \b
    Examples:
      sepm-reconciler simulate --fleet reconciler/sim/fleets/example.yaml --ports-file /tmp/ports.json
      sepm-reconciler sim-admin --ports-file /tmp/ports.json --manager sepm-east state      # in another shell

    \b
    Exit codes: 0 stopped cleanly, 1 invalid fleet file, a port that cannot be opened or an unwritable ports
    file (nothing is left running), 64 usage error.
    """
    from reconciler.sim import SimError, Simulator, load_fleet

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
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
            loop.add_signal_handler(sig, stop.set)
        async with simulator:
            for name, info in simulator.ports_info()["managers"].items():
                ports = info["ports"]
                click.echo(
                    f"{name}: api {info['api_url']}  clients :{ports['clients']}  console :{ports['console']}",
                    err=True,
                )
            click.echo("simulator ready (Ctrl-C to stop)", err=True)
            await stop.wait()
        click.echo("simulator stopped", err=True)

    try:
        asyncio.run(serve())
    except OSError as exc:  # a port that cannot be opened, an unwritable ports file: nothing is left running
        click.echo(f"error: {exc.strerror or exc}", err=True)
        return EXIT_ERROR
    return EXIT_OK
