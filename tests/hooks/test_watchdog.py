"""Hooks that outlive their reconciler (#17 finding 3): the hook's process group is reported before it runs, and a
later reconciler can tell whether it still runs (the watchdog itself: ``test_hook_outlives_reconciler.py``)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import pytest

from reconciler.core.record import HookProcess
from reconciler.hooks import process as hook_process
from reconciler.hooks import run_hook


def _wait(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


async def test_the_group_is_reported_before_the_hook_runs_and_a_refusal_keeps_it_from_running(
    tmp_path: Path,
) -> None:
    ran = tmp_path / "ran"
    command = [sys.executable, "-c", f"open({str(ran)!r}, 'w').write('x')"]
    seen: list[HookProcess] = []

    async def record(process: HookProcess) -> None:
        seen.append(process)
        assert not ran.exists(), "the hook ran before its group was recorded"
        assert hook_process.group_alive(process)

    result = await run_hook(command, variables={}, timeout_s=30, on_start=record)
    assert result.succeeded and ran.exists()
    (process,) = seen
    assert process.pid == process.pgid and process.started and process.host == hook_process.host()
    _wait(lambda: not hook_process.group_alive(process), 30, "the finished group to be gone")

    ran.unlink()

    async def refuse(process: HookProcess) -> None:
        raise RuntimeError("the lease was lost")

    with pytest.raises(RuntimeError, match="lease"):
        await run_hook(command, variables={}, timeout_s=30, on_start=refuse)
    await asyncio.sleep(0.5)  # an observable condition cannot show what never happens: give it a moment
    assert not ran.exists(), "a hook whose group could not be recorded must never run"


def test_a_recycled_pid_is_not_taken_for_the_hook_group(tmp_path: Path) -> None:
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        token = hook_process.start_token(sleeper.pid)
        assert token
        mine = HookProcess(sleeper.pid, sleeper.pid, token, hook_process.host())
        assert hook_process.group_alive(mine)
        other = HookProcess(sleeper.pid, sleeper.pid, token + "-another-start", hook_process.host())
        assert not hook_process.group_alive(other)
        assert not hook_process.checkable(HookProcess(1, 1, "x", "another-host"))
        hook_process.end_group(mine)
        sleeper.wait(timeout=30)
        assert not hook_process.group_alive(mine)
    finally:
        if sleeper.poll() is None:
            sleeper.kill()
