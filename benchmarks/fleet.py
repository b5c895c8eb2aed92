"""Benchmark: one daemon against a fleet of 50 simulated managers × 20,000 clients (one simulator process).

    .venv/bin/python benchmarks/fleet.py [--managers 50] [--clients 20000] [--observe-concurrency 8]
                                         [--steady 180] [--strict]

The simulator runs in its own process; the daemon (``Daemon``, exactly what ``sepm-reconciler run`` runs) runs in
this one, with a transport that counts each manager's API requests. Every spec declares the certificate its manager
already serves, so after its first observation each server is in sync (steady state). Reported:

* **first round** — from the daemon's start until every manager was observed once (a full scan of its clients),
  against the target ``2 × (one manager's full observe × managers ÷ observation concurrency)``, the baseline
  measured here alone on the same simulator after the daemon stopped;
* **steady state** — ticks per minute, and API requests per manager per tick and per hour. The simulator's clock
  runs at 60× and the daemon's in-sync interval is 60 s, so each steady tick sees what an hourly tick (the default
  ``--idle-interval``) sees on a real manager: an hour of check-ins (every client, with a 5-minute heartbeat). Per
  hour = one such tick + a sixth of the first round's full scan (``full_scan_every`` is 6 h);
* **peak RSS** of this process (the daemon; the simulator is apart), target ≤ 1 GB.

Exit 0, or 1 with ``--strict`` when a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import yaml

from reconciler.core.decide import DEFAULT_TUNING
from reconciler.daemon.config import DaemonConfig
from reconciler.daemon.loop import Daemon
from reconciler.sepm import ClientLedger, observe, open_client, tls_context
from reconciler.specs import LoadedServer, load_specs

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: the repository's root

from benchmarks._kit import pki, start_simulator, stop_simulator

PASSWORD = "bench-pass"  # noqa: S105 - the simulator's admin password (a benchmark, not a secret)
PASSWORD_ENV = "SEPM_BENCH_PASSWORD"  # noqa: S105 - the name of a variable
SPEED = 60.0
HEARTBEAT = "5m"
GIB = 2**30


def fleet_document(
    managers: int, clients: int, cert: Path, key: Path, *, speed: float = SPEED
) -> dict[str, Any]:
    """The simulator's fleet file: ``managers`` standalone managers on 127.0.0.1 presenting one certificate, each
    with ``clients`` clients (a few offline, a few on 14.2 agents). The one place the benchmark's fleet is made."""
    return {
        "clock": {"start": "2026-12-01T08:00:00Z", "speed": speed},
        "seed": 15,
        # Strict in every behaviour (deleted rows listed, replicationStatus an array, no-op PATCHes bumping the
        # serial…) but the throttle: it counts calls per window of the simulator's clock, which runs at 60× here, so
        # it would throttle 60× harder than a real manager. benchmarks/throttled_scan.py measures the throttle.
        "behaviours": {"throttle": False},
        "managers": [
            {
                "name": f"sepm-{n:02d}",
                "site": f"Site {n:02d}",
                "host": "127.0.0.1",
                "ports": {"clients": 0, "console": 0, "api": 0},
                "admin": {"username": "admin", "password": PASSWORD, "domain": ""},
                "certificate": {"certFile": str(cert), "keyFile": str(key)},
                "groups": [
                    {"name": "My Company", "inherits": False},
                    {"name": "My Company\\Servers", "inherits": True},
                    {"name": "My Company\\Laptops", "inherits": False},
                ],
                "clients": {
                    "count": clients,
                    "heartbeat": HEARTBEAT,
                    "offline": {"share": 0.05, "forMin": "1d", "forMax": "10d"},
                    "agentVersions": {"14.3.9816.7000": 0.97, "14.2.5587.2100": 0.03},
                },
            }
            for n in range(managers)
        ],
    }


def write_specs(directory: Path, ports: dict[str, Any], ca: Path, cert: Path) -> Path:
    """One spec per manager declaring the certificate it already serves (so it is in sync once observed)."""
    specs = directory / "specs"
    specs.mkdir()
    for name, info in ports["managers"].items():
        document = {
            "apiVersion": "sepm-reconciler/v1",
            "kind": "ManagedServer",
            "metadata": {"name": name},
            "spec": {
                "server": {
                    "apiUrl": info["api_url"],
                    "site": info["site"],
                    "ports": info["ports"],
                    "caBundle": str(ca),
                    "credentials": {"username": "admin", "password": {"env": PASSWORD_ENV}},
                    "timeout": "60s",
                },
                "certificate": {"file": str(cert)},
                "rollout": {"clients": {"groups": ["My Company\\Laptops"]}},
            },
        }
        (specs / f"{name}.yaml").write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return specs


