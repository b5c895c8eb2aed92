"""``sepm-reconciler forecast``: rehearse the whole rollout on a twin of each manager before touching it."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from multiprocessing import get_context
from pathlib import Path

import click

from reconciler.cli import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK
from reconciler.cli._forecast_twin import RunPlan, run_plan
from reconciler.cli._live import (
    configure_logging,
    echo_spec_errors,
    load,
    require_servers,
    server_option,
    specs_option,
)
from reconciler.cli._options import output_option
from reconciler.cli.run import DURATION
from reconciler.cli.status import console
from reconciler.errors import Error
from reconciler.forecast.drive import Pacing
from reconciler.forecast.prepare import Prepared, prepare_twin, read_all, write_fleet
from reconciler.forecast.render import Settings, document, render_markdown, render_text
from reconciler.forecast.summary import ServerForecast, summarise
from reconciler.forecast.track import Track

__all__ = ["forecast", "run_forecast"]


def _plans(prepared: Prepared, specs_path: Path, runs: int, seed: int, pacing: Pacing) -> list[RunPlan]:
    names = tuple(sorted(prepared.readings))
    return [
        RunPlan(
            specs_path=specs_path,
            names=names,
            twin=prepared.twin,
            desired=prepared.desired,
            ca_file=prepared.ca_file,
            admin_password_file=prepared.admin_password_file,
            keystore_password_file=prepared.keystore_password_file,
            seed=seed + k,
            pacing=pacing,
        )
        for k in range(runs)
    ]


def run_forecast(plans: list[RunPlan], jobs: int) -> list[dict[str, Track]]:
    """Every run, in worker processes when ``jobs`` > 1 (each run is independent: its own twin and state)."""
    if jobs <= 1 or len(plans) <= 1:
        return [run_plan(plan) for plan in plans]
    with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as pool:
        return list(pool.map(run_plan, plans))


@click.command()
@specs_option
@server_option
@click.option(
    "--runs", type=click.IntRange(1, 50), default=5, show_default=True, help="Rehearsals per server."
)
@click.option(
    "--seed", type=int, default=1, show_default=True, help="The first run's seed (run k uses SEED+k)."
)
@click.option(
    "--resolution",
    type=DURATION,
    default="1h",
    show_default=True,
    metavar="DURATION",
    help="The longest step of the twin's clock while a step waits for clients: durations are measured to within it.",
)
@click.option(
    "--sample",
    type=click.IntRange(min=0),
    default=10_000,
    show_default=True,
    help="At most this many clients in a manager's twin (a stratified sample; counts are scaled back). 0: all.",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=0),
    default=0,
    show_default="the machine's cores",
    help="Runs at once, each in its own process.",
)
@click.option(
    "--twin",
    "twin_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Keep the twin in DIR (fleet.yaml for sepm-reconciler simulate, its certificates); default: removed.",
)
@output_option(
    "text", "json", "markdown", help="text for a terminal, json for tools, markdown for a pull request."
)
@click.option(
    "--timeout",
    "timeout",
    type=DURATION,
    default="5m",
    show_default=True,
    metavar="DURATION",
    help="How long reading each manager may take: a server not read by then is an error (exit 1); the others are "
    "still forecast.",
)
@click.option("-v", "--verbose", count=True, help="Log (-v info, -vv debug) on stderr.")
def forecast(
    specs_path: Path,
    servers: tuple[str, ...],
    runs: int,
    seed: int,
    resolution: timedelta,
    sample: int,
    jobs: int,
    twin_dir: Path | None,
    output: str,
    timeout: timedelta,
    verbose: int,
) -> int:
    """Rehearse the whole rollout on a twin of each manager, and say how it will go — before touching anything.

    \b
    1. Reads each managed server, read-only (GET only, then logout): the group tree and inheritance, the
       domains, how many clients each group has, agent versions, the heartbeat, and how long the clients that
       are away have been away — never a client's name.
    2. Makes a twin: a simulated fleet with those groups and clients (strict wherever nothing could be read;
       every such assumption is listed), and its own certificates with the validity of the real ones.
    3. Runs the reconciler's own ticks on the twin with your specs, its clock compressed (days in seconds):
       hooks and manual steps are done by the simulator's console operations the moment they are due,
       approvals granted the moment they are first needed — --runs times, with different seeds.
    4. Prints per server each step's median and 90th-percentile duration, the clients at risk when the swap
       begins and when verification comes back, stalls and their codes, approvals and windows waited for,
       what the twin's ground truth says was orphaned, and the date by which the rollout must start to finish
       before the certificate served now expires.

    \b
    Examples:
      sepm-reconciler forecast --specs specs/
      sepm-reconciler forecast --server sepm-east-01 --runs 10 --output json
      sepm-reconciler forecast --output markdown >> plan.md       # with the plan, in the pull request
      sepm-reconciler forecast --twin twin/ && sepm-reconciler simulate --fleet twin/fleet.yaml

    Nothing is changed on the managers, and no state is read or written. Exit codes: 0 forecast made, 1 error
    (a spec error, a server that cannot be read, a twin that cannot run), 64 usage error, 130 interrupted.
    """
    configure_logging(verbose)
    spec_set = load(specs_path)
    if spec_set.errors:
        echo_spec_errors(spec_set)
        return EXIT_ERROR
    require_servers(spec_set, servers, specs_path)
    names = sorted(servers) if servers else sorted(spec_set.servers)
    made_at = datetime.now(UTC)
    directory = twin_dir or Path(tempfile.mkdtemp(prefix="sepm-forecast-"))
    try:
        readings, errors = asyncio.run(read_all(spec_set, names, now=made_at, within=timeout))
        forecasts: list[ServerForecast] = []
        if readings:
            prepared = prepare_twin(spec_set, readings, directory, sample=sample)
            write_fleet(prepared.twin, directory / "fleet.yaml", seed=seed)
            plans = _plans(prepared, specs_path, runs, seed, Pacing(resolution=resolution))
            workers = jobs or min(runs, os.cpu_count() or 1)
            results = run_forecast(plans, workers)
            for name in sorted(readings):
                tracks = [result[name] for result in results]
                forecasts.append(
                    summarise(
                        spec_set.servers[name].spec, readings[name], prepared.twin.servers[name], tracks
                    )
                )
    except KeyboardInterrupt:
        click.echo("interrupted: nothing was changed (forecast only reads the managers)", err=True)
        return EXIT_INTERRUPTED
    except Error as exc:
        click.echo(f"error: {exc}", err=True)
        return EXIT_ERROR
    finally:
        if twin_dir is None:
            shutil.rmtree(directory, ignore_errors=True)
    code = EXIT_ERROR if errors else EXIT_OK
    settings = Settings(runs, seed, resolution, sample, spec_set.revision, made_at)
    if output == "json":
        click.echo(json.dumps(document(forecasts, settings, errors, code), indent=2))
    elif output == "markdown":
        click.echo(render_markdown(forecasts, settings, errors))
    else:
        render_text(console(), forecasts, settings, errors)
    for name, error in sorted(errors.items()):
        click.echo(f"error: {name}: {error}", err=True)
    return code
