"""``sepm-reconciler demo``: a whole rotation on a simulated fleet, in one command (what ``make demo`` runs).

1. generate a private CA, each manager's current and new certificate (PEM + PKCS#12 keystore) in a temporary
   directory;
2. start the SEPM simulator as a subprocess — strict in every behaviour: every client on an HTTPS management server
   list, the new certificate fetched only with a policy that does not verify, a replacing settings PATCH, the REST
   throttle, machines added, removed and re-imaged every day (see ``_demo_lab``) — four managers (Site East served
   by two of them, one site rollout; Site East and Site West replication partners), a few thousand clients — some laptops away for days, a few 14.2 agents —, its clock
   running fast; then, as an operator would (KB 187099), copy each site's list as an HTTP list;
3. write the specs declaring the new certificates (the vendor's 24 h minimum soak, measured on the managers' clock);
4. run the daemon — the same run loop as ``sepm-reconciler run``, with the simulator hooks of
   ``deploy/hooks/sim/`` for steps 1, 2a, 4a, 5b and 7 — and show its progress live;
5. print the drift report (every server in sync) and the simulator's ground truth: no client orphaned, every list
   back to the original, verification on, and the clients that stayed offline throughout were all listed at risk
   before the swap (4a) or before verification came back (5a) (counted; named as far as the state keeps names).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import click
import httpx
from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.text import Text

from reconciler.cli import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK
from reconciler.cli._demo_lab import (
    DEMO_MANAGERS,
    HTTP_LIST,
    ORIGINAL_LIST,
    Lab,
    build_lab,
    copy_http_lists,
    sim_hooks_dir,
    write_specs,
)
from reconciler.cli._demo_view import GroundTruth, Predictions, check_ground_truth, event_line, progress_table
from reconciler.core import wording
from reconciler.core.decide import Tuning
from reconciler.core.events import Event
from reconciler.core.record import RolloutRecord
from reconciler.errors import StateError

__all__ = ["demo"]

DEMO_TUNING = Tuning(
    active_interval=timedelta(seconds=0.5),
    waiting_interval=timedelta(seconds=0.5),
    idle_interval=timedelta(seconds=5),
    after_move=timedelta(seconds=0.2),
    api_timeout=timedelta(seconds=30),
    api_max_attempts=5,
    effect_grace=timedelta(seconds=30),
    retry_base=timedelta(seconds=2),
    retry_max=timedelta(seconds=10),
)


class DemoError(Exception):
    """The demo could not run (not a failed rollout: that is reported with the ground truth)."""


def _start_simulator(lab: Lab, log_file: Path) -> subprocess.Popen[bytes]:
    with log_file.open("wb") as log:
        proc = subprocess.Popen(  # noqa: S603 - our own CLI, argv built here, no shell
            [
                sys.executable,
                "-m",
                "reconciler",
                "simulate",
                "--fleet",
                str(lab.fleet_file),
                "--ports-file",
                str(lab.ports_file),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    deadline = time.monotonic() + 60
    while not lab.ports_file.exists():
        if proc.poll() is not None:
            raise DemoError(f"the simulator exited with {proc.returncode}: see {log_file}")
        if time.monotonic() > deadline:
            proc.kill()
            raise DemoError(f"the simulator did not start within 60 s: see {log_file}")
        time.sleep(0.1)
    return proc


def _stop_simulator(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _ground_truth(lab: Lab, ports: dict[str, Any]) -> dict[str, Any]:
    info = next(iter(ports["managers"].values()))
    url = str(info["api_url"]).split("/sepm/api/v1")[0] + "/_sim/state"
    response = httpx.get(
        url,
        params={"clients": "true"},
        headers={"Authorization": f"Bearer {info['admin_token']}"},
        verify=ssl.create_default_context(cafile=str(lab.ca_file)),
        timeout=60,
    )
    response.raise_for_status()
    data: dict[str, Any] = response.json()
    return data


async def _watch(
    daemon: Any,
    console: Console,
    *,
    deadline: float,
    predictions: Predictions,
    names: list[str],
    status_url: str,
) -> list[RolloutRecord]:
    """Show progress until every server is in sync (or stalled, or the deadline); returns the last records."""
    started = time.monotonic()
    records: list[RolloutRecord] = []
    seen_events: set[int] = set()
    live = Live(console=console, refresh_per_second=4, transient=False) if console.is_terminal else None
    with live if live is not None else contextlib.nullcontext():
        while time.monotonic() < deadline:
            await asyncio.sleep(0.25)
            try:
                records = [r for r in await daemon.records() if r.server in names]
                events: list[Event] = await daemon.events(60)
            except StateError:  # the state is being created: look again in a moment
                continue
            predictions.update(records)
            times = [r.observed.manager_time for r in records if r.observed and r.observed.manager_time]
            table = progress_table(
                records,
                manager_time=max(times) if times else None,
                elapsed=time.monotonic() - started,
                status_url=status_url,
                width=console.width,
            )
            if live is not None:
                live.update(table)
            else:
                for event in events:
                    line = event_line(event) if event.id not in seen_events else None
                    seen_events.add(event.id or 0)
                    if line:
                        console.print(escape(line), soft_wrap=True)
            if len(records) == len(names) and all(r.in_sync or r.stalled for r in records):
                break
            if daemon.stopping:  # Ctrl-C (or SIGTERM) reached the daemon
                console.print("[yellow]interrupted: the daemon stopped[/]")
                break
    return records


def _print_truth(console: Console, truth: GroundTruth, predictions: Predictions) -> None:
    console.rule("Ground truth (the simulator)")
    for name in sorted(truth.served_ok):
        waits = predictions.by_wait(name)
        predicted = (
            f"{waits.get('before the swap', 0)} before the swap (4a), "
            f"{waits.get('before verification', 0)} before verification came back (5a)"
        )
        away, lost = truth.offline_untrusting[name], truth.orphaned[name]
        wrong = truth.end_state.get(name, [])
        console.print(
            f"[bold]{name}[/]: every port presents the desired certificate: "
            f"{'[green]yes[/]' if truth.served_ok[name] else '[red]no[/]'} · verification on, original list: "
            f"{'[red]no[/]' if wrong else '[green]yes[/]'} · orphaned clients: {len(lost)} · "
            f"stayed offline throughout: {len(away)} · listed at risk: {predicted}"
        )
        for problem in wrong:
            console.print(f"   [red]not put back[/]: {escape(problem)}")
        if away:
            console.print(f"   offline throughout: {escape(wording.names(away, limit=8))}")
        if truth.predicted_returned[name]:
            console.print(
                f"   listed at risk but came back before the swap (they acknowledged in time): "
                f"{escape(wording.names(truth.predicted_returned[name], limit=8))}"
            )
        for client in truth.unpredicted[name]:
            console.print(
                f"   [red]orphaned or offline with the old certificate, but NOT predicted[/]: {escape(client)}"
            )
    total_lost = sum(len(v) for v in truth.orphaned.values())
    total_away = sum(len(v) for v in truth.offline_untrusting.values())
    if truth.ok:
        orphans = (
            f"{total_lost} orphaned clients"
            if not total_lost
            else f"{total_lost} clients orphaned, each listed at risk before the swap (laptops back after it)"
        )
        console.print(
            f"\n[green]✓[/] {orphans}; every group verifies again, on {ORIGINAL_LIST}. The {total_away} "
            "clients that stayed offline throughout were all listed at risk before each swap — counted, and named "
            "as far as the state keeps names (they still trust the old certificate: re-home them with a "
            "Communication Update Package when they return)."
        )
    else:
        console.print("\n[red]✗ the ground truth does not match what the reconciler predicted (see above)[/]")


async def _report(console: Console, specs: Path, store: Any) -> int:
    """The drift report (sepm-reconciler report) over ``store``; its exit code."""
    from reconciler.engine import SystemClock
    from reconciler.report import collect, render

    report = await collect(specs, store, clock=SystemClock())
    console.rule("Drift report (sepm-reconciler report)")
    rendered = render(report, "text", color=console.is_terminal, width=console.width)
    console.print(Text.from_ansi(rendered), soft_wrap=True)
    return report.exit_code


async def _run_demo(
    lab: Lab, specs: Path, ports: dict[str, Any], console: Console, *, budget: float, serve: bool = False
) -> int:
    from reconciler.daemon.config import DaemonConfig
    from reconciler.daemon.loop import Daemon

    state_url = f"sqlite:///{lab.root / 'state.db'}"
    config = DaemonConfig(
        specs=specs,
        state_url=state_url,
        host="127.0.0.1",
        port=0,
        tick_timeout=60,
        lease_ttl=10,
        watch_period=1,
        jitter=0.1,
        max_interval=1.0,
        health_grace=30,
        page_refresh=2,
        tuning=DEMO_TUNING,
    )
    daemon = Daemon(config)
    runner = asyncio.create_task(daemon.run(), name="daemon")
    for _ in range(100):
        if daemon.port is not None or runner.done():
            break
        await asyncio.sleep(0.05)
    if runner.done():
        raise DemoError(f"the daemon did not start (exit {runner.result()}): see {lab.root / 'daemon.log'}")
    status_url = f"http://127.0.0.1:{daemon.port}/"
    console.print(
        f"Daemon running; status page [link={status_url}]{status_url}[/link] (Ctrl-C stops the demo)\n"
    )
    predictions = Predictions()
    names = [p.name for p in lab.plans]
    started = time.monotonic()
    stopped = False
    try:
        records = await _watch(
            daemon,
            console,
            deadline=started + budget,
            predictions=predictions,
            names=names,
            status_url=status_url,
        )
        interrupted = daemon.stopping  # Ctrl-C reached the daemon before every server was done
        if interrupted or not serve:
            daemon.request_stop()
            await runner
            stopped = True
        if interrupted:
            return EXIT_INTERRUPTED
        elapsed = time.monotonic() - started
        finished = len(records) == len(names) and all(r.in_sync for r in records)
        if finished:
            console.print(f"\n[green]Every server rotated in {elapsed:.0f} s of wall time.[/]\n")
        else:
            for record in records:
                if not record.in_sync:
                    console.print(f"[red]{record.server} did not finish[/]: {escape(record.reason)}")
        if stopped:
            from reconciler.store import open_store

            store = await asyncio.to_thread(open_store, state_url, create=False)
            try:
                report_code = await _report(console, specs, store)
            finally:
                store.close()
        else:  # the daemon still runs: read through its store (a second handle on the file must not be closed
            report_code = await _report(console, specs, daemon.store)  # while it writes: see store.sqlite)
        desired = {name: lab.new[name].fingerprint for name in names}
        truth = check_ground_truth(
            await asyncio.to_thread(_ground_truth, lab, ports),
            desired,
            predictions,
            original_list=ORIGINAL_LIST,
        )
        _print_truth(console, truth, predictions)
        code = EXIT_OK if finished and truth.ok and report_code == 0 else EXIT_ERROR
        if serve and not stopped:
            _print_serving(console, lab, status_url, ports)
            await runner  # until Ctrl-C (the daemon's signal handlers stop it)
            stopped = True
        return code
    finally:
        if not stopped:
            daemon.request_stop()
            await runner


def _print_serving(console: Console, lab: Lab, status_url: str, ports: dict[str, Any]) -> None:
    state = lab.root / "state.db"
    console.rule("Still running (--serve): Ctrl-C stops everything")
    console.print(
        f"status page  {status_url}\n"
        f"state        sepm-reconciler status --state {state}\n"
        f"history      sepm-reconciler history sepm-east --state {state}\n"
        f"simulator    sepm-reconciler sim-admin --ports-file {lab.ports_file} --manager sepm-east state\n"
        f"specs        {lab.root / 'specs'}  (edit one: the daemon reloads it within seconds)",
        soft_wrap=True,
    )


@click.command("demo")
@click.option(
    "--speed",
    type=click.FloatRange(min=60),
    default=7200,
    show_default=True,
    help="Simulated seconds per real second (the managers' clock).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=10),
    default=300,
    show_default=True,
    help="Give up after this many seconds of wall time.",
)
@click.option(
    "--keep", is_flag=True, help="Keep the temporary directory (specs, state, logs) and print its path."
)
@click.option(
    "--serve",
    is_flag=True,
    help="After the rotation, keep the simulator, the daemon and its status page up until Ctrl-C (to look around, "
    "approve, suspend, edit a spec…).",
)
def demo(speed: float, timeout: float, keep: bool, serve: bool) -> int:
    """Watch a whole certificate rotation on a simulated fleet, start to finish, in about a minute.

    \b
    Four simulated managers (Site East, served by two of them, and Site West replicate with each other, Site
    DMZ stands alone and holds a second domain) with 4,700 clients — on HTTPS management server lists, some laptops away for days, a few 14.2 agents — get new
    certificates through the vendor's whole procedure (KB 187099: the seven steps, with the HTTP list around the
    swap and the clients fetching the new certificate before verification returns), driven by the real daemon,
    with the 24 h minimum soak on the managers' (fast) clock. At the end: the drift report, and the simulator's
    ground truth checked against the reconciler's at-risk predictions.

    \b
    Examples:
      make demo                            # the same, from a fresh clone (creates .venv first)
      sepm-reconciler demo --keep          # keep the specs, state and logs to look at afterwards
      sepm-reconciler demo --speed 14400   # a faster clock: the 24 h soaks pass in 6 s each
      sepm-reconciler demo --serve         # then look around until Ctrl-C

    Runs from a checkout or an installed wheel, in any directory. Exit codes: 0 every server rotated and no client
    was orphaned or left offline with the old certificate without having been predicted, 1 otherwise (the
    directory is then kept), 130 interrupted (Ctrl-C).
    """
    probe = Console()
    console = Console(highlight=False, width=None if probe.is_terminal else 120)
    if not sim_hooks_dir().is_dir():  # pragma: no cover - a broken installation
        console.print(
            f"error: the simulator hooks are missing ({sim_hooks_dir()}): reinstall sepm-cert-reconciler"
        )
        return EXIT_ERROR
    root = Path(tempfile.mkdtemp(prefix="sepm-demo-"))
    root.chmod(0o700)
    from reconciler.daemon.logs import configure_logging

    log_path = root / "daemon.log"
    log_stream = log_path.open("a", encoding="utf-8")
    configure_logging("text", stream=log_stream)
    sim: subprocess.Popen[bytes] | None = None
    saved_env = dict(os.environ)
    code = EXIT_ERROR
    try:
        console.print(f"Generating certificates and a simulated fleet in {root} …")
        lab = build_lab(root, DEMO_MANAGERS, speed=speed)
        sim = _start_simulator(lab, root / "simulator.log")
        ports = json.loads(lab.ports_file.read_text(encoding="utf-8"))
        sites = copy_http_lists(lab, ports)
        console.print(
            f"As an operator would before the rollout (KB 187099): {ORIGINAL_LIST} copied as {HTTP_LIST} on "
            f"{wording.names(sites)}; the clients stay on the HTTPS original until step 2a."
        )
        specs = write_specs(lab, ports)
        os.environ.update(lab.environment())  # the specs' {env: …} secrets and the hooks' ports file
        total = sum(p.clients + sum(d[1] for d in p.domains) for p in lab.plans)
        console.print(
            f"Simulator up: {len(lab.plans)} managers, {total:,} clients, clock ×{speed:g} "
            f"(24 h of soak ≈ {86400 / speed:.0f} s). Specs: {specs}\n"
        )
        code = asyncio.run(_run_demo(lab, specs, ports, console, budget=timeout, serve=serve))
    except DemoError as exc:
        console.print(f"[red]error[/]: {escape(str(exc))}")
        code = EXIT_ERROR
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        if sim is not None:
            _stop_simulator(sim)
        logging.getLogger().handlers.clear()
        log_stream.close()
        if keep or code != EXIT_OK:
            console.print(f"\nEverything is kept in {root} (daemon.log, simulator.log, specs/, state.db).")
        else:
            shutil.rmtree(root, ignore_errors=True)
    return code