class CountingTransport(httpx.AsyncBaseTransport):
    """Counts each request of one manager by kind: a page of a full scan of computers, a page of an incremental one,
    the one-computer page that reads the count, anything else."""

    def __init__(self, counts: Counter[str], inner: httpx.AsyncBaseTransport) -> None:
        self._counts = counts
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/computers"):
            params = request.url.params
            kind = (
                "incremental"
                if "lastUpdate" in params
                else "count"
                if params.get("pageSize") == "1"
                else "full"
            )
            self._counts[kind] += 1
        else:
            self._counts["other"] += 1
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU time of this process (``pid`` None) or of another one (Linux ``/proc``)."""
    if pid is None:
        times = os.times()
        return times.user + times.system
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss() -> int:
    """This process's peak resident set (VmHWM), in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    import resource  # not Linux: ru_maxrss (KiB on Linux, bytes on macOS)

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * (1 if sys.platform == "darwin" else 1024)


async def run_daemon(
    args: argparse.Namespace, specs: Path, state: Path, ca: Path, simulator_pid: int
) -> dict[str, Any]:
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    verify = tls_context(str(ca))

    def client_factory(server: LoadedServer) -> Any:
        transport = CountingTransport(counts[server.name], httpx.AsyncHTTPTransport(verify=verify))
        return open_client(server, transport=transport)

    tuning = replace(
        DEFAULT_TUNING,
        idle_interval=timedelta(seconds=60),
        active_interval=timedelta(seconds=30),
    )
    config = DaemonConfig(
        specs=specs,
        state_url=f"sqlite:///{state}",
        port=0,
        jitter=5.0,
        tuning=tuning,
        observe_concurrency=args.observe_concurrency,
    )
    daemon = Daemon(config, client_factory=client_factory)
    cpu0, sim0 = cpu_seconds(), cpu_seconds(simulator_pid)
    started = time.monotonic()
    task = asyncio.create_task(daemon.run())
    names = set()

    def ticks() -> dict[str, int]:
        return {n: rt.ticks for n, rt in daemon.state.servers.items()}

    while True:
        await asyncio.sleep(0.2)
        if task.done():
            raise SystemExit(f"the daemon stopped: exit {task.result()}")
        names = set(daemon.state.servers)
        done = ticks()
        if len(names) == args.managers and all(done[n] >= 1 for n in names):
            break
        if time.monotonic() - started > 1800:
            raise SystemExit("the first round did not finish within 30 min")
    first_round = time.monotonic() - started
    first_cpu, first_sim_cpu = cpu_seconds() - cpu0, cpu_seconds(simulator_pid) - sim0
    records = await daemon.records()
    phases = Counter(r.phase.value for r in records)
    errors = [f"{n}: {rt.last_error}" for n, rt in daemon.state.servers.items() if rt.last_error]
    first_counts = {n: Counter(c) for n, c in counts.items()}

    steady_from = ticks()
    steady_started = time.monotonic()
    await asyncio.sleep(args.steady)
    window = time.monotonic() - steady_started
    steady_ticks = {n: t - steady_from.get(n, 0) for n, t in ticks().items()}
    steady_counts = {n: counts[n] - first_counts.get(n, Counter()) for n in names}
    rss = peak_rss()
    daemon.request_stop()
    await asyncio.wait_for(task, timeout=60)
    per_tick = [sum(steady_counts[n].values()) / steady_ticks[n] for n in names if steady_ticks.get(n, 0) > 0]
    full_pages = [first_counts[n]["full"] for n in names]
    first_requests = [sum(first_counts[n].values()) for n in names]
    return {
        "first_round_s": first_round,
        "first_round_cpu_daemon_s": first_cpu,
        "first_round_cpu_simulator_s": first_sim_cpu,
        "phases": dict(phases),
        "errors": errors[:5],
        "steady_window_s": window,
        "ticks_per_min": sum(steady_ticks.values()) / (window / 60),
        "requests_per_tick": statistics.median(per_tick) if per_tick else float("nan"),
        "incremental_pages_per_tick": statistics.median(
            steady_counts[n]["incremental"] / steady_ticks[n] for n in names if steady_ticks.get(n, 0)
        )
        if per_tick
        else float("nan"),
        "full_scans_in_steady_state": sum(1 for n in names if steady_counts[n]["full"]),
        "first_round_requests": statistics.median(first_requests),
        "full_scan_pages": statistics.median(full_pages),
        "peak_rss": rss,
    }


