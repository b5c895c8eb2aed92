"""Ending a hook's whole process tree, per platform. POSIX runs for real (a hook whose child ignores SIGTERM);
the Windows branch is exercised with an injected platform: what it starts hooks with, and what it runs to end a
tree (docs/operations.md lists what could not be run on a real Windows host)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from reconciler.hooks import run_hook
from reconciler.hooks._process import (
    CREATE_NEW_PROCESS_GROUP,
    CTRL_BREAK_EVENT,
    PosixTree,
    WindowsTree,
    current,
)


def test_the_platform_is_chosen_from_sys_platform() -> None:
    assert isinstance(current("win32"), WindowsTree)
    assert isinstance(current("linux"), PosixTree)
    assert isinstance(current("darwin"), PosixTree)
    assert current("linux").watched and not current("win32").watched  # the watchdog is POSIX's


def test_windows_starts_a_hook_in_a_new_process_group_and_ends_the_whole_tree() -> None:
    signals: list[tuple[int, int]] = []
    commands: list[Sequence[str]] = []
    tree = WindowsTree(send_signal=lambda pid, sig: signals.append((pid, sig)), run=commands.append)
    assert tree.spawn_options() == {"creationflags": CREATE_NEW_PROCESS_GROUP}
    assert "start_new_session" not in tree.spawn_options()  # POSIX only: Python refuses it on Windows
    tree.terminate(4242)
    tree.kill(4242)
    assert signals == [(4242, CTRL_BREAK_EVENT)]  # the group of a new-group process has its pid
    assert commands == [("taskkill", "/PID", "4242", "/T", "/F")]  # /T: every process it started


def test_windows_ending_a_process_already_gone_does_not_raise() -> None:
    def gone(pid: int, sig: int) -> None:
        raise OSError(87, "The parameter is incorrect")

    def failing(argv: Sequence[str]) -> None:
        raise OSError(2, "taskkill not found")

    tree = WindowsTree(send_signal=gone, run=failing)
    tree.terminate(1)
    tree.kill(1)


def test_posix_signals_the_group_not_only_the_leader() -> None:
    sent: list[tuple[int, int]] = []
    tree = PosixTree(signal_group=lambda pid, sig: sent.append((pid, sig)))
    assert tree.spawn_options() == {"start_new_session": True}
    tree.terminate(77)
    tree.kill(77)
    assert sent == [(77, signal.SIGTERM), (77, signal.SIGKILL)]


@pytest.mark.skipif(sys.platform.startswith("win"), reason="POSIX process groups")
async def test_a_timed_out_hook_s_child_that_ignores_sigterm_is_killed_too(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    script = (
        "import os, signal, subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', "
        "'import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(120)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
        "time.sleep(120)\n"
    )
    result = await run_hook([sys.executable, "-c", script], variables={}, timeout_s=1.5, tree=PosixTree())
    assert result.timed_out
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # poll until it is gone (or a zombie nobody reaped: dead all the same)
        if not _alive(child):
            break
        await asyncio.sleep(0.1)
    else:
        os.kill(child, signal.SIGKILL)
        pytest.fail("the hook's child survived the timeout")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    with contextlib.suppress(OSError):
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return True


@dataclass
class _Unwatched:
    """The Windows branch of ``run_hook`` on this machine: not watched (the reconciler holds the timeout), ending
    the tree through the tree's own calls — recorded, then done with POSIX signals so the hook really stops."""

    name: str = "injected-windows"
    watched: bool = False
    calls: list[tuple[str, int]] = field(default_factory=list)

    def spawn_options(self) -> dict[str, Any]:
        return {"start_new_session": True}

    def terminate(self, pid: int) -> None:
        self.calls.append(("terminate", pid))
        PosixTree().terminate(pid)

    def kill(self, pid: int) -> None:
        self.calls.append(("kill", pid))
        PosixTree().kill(pid)


@pytest.mark.skipif(sys.platform.startswith("win"), reason="POSIX signals stand in for the injected tree's")
async def test_an_unwatched_platform_runs_the_hook_itself_and_ends_its_tree_at_the_timeout() -> None:
    tree = _Unwatched()
    started: list[object] = []

    async def on_start(process: object) -> None:
        started.append(process)

    result = await run_hook(
        [sys.executable, "-c", "import time; time.sleep(120)"],
        variables={},
        timeout_s=1.0,
        tree=tree,
        on_start=on_start,
    )
    assert result.timed_out and result.exit_code is None
    assert [what for what, _ in tree.calls] == [
        "terminate",
        "kill",
    ]  # asked to stop, then the whole tree ended
    assert started == []  # no watchdog, no group to record: nothing a later reconciler could check
    done = await run_hook([sys.executable, "-c", "print('ok')"], variables={}, timeout_s=30, tree=tree)
    assert done.succeeded and done.output_tail.strip() == "ok" and len(tree.calls) == 2
