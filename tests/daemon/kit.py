"""The daemon's end-to-end rig: a real simulator (its clock running fast) in a thread of the test process, real
spec files, a real SQLite state, and ``sepm-reconciler run`` as a real subprocess, with the simulator hooks of
``deploy/hooks/sim/`` wrapped by ``hooks/counted.py`` so every hook run leaves a marker line.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx

from reconciler.cli._demo_lab import Lab, ManagerPlan, build_lab, copy_http_lists, write_specs
from reconciler.sim import Simulator, run_in_thread

COUNTED = Path(__file__).resolve().parent / "hooks" / "counted.py"

# Two replicating managers and a standalone one, small: a rollout takes ~15 s of wall time at 3,600x with a 1 h soak.
PLANS = (
    ManagerPlan("sepm-east", "Site East", 120, partners=("Site West",), offline_share=0.05),
    ManagerPlan("sepm-west", "Site West", 120, partners=("Site East",), offline_share=0.05),
    ManagerPlan("sepm-dmz", "Site DMZ", 80, offline_share=0.05, groups=(("My Company\\DMZ Servers", False),)),
)
POLICY = {
    "minSoak": "1h",
    "maxSoak": "2d",
    "excludeOfflineFor": "2h",
    "minAckRatio": 1.0,
    "afterSwap": {"minSoak": "1h"},  # excludeOfflineFor must stay longer than every minSoak
}
FAST = [
    "--active-interval",
    "1s",
    "--waiting-interval",
    "1s",
    "--idle-interval",
    "5s",
    "--jitter",
    "1s",
    "--lease-ttl",
    "3s",
    "--watch-interval",
    "1s",
    "--health-grace",
    "20s",
    "--shutdown-grace",
    "4s",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.2) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError, OSError, ValueError):
            last = predicate()
            if last:
                return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what} (last: {last!r})")


@dataclass
class DaemonProcess:
    """A ``sepm-reconciler run`` subprocess and its HTTP endpoints."""

    proc: subprocess.Popen[bytes]
    url: str
    log_file: Path

    def get(self, path: str, timeout: float = 5.0) -> httpx.Response:
        return httpx.get(self.url + path, timeout=timeout)

    def status(self) -> dict[str, Any]:
        data: dict[str, Any] = self.get("/api/status").json()
        return data

    def phases(self) -> dict[str, str]:
        return {s["name"]: s["phase"] for s in self.status()["servers"]}

    def logs(self) -> list[dict[str, Any]]:
        lines = []
        for line in self.log_file.read_text(encoding="utf-8", errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                lines.append(json.loads(line))
        return lines

    def log_text(self) -> str:
        return self.log_file.read_text(encoding="utf-8", errors="replace")

    def wait_ready(self, timeout: float = 20.0) -> None:
        wait_until(
            lambda: self.get("/readyz").status_code == 200, timeout, f"{self.url}/readyz to answer 200"
        )

    def wait_listening(self, timeout: float = 20.0) -> None:
        def up() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"the daemon exited with {self.proc.returncode}:\n{self.log_text()[-3000:]}"
                )
            return self.get("/healthz").status_code in (200, 503)

        wait_until(up, timeout, "the daemon's endpoints")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> tuple[int, float]:
        """Send ``sig`` and wait: ``(exit code, seconds it took)``."""
        started = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        code = self.proc.wait(timeout=timeout)
        return code, time.monotonic() - started


@dataclass
class Rig:
    """One test's world. ``env`` is the daemons' environment (secrets by reference, the ports file, markers)."""

    lab: Lab
    sim: Simulator
    specs: Path
    state_url: str
    env: dict[str, str]
    markers: Path
    directory: Path
    daemons: list[DaemonProcess] = field(default_factory=list)

    def start_daemon(
        self, *extra: str, name: str = "daemon", env: dict[str, str] | None = None
    ) -> DaemonProcess:
        """Start ``sepm-reconciler run`` listening on a port the system picks (``--listen 127.0.0.1:0``: no race
        for a port between picking it and binding it); its URL is read from its "daemon started" log line."""
        log_file = self.directory / f"{name}-{len(self.daemons)}.log"
        argv = [
            sys.executable,
            "-m",
            "reconciler",
            "run",
            "--specs",
            str(self.specs),
            "--state",
            self.state_url,
            "--listen",
            "127.0.0.1:0",
            "--log-format",
            "json",
            *FAST,
            *extra,
        ]
        with log_file.open("wb") as log:
            proc = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, env={**self.env, **(env or {})}
            )

        def listening() -> str | None:
            if proc.poll() is not None:
                text = log_file.read_text(encoding="utf-8", errors="replace")
                raise AssertionError(f"the daemon exited with {proc.returncode}:\n{text[-3000:]}")
            for line in log_file.read_text(encoding="utf-8", errors="replace").splitlines():
                if '"daemon started"' in line:
                    return str(json.loads(line)["listen"])
            return None

        try:
            url = wait_until(listening, 60, "the daemon to listen")
        except BaseException:
            proc.kill()
            proc.wait(timeout=10)
            raise
        daemon = DaemonProcess(proc, url, log_file)
        self.daemons.append(daemon)
        daemon.wait_listening()
        return daemon

    def hook_runs(self) -> list[dict[str, Any]]:
        if not self.markers.exists():
            return []
        return [
            json.loads(line) for line in self.markers.read_text(encoding="utf-8").splitlines() if line.strip()
        ]

    def ground_truth(self, clients: bool = False) -> dict[str, Any]:
        state: dict[str, Any] = self.sim.state(clients=clients)
        return state

    def admin(self, manager: str, method: str, path: str, body: Any = None) -> httpx.Response:
        info = self.sim.ports_info()["managers"][manager]
        base = str(info["api_url"]).split("/sepm/api/v1")[0]
        return httpx.request(
            method,
            f"{base}/_sim{path}",
            json=body,
            headers={"Authorization": f"Bearer {info['admin_token']}"},
            verify=ssl.create_default_context(cafile=str(self.lab.ca_file)),
            timeout=10,
        )


@contextlib.contextmanager
def rig(
    directory: Path,
    base: Lab,
    *,
    only: Sequence[str] | None = None,
    policy: dict[str, Any] | None = None,
    hook_env: dict[str, str] | None = None,
) -> Iterator[Rig]:
    """Start the simulator of ``base``'s fleet and write the specs (of ``only``, default all) under ``directory``."""
    lab = replace(base, ports_file=directory / "ports.json")
    markers = directory / "hook-runs.jsonl"
    with run_in_thread(lab.fleet_file, ports_file=lab.ports_file) as sim:
        ports = sim.ports_info()
        copy_http_lists(lab, ports)  # as an operator does before a rollout (KB 187099)
        specs = write_specs(
            lab,
            ports,
            directory=directory / "specs",
            policy={**POLICY, **(policy or {})},
            hook_prefix=(sys.executable, str(COUNTED)),
            only=only,
        )
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("SEPM_")},
            **lab.environment(),
            "SEPM_TEST_MARKERS": str(markers),
            **(hook_env or {}),
        }
        world = Rig(lab, sim, specs, f"sqlite:///{directory / 'state.db'}", env, markers, directory)
        try:
            yield world
        finally:
            for daemon in world.daemons:
                if daemon.proc.poll() is None:
                    daemon.proc.kill()
                    daemon.proc.wait(timeout=10)


def make_lab(directory: Path, plans: Sequence[ManagerPlan] = PLANS, speed: float = 3600) -> Lab:
    return build_lab(directory, plans, speed=speed, seed=5, heartbeat="5m", replication_interval="30m")
