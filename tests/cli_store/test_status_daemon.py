"""``status`` says whether a daemon acts on the state (from the lease), accepts a plain path for ``--state`` and
``-o``, and ``--watch`` shows it again until Ctrl-C — run as a real process on a real SQLite state."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from reconciler.daemon.config import LEASE_NAME
from reconciler.store import open_store

CLI = (sys.executable, "-m", "reconciler")


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("SEPM_")}


def _status(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, "status", "--state", str(state), *args],  # a plain path: no sqlite:/// needed
        capture_output=True,
        text=True,
        check=False,
        env=_env(),
        timeout=120,
    )


def _state(tmp_path: Path, holder: str | None, *, at: datetime, ttl: timedelta) -> Path:
    path = tmp_path / "state.db"
    with open_store(f"sqlite:///{path}") as store:
        if holder is not None:
            assert store.acquire_lease(LEASE_NAME, holder, ttl=ttl, now=at) is not None
    return path


def test_status_names_the_daemon_holding_the_lease(tmp_path: Path) -> None:
    state = _state(tmp_path, "ops-host:4242:abc", at=datetime.now(UTC), ttl=timedelta(hours=1))
    text = _status(state)
    assert text.returncode == 0, text.stderr
    assert "daemon: ops-host:4242:abc holds the lease (epoch 1" in text.stdout
    shown = _status(state, "-o", "json")
    assert shown.returncode == 0, shown.stderr
    lease = json.loads(shown.stdout)["lease"]
    assert lease["running"] is True and lease["holder"] == "ops-host:4242:abc" and lease["epoch"] == 1
    assert lease["age_s"] is not None and lease["expires_at"] is not None


def test_status_says_since_when_no_daemon_holds_the_lease(tmp_path: Path) -> None:
    gone = datetime.now(UTC) - timedelta(hours=3)
    state = _state(tmp_path, "ops-host:99:old", at=gone, ttl=timedelta(seconds=30))
    text = _status(state)
    assert text.returncode == 0, text.stderr
    assert "daemon: no daemon holds the lease since" in text.stdout
    assert "ops-host:99:old stopped renewing it" in text.stdout and "sepm-reconciler run" in text.stdout
    lease = json.loads(_status(state, "-o", "json").stdout)["lease"]
    assert lease["running"] is False and lease["age_s"] is None
    assert datetime.fromisoformat(lease["since"]) == gone + timedelta(seconds=30)


def test_status_on_a_state_no_daemon_ever_ran_on_says_how_to_start_one(tmp_path: Path) -> None:
    state = _state(tmp_path, None, at=datetime.now(UTC), ttl=timedelta(seconds=30))
    text = _status(state)
    assert text.returncode == 0, text.stderr
    assert "daemon: none has ever run on this state (start one: sepm-reconciler run)" in text.stdout
    assert json.loads(_status(state, "-o", "json").stdout)["lease"]["running"] is False


@pytest.mark.skipif(sys.platform.startswith("win"), reason="SIGINT to a child process")
def test_status_watch_prints_a_document_per_read_until_ctrl_c(tmp_path: Path) -> None:
    state = _state(tmp_path, "ops-host:1:w", at=datetime.now(UTC), ttl=timedelta(hours=1))
    proc = subprocess.Popen(
        [*CLI, "status", "--state", str(state), "--watch", "--every", "0.5", "-o", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
        # Ctrl-C as a terminal delivers it: a runner in the background may have left SIGINT ignored, and Python
        # only turns SIGINT into KeyboardInterrupt when it starts with the default disposition
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        assert proc.stdout is not None
        documents = [json.loads(proc.stdout.readline()) for _ in range(3)]  # one JSON document per line
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):  # closed even when the test failed: no leak into the next
            if stream is not None:
                stream.close()
    assert proc.returncode == 0, err  # Ctrl-C ends a watch normally
    assert all(d["lease"]["holder"] == "ops-host:1:w" and d["servers"] == [] for d in documents)
    assert "Traceback" not in err
