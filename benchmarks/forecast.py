"""Benchmark: ``sepm-reconciler forecast`` of a 20,000-client, 3-server fleet, 5 runs, against a 2-minute target.

    .venv/bin/python benchmarks/forecast.py [--clients 20000] [--runs 5] [--jobs 0] [--sample N] [--strict]

The "real" fleet is the demo's (two replicating sites and a standalone one, laptops away for days, a few 14.2
agents, strict in every behaviour but the REST throttle, whose window never ends on a frozen clock), scaled to
``--clients`` in all and run by ``sepm-reconciler simulate`` in its own process, its clock frozen (what the forecast
reads is the same whenever it reads); the HTTP copy of each site's list is made first, as an operator does.

The forecast runs as a real subprocess, exactly as a user runs it, with the demo's specs; its wall time — reading all
three managers (every client), making the twin, ``--runs`` rehearsals on it (in ``--jobs`` processes; 0: the
machine's cores), the summary — is compared with the target (120 s): the ratio is printed, with the CPU time the
forecast and its workers used (on a shared machine the wall time also counts the others' load). Exit 0, or 1 with
``--strict`` when the target is missed or the forecast failed.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from a checkout

import yaml

from reconciler.cli._demo_lab import DEMO_MANAGERS, ManagerPlan, build_lab, copy_http_lists, write_specs

TARGET_S = 120.0


def _plans(total: int) -> tuple[ManagerPlan, ...]:
    """The demo's managers, their clients scaled to ``total`` in the demo's proportions (1500:1500:800)."""
    weights = [p.clients for p in DEMO_MANAGERS]
    counts = [total * w // sum(weights) for w in weights]
    counts[0] += total - sum(counts)
    return tuple(
        ManagerPlan(p.name, p.site, n, p.partners, p.offline_share, p.offline_for, p.legacy_share, p.groups)
        for p, n in zip(DEMO_MANAGERS, counts, strict=True)
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--clients", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=0)
    parser.add_argument("--sample", type=int, default=None, help="the forecast's --sample (default: its own)")
    parser.add_argument("--strict", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-forecast-") as tmp:
        root = Path(tmp)
        lab = build_lab(root, _plans(args.clients), speed=0)
        fleet = yaml.safe_load(lab.fleet_file.read_text(encoding="utf-8"))
        fleet["behaviours"] = {"throttle": False}  # strict in all else; a frozen clock never ends its window
        lab.fleet_file.write_text(yaml.safe_dump(fleet, sort_keys=False), encoding="utf-8")
        log = (root / "simulator.log").open("wb")
        sim = subprocess.Popen(
            [sys.executable, "-m", "reconciler", "simulate", "--fleet", str(lab.fleet_file), "--ports-file",
             str(lab.ports_file)],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 120
            while not lab.ports_file.exists():
                if sim.poll() is not None or time.monotonic() > deadline:
                    print("the simulator did not start", file=sys.stderr)
                    return 1
                time.sleep(0.1)
            ports = json.loads(lab.ports_file.read_text(encoding="utf-8"))
            copy_http_lists(lab, ports)
            specs = write_specs(lab, ports)
            command = [sys.executable, "-m", "reconciler", "forecast", "--specs", str(specs), "--runs",
                       str(args.runs), "--jobs", str(args.jobs), "--output", "json"]  # fmt: skip
            if args.sample is not None:
                command += ["--sample", str(args.sample)]
            started = time.monotonic()
            cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
            done = subprocess.run(
                command, env={**os.environ, **lab.environment()}, capture_output=True, text=True, check=False
            )
            wall = time.monotonic() - started
            cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (cpu_after.ru_utime + cpu_after.ru_stime) - (cpu_before.ru_utime + cpu_before.ru_stime)
        finally:
            sim.terminate()
            sim.wait(30)
            log.close()
    if done.returncode != 0:
        print(f"the forecast failed (exit {done.returncode}): {done.stderr[-2000:]}", file=sys.stderr)
        return 1
    document = json.loads(done.stdout)
    clients = sum(s["read"]["clients"] for s in document["servers"])
    twin = sum(s["twin"]["clients"] for s in document["servers"])
    finished = sum(s["finished"] for s in document["servers"])
    ratio = wall / TARGET_S
    print(
        f"forecast of {clients:,} clients on {len(document['servers'])} servers (twin {twin:,} clients), "
        f"{args.runs} runs ({finished} server-runs finished): {wall:.1f} s wall — {ratio:.2f} × the "
        f"{TARGET_S:.0f} s target ({'met' if ratio <= 1 else 'MISSED'}); {cpu:.1f} s of CPU (the forecast and its "
        f"workers); load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    return 1 if args.strict and ratio > 1 else 0


if __name__ == "__main__":
    raise SystemExit(main())