async def baseline(specs: Path) -> float:
    """One manager's full observe (cold ledger), alone: the unit of the first-round target."""
    spec_set = load_specs(specs)
    server = spec_set.servers[sorted(spec_set.servers)[0]]
    async with open_client(server) as client:
        started = time.monotonic()
        obs = await observe(server.spec, client, ledger=ClientLedger())
        elapsed = time.monotonic() - started
    if obs.errors:
        raise SystemExit(f"the baseline observation failed: {obs.errors}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--managers", type=int, default=50)
    parser.add_argument("--clients", type=int, default=20_000)
    parser.add_argument("--observe-concurrency", type=int, default=8)
    parser.add_argument("--steady", type=float, default=180.0, help="seconds of steady state measured")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)

    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp:
        directory = Path(tmp)
        ca, cert, key = pki(directory)
        fleet = directory / "fleet.yaml"
        fleet.write_text(
            yaml.safe_dump(fleet_document(args.managers, args.clients, cert, key), sort_keys=False)
        )
        ports_file = directory / "ports.json"
        t0 = time.monotonic()
        proc = start_simulator(fleet, ports_file)
        print(
            f"simulator: {args.managers} managers × {args.clients:,} clients, up in {time.monotonic() - t0:.1f} s"
        )
        try:
            ports = json.loads(ports_file.read_text())
            specs = write_specs(directory, ports, ca, cert)
            os.environ[PASSWORD_ENV] = PASSWORD
            result = asyncio.run(run_daemon(args, specs, directory / "state.db", ca, proc.pid))
            sim_cpu = cpu_seconds(proc.pid)
            one = asyncio.run(baseline(specs))
            one_sim_cpu = cpu_seconds(proc.pid) - sim_cpu
        finally:
            stop_simulator(proc)
    target = 2 * one * args.managers / args.observe_concurrency
    per_hour = result["requests_per_tick"] + result["first_round_requests"] / 6
    rss_mb = result["peak_rss"] / 2**20
    print(
        f"phases after the first round: {result['phases']}"
        + (f"; errors: {result['errors']}" if result["errors"] else "")
    )
    print(
        f"first round: {result['first_round_s']:.1f} s for {args.managers} managers "
        f"(target ≤ 2 × {one:.2f} s × {args.managers} ÷ {args.observe_concurrency} = {target:.1f} s; "
        f"ratio {result['first_round_s'] / target:.2f})"
    )
    print(
        f"CPU during the first round: daemon {result['first_round_cpu_daemon_s']:.0f} s, simulator "
        f"{result['first_round_cpu_simulator_s']:.0f} s (one process: at most one core) in {result['first_round_s']:.0f} s "
        f"of wall time; the simulator spends {one_sim_cpu:.2f} s of CPU on one manager's full observe, so its floor "
        f"for {args.managers} is {one_sim_cpu * args.managers:.0f} s whatever the concurrency"
    )
    print(
        f"steady state over {result['steady_window_s']:.0f} s: {result['ticks_per_min']:.1f} ticks/min; per manager "
        f"{result['requests_per_tick']:.1f} API requests per tick ({result['incremental_pages_per_tick']:.1f} "
        f"incremental pages of computers), {result['full_scans_in_steady_state']} full rescans; a full scan is "
        f"{result['full_scan_pages']:.0f} pages ({result['first_round_requests']:.0f} requests in the first tick)"
    )
    print(
        f"requests per manager per hour at the default schedule (one in-sync tick an hour + a full scan every 6 h): "
        f"{per_hour:.0f}"
    )
    print(f"daemon peak RSS: {rss_mb:.0f} MB (target ≤ 1024 MB)")
    missed = []
    if result["first_round_s"] > target:
        missed.append("first round")
    if result["peak_rss"] > GIB:
        missed.append("RSS")
    if result["full_scans_in_steady_state"]:
        missed.append("no full rescan in steady state")
    if result["errors"] or set(result["phases"]) != {"in_sync"}:
        missed.append("every manager in sync without error")
    print("targets: " + ("all met" if not missed else "MISSED: " + ", ".join(missed)))
    return 1 if missed and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
