"""A hook hanging past its timeout while its reconciler is SIGKILLed is ended all the same (#17 finding 3): the
timeout lives with the hook (its watchdog), not in the reconciler that started it. Only ``run_hook`` and the
operating system are used, so the same test runs against any version."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

HANG = "import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpgid(0))); time.sleep(300)"

# The reconciler: runs a hook that hangs, with a 2 s timeout. The test SIGKILLs it while the hook runs.
RECONCILER = """
import asyncio, sys
from reconciler.hooks import run_hook
asyncio.run(run_hook([sys.executable, "-c", sys.argv[1], sys.argv[2]], variables={}, timeout_s=2.0))
"""


def _wait(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def _members(pgid: int) -> list[int]:
    """The live (not zombie) processes of group ``pgid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                text = (entry / "stat").read_text(errors="replace")
            except OSError:
                continue
            fields = text[text.rfind(")") + 2 :].split()
            if fields[2] == str(pgid) and fields[0] != "Z":
                found.append(int(entry.name))
    return found


def test_a_hook_hanging_past_its_timeout_is_ended_when_its_reconciler_was_sigkilled(tmp_path: Path) -> None:
    marker = tmp_path / "pgid"
    reconciler = subprocess.Popen([sys.executable, "-c", RECONCILER, HANG, str(marker)])
    pgid = 0
    try:
        _wait(lambda: marker.exists() and marker.read_text(), 60, "the hook to start")
        pgid = int(marker.read_text())
        reconciler.kill()  # SIGKILL: a timeout kept in the reconciler dies with it
        reconciler.wait(timeout=10)
        assert _members(pgid), "the hook runs on without its reconciler"
        # its timeout (2 s) and kill grace (5 s) hold with no reconciler: a generous bound for a loaded machine
        _wait(lambda: not _members(pgid), 90, "the hook's process group to be ended with no reconciler")
    finally:
        if reconciler.poll() is None:
            reconciler.kill()
        if pgid and _members(pgid):
            os.killpg(pgid, signal.SIGKILL)
