"""A simulated fleet for the report tests (real HTTPS, real certificates, frozen clock), and a way to run the real
``sepm-reconciler report`` against it in a subprocess."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.sim import Simulator, run_in_thread
from tests.report.pki import Leaf, Pki
from tests.support import sim as support_sim

PASSWORD_ENV = "SEPM_REPORT_TEST_PASSWORD"
GROUPS = (("My Company", False), ("My Company\\Laptops", False), ("My Company\\Servers", True))


@dataclass(frozen=True)
class Certs:
    pki: Pki
    east: Leaf  # what sepm-east and sepm-half serve at the start
    next: Leaf  # the certificate the specs roll out
    soon: Leaf  # expires in 10 days: what sepm-soon serves


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    pki = Pki(tmp_path_factory.mktemp("report-pki"))
    return Certs(
        pki,
        pki.leaf("sepm-east.corp.example"),
        pki.leaf("sepm-2027.corp.example"),
        pki.leaf("sepm-soon.corp.example", days=10),
    )


def _manager(name: str, site: str, cert: Leaf, clients: int = 300) -> dict[str, Any]:
    return support_sim.manager(
        name,
        site,
        cert=cert,
        groups=GROUPS,
        clients=clients,
        offline_share=0.1,
        offline_for=("1d", "10d"),
        agent_versions={"14.3.9816.7000": 0.95, "14.2.5587.2100": 0.05},
    )


@pytest.fixture(scope="module")
def sim(certs: Certs) -> Iterator[Simulator]:
    """sepm-east (serves ``east``), sepm-half (``next`` staged, only semwebsrv restarted: the clients port presents
    ``next``, console and api still ``east``), sepm-soon (serves a certificate expiring in 10 days) and sepm-down
    (its services restarted with the ``restart_fails: down`` fault: every port refuses)."""
    # strict, but for the throttle: the clock is frozen (time moves only when a test moves it)
    fleet = support_sim.fleet(
        _manager("sepm-east", "Site East", certs.east),
        _manager("sepm-half", "Site Half", certs.east),
        _manager("sepm-soon", "Site Soon", certs.soon, clients=50),
        _manager("sepm-down", "Site Down", certs.east, clients=20),
        seed=11,
        behaviours=support_sim.FROZEN_CLOCK,
    )
    with run_in_thread(fleet) as running:
        half = support_sim.Admin(running, "sepm-half", certs.pki.ca_file)
        half.post_now(
            "certificate",
            {"cert_pem": certs.next.cert_file.read_text(), "key_pem": certs.next.key_file.read_text()},
        )
        half.post_now("services/restart", {"services": ["semwebsrv"]})
        running.call(running.wait_services_up("sepm-half"))
        down = support_sim.Admin(running, "sepm-down", certs.pki.ca_file)
        down.post_now("faults", {"restart_fails": "down"})
        down.post_now("services/restart", {})
        yield running


def free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def write_spec(
    directory: Path,
    sim: Simulator,
    name: str,
    certs: Certs,
    *,
    desired: Leaf,
    ports: dict[str, int] | None = None,
    **spec: Any,
) -> Path:
    """One ManagedServer document for simulated manager ``name`` (``ports`` overrides where it is looked for)."""
    document = {
        "apiVersion": "sepm-reconciler/v1",
        "kind": "ManagedServer",
        "metadata": {"name": name},
        "spec": {
            "server": support_sim.server_spec(
                sim, name, ca_file=certs.pki.ca_file, password_env=PASSWORD_ENV, ports=ports, timeout="3s"
            ),
            "certificate": {"file": str(desired.cert_file)},
            **spec,
        },
    }
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def run_report(*args: str, cwd: Path, env: dict[str, str] | None = None) -> Run:
    """``sepm-reconciler report ARGS`` in a subprocess (in ``cwd``: no state there unless a test puts one)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SEPM_RECONCILER_")}
    environment[PASSWORD_ENV] = "admin-pass"
    environment.update(env or {})
    proc = subprocess.run(
        [sys.executable, "-m", "reconciler", "report", *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)
