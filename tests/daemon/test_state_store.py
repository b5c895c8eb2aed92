"""The daemon and its state store: a state file deleted, replaced or truncated under a running daemon is noticed
(``/readyz`` and ``/healthz`` fail with the reason, it is logged, nothing more is done); a damaged file is an error
at start; ``status`` reads a read-only copy; ``state backup``/``restore`` round-trip under a running daemon."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from reconciler.cli._demo_lab import Lab
from tests.daemon.kit import Rig, rig, wait_until

pytestmark = pytest.mark.slow


def _state_path(world: Rig) -> Path:
    return Path(world.state_url.removeprefix("sqlite:///"))


def _cli(world: Rig, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "reconciler", *args]
    return subprocess.run(argv, capture_output=True, text=True, check=check, env=world.env, timeout=60)


def _unready(world: Rig) -> dict[str, Any]:
    daemon = world.daemons[-1]
    response = daemon.get("/readyz")
    return response.json() if response.status_code == 503 else {}


def _truncate(path: Path) -> None:
    with path.open("r+b") as handle:
        handle.truncate(0)


def _replace(path: Path) -> None:
    copy = path.with_name("copy.db")
    shutil.copyfile(path, copy)
    copy.replace(path)


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        pytest.param(Path.unlink, "was deleted while this process had it open", id="unlinked"),
        pytest.param(_replace, "was replaced by another file while this process had it open", id="replaced"),
        pytest.param(_truncate, "was truncated to 0 bytes", id="truncated"),
    ],
)
def test_a_state_file_damaged_under_the_running_daemon_turns_readiness_and_health_false(
    tmp_path: Path, base_lab: Lab, damage: Any, reason: str
) -> None:
    with rig(tmp_path, base_lab, only=["sepm-dmz"]) as world:
        daemon = world.start_daemon()
        daemon.wait_ready()
        wait_until(lambda: daemon.phases().get("sepm-dmz") not in (None, "new"), 30, "a first tick")
        damage(_state_path(world))
        seen = wait_until(lambda: reason in _unready(world).get("reason", "") and _unready(world), 20, reason)
        assert seen["reason"].startswith("the state store is unusable: the state file ")
        health = daemon.get("/healthz")
        assert health.status_code == 503
        assert any(reason in p for p in health.json()["problems"]), health.json()
        assert any(
            line.get("level") == "error" and reason in line.get("message", "") for line in daemon.logs()
        ), daemon.log_text()[-2000:]
        assert daemon.stop()[0] == 0


def test_garbage_over_a_killed_daemons_state_is_a_clear_error_at_the_next_start(
    tmp_path: Path, base_lab: Lab
) -> None:
    """SIGKILL leaves the records in the -wal; 8 KiB of garbage over state.db then: SQLite alone reads page 1 from
    the WAL and the next daemon would start healthy on a damaged file."""
    with rig(tmp_path, base_lab, only=["sepm-dmz"]) as world:
        first = world.start_daemon(name="first")
        wait_until(lambda: first.phases().get("sepm-dmz") not in (None, "new"), 30, "a first tick")
        first.stop(signal.SIGKILL)
        state = _state_path(world)
        assert Path(f"{state}-wal").stat().st_size > 0
        with state.open("r+b") as handle:
            handle.write(bytes(range(256)) * 32)  # 8 KiB of garbage over the main file
        argv = [sys.executable, "-m", "reconciler", "run", "--specs", str(world.specs), "--state"]
        proc = subprocess.run(
            [*argv, world.state_url, "--listen", "127.0.0.1:0"],
            capture_output=True,
            text=True,
            env=world.env,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 1, proc.stderr[-2000:]
        assert "cannot open the state" in proc.stderr and "is corrupt or not a SQLite database" in proc.stderr


def _read_only_runner(directory: Path) -> list[str]:
    """Make ``directory`` and its files read-only for the command about to run; the argv prefix that runs it as a
    user that cannot write there (root ignores file modes: it then runs in a user namespace where the files belong
    to an unmapped user)."""
    for path in [directory, *directory.iterdir()]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    if os.geteuid() != 0:
        return []
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("running as root without unshare(1): cannot take write access away from root")
    for path in [*directory.iterdir(), directory]:
        os.chown(path, 65534, 65534)
    probe = subprocess.run(
        [unshare, "--user", "--map-root-user", "sh", "-c", f"touch {directory}/probe"],
        capture_output=True,
        text=True,
        check=False,
    )
    if "Operation not permitted" in probe.stderr and "probe" not in probe.stderr:
        pytest.skip(f"user namespaces are not available here: {probe.stderr.strip()}")
    assert probe.returncode != 0, "the directory is still writable inside the namespace"
    return [unshare, "--user", "--map-root-user"]


def test_status_and_history_read_a_read_only_copy_of_the_state(tmp_path: Path, base_lab: Lab) -> None:
    with rig(tmp_path, base_lab, only=["sepm-dmz"]) as world:
        daemon = world.start_daemon()
        daemon.wait_ready()
        wait_until(lambda: daemon.phases().get("sepm-dmz") not in (None, "new"), 30, "a first tick")
        assert daemon.stop()[0] == 0
        copies = tmp_path / "read-only"
        copies.mkdir()
        shutil.copyfile(
            _state_path(world), copies / "state.db"
        )  # a plain copy of a stopped daemon's WAL file
        prefix = _read_only_runner(copies)
        url = f"sqlite:///{copies / 'state.db'}"
        for args in (["status", "--output", "json"], ["history", "sepm-dmz"], ["state", "info"]):
            proc = subprocess.run(
                [*prefix, sys.executable, "-m", "reconciler", *args, "--state", url],
                capture_output=True,
                text=True,
                env=world.env,
                timeout=60,
                check=False,
            )
            assert proc.returncode == 0, (args, proc.stderr)
            assert "readonly" not in proc.stderr
        status = json.loads(
            subprocess.run(
                [*prefix, sys.executable, "-m", "reconciler", "status", "--output", "json", "--state", url],
                capture_output=True,
                text=True,
                env=world.env,
                timeout=60,
                check=True,
            ).stdout
        )
        assert [s["name"] for s in status["servers"]] == ["sepm-dmz"]
        # a command that changes the state says why it cannot, instead of a driver message
        proc = subprocess.run(
            [
                *prefix,
                sys.executable,
                "-m",
                "reconciler",
                "suspend",
                "sepm-dmz",
                "--reason",
                "x",
                "--state",
                url,
            ],
            capture_output=True,
            text=True,
            env=world.env,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 1
        assert "read-only for this user" in proc.stderr or "readonly" not in proc.stderr


def test_backup_under_a_running_daemon_then_restore_into_a_new_state(tmp_path: Path, base_lab: Lab) -> None:
    with rig(tmp_path, base_lab, only=["sepm-dmz"]) as world:
        daemon = world.start_daemon()
        wait_until(lambda: daemon.phases().get("sepm-dmz") == "in_sync", 90, "sepm-dmz in sync", interval=0.5)
        backup = tmp_path / "backups" / "state.db"
        backup.parent.mkdir()
        done = _cli(
            world, "state", "backup", "--state", world.state_url, "--to", str(backup), "--output", "json"
        )
        report = json.loads(done.stdout)
        assert report["records"] == 1 and report["events"] >= 10 and report["verified"] is True
        assert daemon.stop(signal.SIGTERM)[0] == 0
        refused = _cli(
            world, "state", "restore", "--from", str(backup), "--state", world.state_url, check=False
        )
        assert refused.returncode == 1 and "is not empty" in refused.stderr and "--force" in refused.stderr
        fresh = f"sqlite:///{tmp_path / 'restored' / 'state.db'}"
        restored = _cli(world, "state", "restore", "--from", str(backup), "--state", fresh)
        assert "counts and the last event verified" in restored.stdout
        original = json.loads(_cli(world, "status", "--output", "json", "--state", world.state_url).stdout)
        copy = json.loads(_cli(world, "status", "--output", "json", "--state", fresh).stdout)
        assert copy["servers"] == original["servers"]  # the lease is the running daemon's, not restored
        assert original["lease"]["running"] is False and copy["lease"]["running"] is False
