"""Benchmark: observe() on a 100,000-client simulated manager, against a bare httpx loop over the same pages.

    .venv/bin/python benchmarks/observe.py [--clients 100000] [--page-size 1000] [--repeat 2] [--strict]

The simulator runs in its own process (``sepm-reconciler simulate``), so the peak RSS printed is the observer's
alone. Its behaviours are the strict ones (deleted records listed, ``replicationStatus`` an array…) with churn on
(``--churn`` machines added, removed and re-imaged a simulated day, each: the clock moves between the runs); its
throttle is off (the clock is frozen, so a window would never end: ``throttled_scan.py`` measures the throttle).
Measured in this process, each over real HTTPS to the simulator:

* **bare loop** — authenticate, then ``GET computers`` page after page at the same page size, ``json.loads`` each
  page and drop it: the least any full scan can cost;
* **full observe()** — a cold :class:`ClientLedger`: TLS handshakes on the three ports, version, groups and their
  settings, replication, every computer into the ledger (a checked scan: totals kept, the records changed during it
  listed), and the acknowledgement count;
* **incremental tick** — the same ledger after the simulated clock moved 1% of a heartbeat (about 1% of the clients
  checked in): ``GET computers?lastUpdate=…`` fetches only those.

Targets: full observe() <= 1.25 x the bare loop; incremental tick <= 10% of a full observe(); peak RSS <= 150 MB.
Best of ``--repeat`` runs, interleaved. Exit 0, or 1 with ``--strict`` when a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._kit import pki, start_simulator, stop_simulator
from reconciler.core.spec import ManagedServer
from reconciler.sepm import ClientLedger, SepmClient, SepmCredentials, observe, tls_context

HEARTBEAT_S = 300
NAME = "sepm-bench"


def _fleet(directory: Path, clients: int, churn: float, cert: Path, key: Path) -> Path:
    fleet = {
        "clock": {"start": "2026-12-01T08:00:00Z", "speed": 0},  # time moves only when the benchmark says
        "seed": 11,
        # Strict (deleted records listed, replicationStatus an array, …), with churn on; the throttle off: on this
        # frozen clock a window would never end (benchmarks/throttled_scan.py measures the throttle).
        "behaviours": {"throttle": False},
        "managers": [
            {
                "name": NAME,
                "site": "Site Bench",
                "host": "127.0.0.1",
                "ports": {"clients": 0, "console": 0, "api": 0},
                "admin": {"username": "admin", "password": "bench-pass", "domain": ""},
                "certificate": {"certFile": str(cert), "keyFile": str(key)},
                "groups": [
                    {"name": "My Company", "inherits": False},
                    {"name": "My Company\\Servers", "inherits": True},
                    {"name": "My Company\\Laptops", "inherits": False},
                    {"name": "My Company\\Kiosks", "inherits": False},
                ],
                "clients": {
                    "count": clients,
                    "heartbeat": f"{HEARTBEAT_S}s",
                    "offline": {"share": 0.1, "forMin": "1d", "forMax": "10d"},
                    "agentVersions": {"14.3.9816.7000": 0.97, "14.2.5587.2100": 0.03},
                    "churn": {"addPerDay": churn, "removePerDay": churn, "reimagePerDay": churn},
                },
            }
        ],
    }
    path = directory / "fleet.yaml"
    path.write_text(yaml.safe_dump(fleet, sort_keys=False))
    return path


def _spec(info: dict[str, Any], ca: Path) -> ManagedServer:
    return ManagedServer.model_validate(
        {
            "apiVersion": "sepm-reconciler/v1",
            "kind": "ManagedServer",
            "metadata": {"name": NAME},
            "spec": {
                "server": {
                    "apiUrl": info["api_url"],
                    "site": info["site"],
                    "ports": info["ports"],
                    "caBundle": str(ca),
                    "credentials": {"username": "admin", "password": {"env": "UNUSED"}},
                    "timeout": "60s",
                },
                "certificate": {"fingerprint": "sha256:" + "0" * 64},
            },
        }
    )


async def bare_loop(api_url: str, ca: Path, page_size: int) -> tuple[float, int]:
    """The least a full scan costs: authenticate, then page computers and parse each page."""
    started = time.perf_counter()
    seen = 0
    async with httpx.AsyncClient(verify=tls_context(str(ca)), timeout=60) as http:
        auth = await http.post(
            f"{api_url}/identity/authenticate",
            json={"username": "admin", "password": "bench-pass", "domain": ""},
        )
        headers = {"Authorization": f"Bearer {auth.json()['token']}"}
        index = 1
        while True:
            response = await http.get(
                f"{api_url}/computers", params={"pageIndex": index, "pageSize": page_size}, headers=headers
            )
            page = json.loads(response.content)
            seen += sum(1 for item in page["content"] if not item.get("deleted"))  # the live clients
            if page["lastPage"] or not page["content"]:
                break
            index += 1
    return time.perf_counter() - started, seen


async def advance(info: dict[str, Any], ca: Path, seconds: float) -> None:
    async with httpx.AsyncClient(verify=tls_context(str(ca)), timeout=60) as http:
        response = await http.post(
            f"{info['admin_url']}/clock/advance",
            json={"seconds": seconds},
            headers={"Authorization": f"Bearer {info['admin_token']}"},
        )
        response.raise_for_status()


async def run(args: argparse.Namespace, info: dict[str, Any], ca: Path) -> dict[str, Any]:
    spec = _spec(info, ca)
    bare: list[float] = []
    full: list[float] = []
    ticks: list[tuple[float, int, int]] = []
    counted = 0
    async with SepmClient(
        info["api_url"], SepmCredentials("admin", "bench-pass"), verify=tls_context(str(ca)), timeout=60
    ) as client:
        for _ in range(args.repeat):
            seconds, counted = await bare_loop(info["api_url"], ca, args.page_size)
            bare.append(seconds)
            ledger = ClientLedger(page_size=args.page_size)
            started = time.perf_counter()
            obs = await observe(spec, client, ledger=ledger)
            full.append(time.perf_counter() - started)
            if obs.errors or obs.clients is None or obs.clients.total != counted:
                raise SystemExit(f"the full observation is incomplete: {obs.errors}")
            # about 1% of the clients check in: 1% of a heartbeat passes on the manager's clock
            await advance(info, ca, HEARTBEAT_S * args.changed)
            started = time.perf_counter()
            tick = await observe(spec, client, ledger=ledger)
            elapsed = time.perf_counter() - started
            stats = ledger.last_scan
            if tick.errors or stats is None or stats.full:
                raise SystemExit(f"the incremental tick did not run incrementally: {stats} {tick.errors}")
            ticks.append((elapsed, stats.fetched, len(ledger)))
    best_tick = min(ticks)
    return {
        "clients": counted,
        "bare": min(bare),
        "full": min(full),
        "tick": best_tick[0],
        "tick_fetched": best_tick[1],
        "ledger": best_tick[2],
        "ledger_mb": ledger.approx_bytes() / 2**20,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=100_000)
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--changed", type=float, default=0.01, help="share of a heartbeat the clock moves")
    parser.add_argument(
        "--churn",
        type=float,
        default=100_000.0,
        help="machines added, removed, re-imaged a simulated day, each",
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-observe-") as tmp:
        directory = Path(tmp)
        ca, cert, key = pki(directory)
        ports_file = directory / "ports.json"
        started = time.perf_counter()
        proc = start_simulator(_fleet(directory, args.clients, args.churn, cert, key), ports_file)
        print(
            f"simulator: {args.clients:,} clients, pid {proc.pid}, up in {time.perf_counter() - started:.1f} s"
        )
        try:
            info = json.loads(ports_file.read_text())["managers"][NAME]
            result = asyncio.run(run(args, info, ca))
        finally:
            stop_simulator(proc)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux
    ratio = result["full"] / result["bare"]
    tick_share = result["tick"] / result["full"]
    checks = [
        ("full observe() / bare loop", f"{ratio:.2f}x", ratio <= 1.25, "<= 1.25x"),
        ("incremental tick / full observe()", f"{tick_share:.1%}", tick_share <= 0.10, "<= 10%"),
        ("peak RSS of the observing process", f"{peak_mb:.0f} MB", peak_mb <= 150, "<= 150 MB"),
    ]
    pages = -(-result["clients"] // args.page_size)
    print(f"computers: {result['clients']:,} in {pages} pages of {args.page_size} (best of {args.repeat})")
    print(f"bare httpx loop:        {result['bare']:7.2f} s")
    print(f"full observe():         {result['full']:7.2f} s")
    print(
        f"incremental tick:       {result['tick']:7.2f} s  "
        f"({result['tick_fetched']:,} computers fetched, {result['tick_fetched'] / result['ledger']:.1%} of the fleet)"
    )
    print(f"ledger:                 {result['ledger']:,} clients, about {result['ledger_mb']:.0f} MB")
    missed = 0
    for label, value, ok, target in checks:
        print(f"{'ok  ' if ok else 'MISS'} {label}: {value} (target {target})")
        missed += not ok
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {load} (other work skews the times)"
    )
    return 1 if missed and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
