"""Trying the reconciler against the simulator takes two commands: ``simulate --write-specs DIR``, then any command
on ``DIR/specs`` — validate, probe, plan, and a daemon that rotates every manager. Real subprocesses, real HTTPS,
a shell environment with nothing exported (the specs carry what they need)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.daemon.kit import wait_until

pytestmark = pytest.mark.slow

CLI = [sys.executable, "-m", "reconciler"]
FAST = ["--active-interval", "1s", "--waiting-interval", "2s", "--jitter", "1s"]


def _clean_env() -> dict[str, str]:
    """What a new shell has: none of the reconciler's or the simulator's variables."""
    return {k: v for k, v in os.environ.items() if not k.startswith("SEPM_")}


@pytest.fixture
def simulated(tmp_path: Path) -> Iterator[Path]:
    directory = tmp_path / "try"
    log = tmp_path / "simulate.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*CLI, "simulate", "--write-specs", str(directory)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=_clean_env(),
            cwd=tmp_path,
        )
    try:

        def ready() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"simulate exited with {proc.returncode}: {log.read_text()}")
            return "simulator ready" in log.read_text()

        wait_until(ready, 120, "the simulator and its specs")
        yield directory
        text = log.read_text()
        assert f"sepm-reconciler run --specs {directory / 'specs'}" in text  # it says what to run next
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    assert (directory / "specs" / "sepm-east.yaml").exists()  # the specs stay
    assert not (directory / "ports.json").exists()  # the ports file goes with the simulator


def _run(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, env=_clean_env(), cwd=cwd, timeout=timeout, check=False
    )


@pytest.mark.timeout(400)
def test_the_written_specs_validate_probe_plan_and_rotate_with_a_daemon(
    simulated: Path, tmp_path: Path
) -> None:
    specs, state = simulated / "specs", simulated / "state.db"
    elsewhere = tmp_path / "elsewhere"  # any working directory: the specs' paths start from their files
    elsewhere.mkdir()
    valid = _run("validate", "--specs", str(specs), "--check-secrets", cwd=elsewhere)
    assert valid.returncode == 0, valid.stdout + valid.stderr
    assert "0 errors, 0 warnings; secrets resolved" in valid.stdout
    probe = _run("probe", "--specs", str(specs), "--server", "sepm-east", "-o", "json", cwd=elsewhere)
    assert probe.returncode in (0, 1), probe.stdout[-3000:] + probe.stderr
    failed = {c["id"] for c in json.loads(probe.stdout)["checks"] if c["status"] == "fail"}
    # The simulated clock runs 3,600x: serverTime is hours ahead of this machine's within seconds, and a Date header
    # read a moment after it disagrees by the load's delay times 3,600 — true findings, and only those.
    assert failed <= {"auth.server_time", "auth.date_header"}, failed
    plan = _run("plan", "--specs", str(specs), "--state", str(state), "-o", "json", cwd=elsewhere)
    assert plan.returncode == 2, plan.stdout[-3000:] + plan.stderr  # changes pending: every manager rotates
    assert {s["name"] for s in json.loads(plan.stdout)["servers"]} == {"sepm-east", "sepm-west", "sepm-dmz"}

    log = tmp_path / "daemon.log"
    with log.open("wb") as out:
        daemon = subprocess.Popen(
            [*CLI, "run", "--specs", str(specs), "--state", str(state), "--listen", "127.0.0.1:0", *FAST],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=_clean_env(),
            cwd=elsewhere,
        )
    try:

        def rotated() -> bool:
            if daemon.poll() is not None:
                raise AssertionError(f"the daemon exited with {daemon.returncode}: {log.read_text()[-3000:]}")
            status = _run("status", "--state", str(state), "-o", "json", cwd=elsewhere)
            if status.returncode != 0:
                return False
            document = json.loads(status.stdout)
            return len(document["servers"]) == 3 and all(s["in_sync"] for s in document["servers"])

        wait_until(rotated, 300, "every manager rotated", interval=2)
    finally:
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=30) == 0
    report = _run("report", "--specs", str(specs), "--state", str(state), "--offline", cwd=elsewhere)
    assert report.returncode == 0, report.stdout[-2000:]
