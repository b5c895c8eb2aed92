"""Hooks run as real subprocesses: documented environment, secrets only there, timeouts and interruptions stop the
whole group."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

import pytest

from reconciler.errors import HookError
from reconciler.hooks import OUTPUT_TAIL_BYTES, run_hook

PY = sys.executable


async def test_hook_sees_the_documented_environment_and_its_exit_status_is_recorded() -> None:
    script = (
        "import os, sys; "
        "print(os.environ['SEPM_RECONCILER_SERVER'], os.environ['SEPM_RECONCILER_STEP'], "
        "os.environ['SEPM_RECONCILER_DESIRED_FINGERPRINT']); sys.exit(3)"
    )
    result = await run_hook(
        [PY, "-c", script],
        variables={"SERVER": "sepm-east", "STEP": "4", "SEPM_RECONCILER_DESIRED_FINGERPRINT": "sha256:ab"},
        timeout_s=20,
    )
    assert result.exit_code == 3
    assert not result.succeeded
    assert result.output_tail.strip() == "sepm-east 4 sha256:ab"
    assert result.summary().startswith("exit 3 in ")


async def test_stale_reconciler_variables_of_the_parent_do_not_leak_into_the_hook(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SEPM_RECONCILER_KEYSTORE_PASSWORD", "from-the-parent")
    result = await run_hook(
        [PY, "-c", "import os; print(os.environ.get('SEPM_RECONCILER_KEYSTORE_PASSWORD', 'absent'))"],
        variables={"SERVER": "x"},
        timeout_s=20,
    )
    assert result.output_tail.strip() == "absent"


async def test_secrets_reach_the_hook_by_environment_only_and_are_masked_in_its_output() -> None:
    secret = "p12-S3cret!"
    script = "import os, sys; print('argv', sys.argv[1:]); print('pw', os.environ['SEPM_RECONCILER_KEYSTORE_PASSWORD'])"
    result = await run_hook(
        [PY, "-c", script],
        variables={"KEYSTORE_PASSWORD": secret},
        timeout_s=20,
        secrets=[secret],
    )
    assert result.succeeded
    assert secret not in " ".join(result.argv)
    assert secret not in result.output_tail
    assert "pw ***" in result.output_tail
    assert "argv []" in result.output_tail


async def test_output_keeps_only_the_tail_and_masks_a_secret_straddling_the_cut() -> None:
    secret = "S" * 40
    # The secret sits exactly across the 4 KiB boundary of the kept tail.
    script = f"import sys; sys.stdout.write('x' * 10000 + {secret!r} + 'y' * ({OUTPUT_TAIL_BYTES} - 20))"
    result = await run_hook([PY, "-c", script], variables={}, timeout_s=20, secrets=[secret])
    assert len(result.output_tail) <= OUTPUT_TAIL_BYTES
    assert "S" not in result.output_tail.replace("***", "")
    assert result.output_tail.endswith("y" * 100)


def _dead(pid: int) -> bool:
    """Gone, or a zombie waiting for init to reap it (its parent, the hook, died first): it runs no more."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


async def _gone(pid: int, within: float = 30.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if _dead(pid):
            return True
        await asyncio.sleep(0.05)
    return False


async def test_timeout_kills_the_hook_and_its_children(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    script = (
        "import subprocess, sys, time; "
        f"c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
        f"open({str(pid_file)!r}, 'w').write(str(c.pid)); time.sleep(60)"
    )
    started = time.monotonic()
    result = await run_hook([PY, "-c", script], variables={}, timeout_s=1.5)
    assert result.timed_out
    assert result.exit_code is None
    assert not result.succeeded
    assert time.monotonic() - started < 40  # the 1.5 s timeout and 5 s of grace, not the 60 s sleep
    assert await _gone(int(pid_file.read_text())), "the hook's child process survived the timeout"
    assert "killed after its timeout" in result.summary()


@pytest.mark.parametrize(
    ("on_term", "stopped_by"),
    [("clean up and exit", "SIGTERM"), ("ignore it", "SIGKILL")],
    ids=["hook-cleans-up-on-sigterm", "hook-ignoring-sigterm-is-killed"],
)
async def test_an_interrupted_reconciler_stops_the_hook_group_gently_then_for_good(
    tmp_path: Path, on_term: str, stopped_by: str
) -> None:
    pids, cleaned = tmp_path / "pids", tmp_path / "cleaned"
    handler = (
        f"lambda *_: (open({str(cleaned)!r}, 'w').write('bye'), sys.exit(3))"
        if on_term == "clean up and exit"
        else "signal.SIG_IGN"
    )
    script = (
        "import os, signal, subprocess, sys, time; "
        f"signal.signal(signal.SIGTERM, {handler}); "
        "c = subprocess.Popen([sys.executable, '-c', 'import signal, time; "
        "signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)']); "
        f"open({str(pids)!r} + '.new', 'w').write(f'{{c.pid}}'); os.replace({str(pids)!r} + '.new', {str(pids)!r}); "
        "time.sleep(60)"
    )
    task = asyncio.ensure_future(run_hook([PY, "-c", script], variables={}, timeout_s=60))
    async with asyncio.timeout(10):
        while not await asyncio.to_thread(pids.exists):  # noqa: ASYNC110 - the hook writes it
            await asyncio.sleep(0.02)
    child = int(pids.read_text())
    started = time.monotonic()
    task.cancel()  # what Ctrl-C (asyncio.run) and a stopping daemon do to a tick
    with pytest.raises(asyncio.CancelledError):
        await task
    assert (
        time.monotonic() - started < 30
    )  # SIGTERM, at most 2 s of grace, SIGKILL, reaped — not the 60 s sleep
    assert await _gone(child), "the hook's child survived: the whole group must be stopped"
    assert cleaned.exists() is (stopped_by == "SIGTERM"), "SIGTERM first: a hook may clean up"


async def test_a_missing_program_is_a_hook_error_naming_it() -> None:
    with pytest.raises(HookError, match="cannot start hook '/nonexistent/update-cert'"):
        await run_hook(["/nonexistent/update-cert"], variables={}, timeout_s=5)


async def test_an_empty_command_is_refused() -> None:
    with pytest.raises(HookError, match="empty"):
        await run_hook([], variables={}, timeout_s=5)


async def test_a_hook_outlives_the_reconciler_that_started_it(tmp_path: Path) -> None:
    """Killed mid-hook (SIGKILL), the reconciler must not take a half-done certificate swap with it: the hook keeps
    running and may still write its output (a file, not a pipe whose reader died)."""
    started, done = tmp_path / "started", tmp_path / "done"
    hook = (
        f"import time; open({str(started)!r}, 'w').close(); time.sleep(0.5); "
        f"print('x' * 100000, flush=True); open({str(done)!r}, 'w').write('ok')"
    )
    runner = (
        "import asyncio, sys; from reconciler.hooks import run_hook; "
        f"asyncio.run(run_hook([sys.executable, '-c', {hook!r}], variables={{}}, timeout_s=30))"
    )
    proc = await asyncio.create_subprocess_exec(PY, "-c", runner)
    await _appears(started)
    proc.kill()  # while the hook sleeps, before it writes anything
    await proc.wait()
    await _appears(done)
    assert done.read_text() == "ok"


async def _appears(path: Path, within: float = 10.0) -> None:
    async with asyncio.timeout(within):
        while not await asyncio.to_thread(path.exists):  # noqa: ASYNC110 - another process creates it
            await asyncio.sleep(0.02)
