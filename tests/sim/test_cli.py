"""``sepm-reconciler simulate`` and ``sim-admin`` as real subprocesses, and the thread runner."""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from reconciler.sim import generate_certificate, run_in_thread
from tests.sim.conftest import served_fingerprint, two_managers

DATA = Path(__file__).parent / "data"
CLI = [sys.executable, "-m", "reconciler"]


def sim_admin(
    ports: Path,
    *args: str,
    manager: str = "sepm-east",
    stdin: str | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, "sim-admin", "--ports-file", str(ports), "--manager", manager, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        input=stdin,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture
def running(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(yaml.safe_dump(two_managers(count=30)), encoding="utf-8")
    ports = tmp_path / "ports.json"
    proc = subprocess.Popen(
        [*CLI, "simulate", "--fleet", str(fleet), "--ports-file", str(ports)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while not ports.exists():
        assert proc.poll() is None, proc.communicate()[1]
        assert time.monotonic() < deadline, "the simulator did not write its ports file"
        time.sleep(0.05)
    try:
        yield proc, ports
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)


def test_simulate_writes_the_ports_file_and_stops_cleanly_on_sigterm(
    running: tuple[subprocess.Popen[str], Path],
) -> None:
    proc, ports = running
    info: dict[str, Any] = json.loads(ports.read_text())
    assert set(info["managers"]) == {"sepm-east", "sepm-west"}
    east = info["managers"]["sepm-east"]
    assert set(east) >= {"host", "ports", "api_url", "admin_token"} and set(east["ports"]) == {
        "clients",
        "console",
        "api",
    }
    assert east["api_url"] == f"https://127.0.0.1:{east['ports']['api']}/sepm/api/v1"
    assert oct(ports.stat().st_mode & 0o777) == "0o600"
    assert httpx.get(f"{east['api_url']}/version", verify=False).status_code == 200  # noqa: S501 - self-signed on purpose
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "simulator stopped" in err
    assert not ports.exists()


def test_sim_admin_drives_a_rotation_with_a_jks_keystore(
    running: tuple[subprocess.Popen[str], Path], tmp_path: Path
) -> None:
    _, ports = running
    jks = tmp_path / "keystore.jks"
    jks.write_bytes(base64.b64decode((DATA / "keytool-rsa.jks.b64").read_text()))

    wrong = sim_admin(
        ports, "certificate", "--jks", str(jks), "--password-env", "KS_PASS", env={"KS_PASS": "nope"}
    )
    assert wrong.returncode == 1 and "password is incorrect" in wrong.stderr

    staged = sim_admin(ports, "certificate", "--jks", str(jks), "--password-stdin", stdin="store-pass\n")
    assert staged.returncode == 0, staged.stderr
    fingerprint = json.loads(staged.stdout)["staged"]
    assert (
        fingerprint == "sha256:84fd0a1cac352272433ffd7afdd9439a1d692516201485db598f3a310d7ef5f1"
    )  # keytool -list

    restarted = sim_admin(ports, "restart")
    assert restarted.returncode == 0, restarted.stderr
    assert json.loads(restarted.stdout)["served"] == dict.fromkeys(("clients", "console", "api"), fingerprint)
    api_port = json.loads(ports.read_text())["managers"]["sepm-east"]["ports"]["api"]
    assert served_fingerprint(api_port) == fingerprint

    assert sim_admin(ports, "partner-delete", "Site West").returncode == 0
    assert sim_admin(ports, "clock-advance", "2h").returncode == 0
    state = json.loads(sim_admin(ports, "state").stdout)
    assert state["managers"]["sepm-west"]["replication"]["partners"] == []
    assert state["clock"] == "2026-12-01T10:00:00.000Z"
    assert sim_admin(ports, "partner-add", "Site West").returncode == 0

    faults = sim_admin(ports, "faults", "--throttle-burst", "3", "--restart-fails", "old_cert")
    assert (
        json.loads(faults.stdout)["throttle_burst"] == 3
        and json.loads(faults.stdout)["restart_fails"] == "old_cert"
    )
    offline = sim_admin(ports, "clients", "--offline", "--count", "5")
    assert json.loads(offline.stdout) == {"changed": 5}
    # The careless rotation (verification on) orphaned every client of sepm-east at its next check-in; the five
    # machines taken offline cannot receive the Communication Update Package.
    assert json.loads(sim_admin(ports, "rehome").stdout) == {"rehomed": 25, "still_orphaned_offline": 5}

    backup = tmp_path / "backup.p12"
    saved = sim_admin(ports, "backup", "--out", str(backup), "--password-env", "B", env={"B": "backup-pass"})
    assert saved.returncode == 0 and json.loads(saved.stdout)["fingerprint"] == fingerprint
    assert "backup-pass" not in saved.stdout + saved.stderr


def test_sim_admin_usage_errors_exit_64(running: tuple[subprocess.Popen[str], Path], tmp_path: Path) -> None:
    _, ports = running
    jks = tmp_path / "k.jks"
    jks.write_bytes(b"x")
    no_password = sim_admin(ports, "certificate", "--jks", str(jks))
    assert no_password.returncode == 64 and "--password-env" in no_password.stderr
    unknown = sim_admin(ports, "state", manager="sepm-north")
    assert unknown.returncode == 64 and "sepm-north" in unknown.stderr


def test_the_thread_runner_serves_synchronous_code() -> None:
    with run_in_thread(two_managers(count=10)) as sim:
        east = sim.ports_info()["managers"]["sepm-east"]
        headers = {"Authorization": f"Bearer {sim.admin_token}"}
        with httpx.Client(verify=False, timeout=10) as client:  # noqa: S501 - self-signed on purpose
            assert client.get(f"{east['api_url']}/version").status_code == 200
            state = client.get(f"{east['admin_url']}/state", headers=headers).json()
        assert state == sim.state()
        sim.call(sim.restart_services("sepm-east", ("semwebsrv",)))
        sim.call(sim.wait_services_up("sepm-east"))
        assert sim.state()["managers"]["sepm-east"]["restarts"][-1]["result"] == "succeeded"


def test_fleet_wide_commands_need_no_manager_and_the_others_do(
    running: tuple[subprocess.Popen[str], Path],
) -> None:
    _, ports = running
    base = [*CLI, "sim-admin", "--ports-file", str(ports)]
    advanced = subprocess.run([*base, "clock-advance", "1h"], capture_output=True, text=True, timeout=60)
    assert advanced.returncode == 0, advanced.stderr
    assert json.loads(advanced.stdout) == {"clock": "2026-12-01T09:00:00.000Z"}
    rehome = subprocess.run([*base, "rehome"], capture_output=True, text=True, timeout=60)
    assert rehome.returncode == 64
    assert "--manager is required: the fleet has sepm-east, sepm-west" in rehome.stderr


@pytest.mark.parametrize(
    ("case", "fragment"),
    [
        (
            "der-certificate",
            "is not a PEM file (text with a -----BEGIN … block): give the certificate in PEM",
        ),
        ("backup-to-missing-directory", "cannot write the backup to"),
    ],
    ids=["der-certificate", "backup-to-missing-directory"],
)
def test_sim_admin_refuses_unusable_files_with_exit_1_and_one_line(
    running: tuple[subprocess.Popen[str], Path], tmp_path: Path, case: str, fragment: str
) -> None:
    _, ports = running
    if case == "der-certificate":
        cert_pem, key_pem = generate_certificate("der.example")
        der = tmp_path / "cert.der"
        der.write_bytes(x509.load_pem_x509_certificate(cert_pem).public_bytes(serialization.Encoding.DER))
        (tmp_path / "key.pem").write_bytes(key_pem)
        proc = sim_admin(ports, "certificate", "--cert", str(der), "--key", str(tmp_path / "key.pem"))
    else:
        out = tmp_path / "no-such-dir" / "backup.p12"
        proc = sim_admin(ports, "backup", "--out", str(out), "--password-env", "B", env={"B": "backup-pass"})
    assert proc.returncode == 1
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("error: ") and fragment in line
    assert "backup-pass" not in proc.stdout + proc.stderr


def test_sim_admin_explains_a_missing_ports_file_and_a_stopped_simulator(tmp_path: Path) -> None:
    missing = sim_admin(tmp_path / "ports.json", "state")
    assert missing.returncode == 64
    assert (
        f"cannot read the ports file {tmp_path / 'ports.json'}: No such file or directory" in missing.stderr
    )
    with run_in_thread(two_managers(count=5)) as sim:
        stale = tmp_path / "kept.json"
        stale.write_text(json.dumps(sim.ports_info()))  # what a killed simulator leaves behind
    stopped = sim_admin(stale, "state")
    assert stopped.returncode == 1
    (line,) = stopped.stderr.strip().splitlines()
    assert line.startswith("error: sepm-east: cannot reach the simulator at https://127.0.0.1:")
    assert line.endswith("(is `sepm-reconciler simulate` still running, and is its API port up?)")


def simulate_until_it_fails(fleet: Path, ports: Path) -> subprocess.CompletedProcess[str]:
    """``simulate`` that is expected to give up at once (a timeout here means it kept running)."""
    command = [*CLI, "simulate", "--fleet", str(fleet), "--ports-file", str(ports)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def test_simulate_refuses_a_busy_port_in_one_line_and_leaves_the_ports_file_alone(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        fleet = tmp_path / "fleet.yaml"
        fleet.write_text(
            f"managers:\n  - {{name: m, site: S, ports: {{api: {port}}}, clients: {{count: 3}}}}\n"
        )
        ports = tmp_path / "ports.json"
        ports.write_text('{"another": "simulator"}')
        proc = simulate_until_it_fails(fleet, ports)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"error: m: cannot listen on 127.0.0.1:{port} (its api port): Address already in use; give another port "
        "in the fleet file, or 0 for a free one"
    ]
    assert ports.read_text() == '{"another": "simulator"}'


def test_simulate_reports_an_unwritable_ports_file_and_stops(tmp_path: Path) -> None:
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text("managers:\n  - {name: m, site: S, clients: {count: 3}}\n")
    (tmp_path / "file").write_text("a file, not a directory")
    ports = tmp_path / "file" / "ports.json"
    proc = simulate_until_it_fails(fleet, ports)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"error: cannot write the ports file {ports}: Not a directory"
    ]


def test_sim_admin_copies_assigns_lists_and_switches_behaviours(
    running: tuple[subprocess.Popen[str], Path],
) -> None:
    _, ports = running
    base = "Default Management Server List"
    copied = sim_admin(ports, "list-set", "HTTP list", "--protocol", "http", "--copy-of", base)
    assert copied.returncode == 0, copied.stderr
    assert json.loads(copied.stdout)["list"] == {"name": "HTTP list", "protocol": "http"}
    assigned = sim_admin(ports, "list-assign", "HTTP list", "--all")
    assert json.loads(assigned.stdout) == {
        "assigned": ["My Company", "My Company\\Laptops"],
        "list": "HTTP list",
    }
    one = sim_admin(ports, "list-assign", base, "--group", "My Company\\Laptops")
    assert json.loads(one.stdout)["assigned"] == ["My Company\\Laptops"]
    state = json.loads(sim_admin(ports, "state").stdout)["managers"]["sepm-east"]
    assert {g["name"]: g["list"] for g in state["groups"]}["My Company"] == "HTTP list"

    shown = json.loads(sim_admin(ports, "behaviours").stdout)
    assert shown["settingsPatch"] == "replace" and shown["throttle"]["threshold"] == 50
    changed = sim_admin(
        ports, "behaviours", "--set", "settingsPatch=merge", "--set", 'throttle={"threshold": 99}'
    )
    assert changed.returncode == 0, changed.stderr
    assert json.loads(changed.stdout)["throttle"] == {
        "threshold": 99,
        "windowMinutes": 1.0,
        "retryAfter": False,
    }
    assert json.loads(sim_admin(ports, "behaviours", "lenient").stdout)["settingsPatch"] == "merge"

    refused = sim_admin(ports, "behaviours", "--set", "colour=red")
    assert refused.returncode == 1 and "colour: unknown behaviour" in refused.stderr
    missing = sim_admin(ports, "list-assign", "No such list", "--all")
    assert missing.returncode == 1 and "no management server list named 'No such list'" in missing.stderr
    usage = sim_admin(ports, "list-assign", "HTTP list")
    assert usage.returncode == 64 and "--group PATH (repeatable) or --all" in usage.stderr
