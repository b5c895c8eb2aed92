"""Benchmark: a full client scan of a 20,000-client manager that throttles its REST API and never says Retry-After.

    .venv/bin/python benchmarks/throttled_scan.py [--clients 20000] [--threshold 100] [--max-page-size 100]
                                                 [--speed 12]

The simulator (a subprocess, strict behaviours) throttles at ``--threshold`` calls per one-minute window, with no
``Retry-After`` (the strict default), and accepts pages of at most ``--max-page-size`` (100 by default, as some
managers: so the scan needs several windows). Its clock runs ``--speed`` times faster than real time, and the
reconciler's client is told the window is ``60 / speed`` real seconds (``spec.server.api.throttleWindow``), so a
window lasts 5 real seconds by default; ``--speed 1`` is the real thing (a few minutes).

A :class:`ClientLedger` refreshes once from cold: it pages the whole fleet (falling back from 1,000 to the size the
manager accepts), waiting out each window it runs into. The window arithmetic: with ``C`` calls admitted and ``T``
allowed per window, at least ``ceil(C / T)`` windows are needed, so the scan cannot take less than
``(ceil(C / T) − 1) × window``; the figure printed is the scan's time against that floor (target: ≤ 1.5×) and the
429s it met. Exit 1 when the scan fails or misses the target.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._kit import pki, start_simulator, stop_simulator
from reconciler.sepm import ClientLedger, RetryPolicy, SepmClient, SepmCredentials, tls_context

NAME = "sepm-bench"
TARGET = 1.5


def _fleet(directory: Path, args: argparse.Namespace, cert: Path, key: Path) -> Path:
    fleet = {
        "clock": {"start": "2026-12-01T08:00:00Z", "speed": args.speed},
        "seed": 13,
        "behaviours": {"throttle": {"threshold": args.threshold, "windowMinutes": 1, "retryAfter": False}},
        "managers": [
            {
                "name": NAME,
                "site": "Site Bench",
                "host": "127.0.0.1",
                "ports": {"clients": 0, "console": 0, "api": 0},
                "admin": {"username": "admin", "password": "bench-pass", "domain": ""},
                "certificate": {"certFile": str(cert), "keyFile": str(key)},
                "maxPageSize": args.max_page_size,
                "groups": [
                    {"name": "My Company", "inherits": False},
                    {"name": "My Company\\Laptops", "inherits": False},
                ],
                "clients": {"count": args.clients, "heartbeat": "5m"},
            }
        ],
    }
    path = directory / "fleet.yaml"
    path.write_text(yaml.safe_dump(fleet, sort_keys=False))
    return path


async def scan(args: argparse.Namespace, info: dict[str, Any], ca: Path) -> dict[str, Any]:
    window = 60.0 / args.speed
    retry = RetryPolicy(throttle_window=window, throttle_budget=max(20 * window, 60.0))
    async with SepmClient(
        info["api_url"],
        SepmCredentials("admin", "bench-pass"),
        verify=tls_context(str(ca)),
        timeout=60,
        retry=retry,
    ) as client:
        manager_time = await client.manager_time()
        assert manager_time is not None
        ledger = ClientLedger()
        started = time.perf_counter()
        stats = await ledger.refresh(
            client, manager_time=manager_time, change_time=None, now=datetime.now(UTC)
        )
        elapsed = time.perf_counter() - started
        calls = sum(client.calls.values())
        return {
            "seconds": elapsed,
            "window": window,
            "calls": calls,
            "refused": client.throttle.refusals,
            "waited": client.throttle.waited,
            "clients": len(ledger),
            "pages": stats.pages,
            "page_size": client.page_size,
            "attempts": stats.attempts,
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=20_000)
    parser.add_argument("--threshold", type=int, default=100, help="calls a window (the shipped SEPM: 50)")
    parser.add_argument("--max-page-size", type=int, default=100)
    parser.add_argument("--speed", type=float, default=12.0, help="simulated seconds per real second")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-throttled-") as tmp:
        directory = Path(tmp)
        ca, cert, key = pki(directory)
        ports_file = directory / "ports.json"
        proc = start_simulator(_fleet(directory, args, cert, key), ports_file)
        try:
            info = json.loads(ports_file.read_text())["managers"][NAME]
            result = asyncio.run(scan(args, info, ca))
        finally:
            stop_simulator(proc)
    admitted = result["calls"] - result["refused"]
    windows = math.ceil(admitted / args.threshold)
    floor = (windows - 1) * result["window"]
    ratio = result["seconds"] / floor if floor else float("nan")
    print(
        f"fleet: {args.clients:,} clients; throttle {args.threshold} calls a minute, no Retry-After; pages of at most "
        f"{args.max_page_size}; clock x{args.speed:g} (a window lasts {result['window']:.1f} s)"
    )
    print(
        f"scan: {result['clients']:,} clients in {result['pages']} pages of {result['page_size']} "
        f"({result['attempts']} pass(es)) in {result['seconds']:.1f} s"
    )
    print(
        f"calls: {result['calls']} ({admitted} admitted, {result['refused']} answered 429), "
        f"{result['waited']:.1f} s waited for the throttle"
    )
    print(
        f"window arithmetic: {admitted} calls need at least {windows} windows, so at least {floor:.1f} s; "
        f"the scan took {ratio:.2f}x that (target <= {TARGET}x)"
    )
    ok = result["clients"] >= args.clients * 0.9 and ratio <= TARGET
    print("ok" if ok else "MISS")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
