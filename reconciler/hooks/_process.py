"""Starting a hook so that its whole process tree can be ended, per platform — the one place that differs.

* **POSIX**: the hook's watchdog starts in a new session (``start_new_session``), so it leads the process group the
  hook runs in; ``terminate`` sends SIGTERM to the group and ``kill`` SIGKILL — children included, even when the
  leader exited. The watchdog holds the timeout without the reconciler (``watched``).
* **Windows**: there are no process groups to signal and no SIGKILL (``os.killpg`` does not exist, and
  ``os.kill(pid, SIGTERM)`` ends only that one process). The hook starts with ``CREATE_NEW_PROCESS_GROUP`` (so a
  console Ctrl+C of the daemon does not reach it, and it can get its own Ctrl+Break); ``terminate`` sends
  ``CTRL_BREAK_EVENT`` to its group — PowerShell and Python stop on it, a script can clean up — and ``kill`` runs
  ``taskkill /PID <pid> /T /F``, which ends the process and every process it started.

The platform is a parameter (:func:`current`), so tests exercise the Windows branch on any machine: they check what
it would start with and which commands it runs to end a tree. What could not be run here — a real hook on a real
Windows host — is listed in docs/operations.md.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["PosixTree", "ProcessTree", "WindowsTree", "current"]

# subprocess.CREATE_NEW_PROCESS_GROUP and signal.CTRL_BREAK_EVENT, spelled out: they exist only on Windows
CREATE_NEW_PROCESS_GROUP = 0x00000200
CTRL_BREAK_EVENT = 1


class ProcessTree(Protocol):
    """How hooks are started and ended on one platform."""

    @property
    def name(self) -> str: ...

    @property
    def watched(self) -> bool:
        """Hooks run under the watchdog (:mod:`reconciler.hooks._watchdog`), which holds their timeout without the
        reconciler and leads the group a later reconciler checks (POSIX only)."""
        ...

    def spawn_options(self) -> dict[str, Any]:
        """Keyword arguments for ``asyncio.create_subprocess_exec`` that put the hook in its own group."""
        ...

    def terminate(self, pid: int) -> None:
        """Ask the hook's whole tree to stop (it may clean up). Never raises for a process already gone."""
        ...

    def kill(self, pid: int) -> None:
        """End the hook's whole tree now. Never raises for a process already gone."""
        ...


@dataclass(frozen=True)
class PosixTree:
    """Process groups and signals (Linux, macOS, the BSDs)."""

    name: str = "posix"
    watched: bool = True
    signal_group: Callable[[int, int], None] = field(default=lambda pid, sig: os.killpg(pid, sig))

    def spawn_options(self) -> dict[str, Any]:
        return {"start_new_session": True}

    def _send(self, pid: int, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            self.signal_group(pid, sig)

    def terminate(self, pid: int) -> None:
        self._send(pid, signal.SIGTERM)

    def kill(self, pid: int) -> None:
        self._send(pid, getattr(signal, "SIGKILL", signal.SIGTERM))


def _taskkill(argv: Sequence[str]) -> None:
    subprocess.run(  # noqa: S603 - a fixed program and a pid: no user input, no shell
        list(argv), capture_output=True, check=False, timeout=30
    )


@dataclass(frozen=True)
class WindowsTree:
    """New process groups, Ctrl+Break, and ``taskkill /T /F`` for the tree. ``send_signal`` and ``run`` are
    injected by tests (on Windows they are ``os.kill`` and a ``subprocess.run`` of ``taskkill``)."""

    name: str = "windows"
    watched: bool = (
        False  # the reconciler holds the timeout itself (no watchdog, no group check after a crash)
    )
    send_signal: Callable[[int, int], None] = field(default=os.kill)
    run: Callable[[Sequence[str]], None] = field(default=_taskkill)

    def spawn_options(self) -> dict[str, Any]:
        return {"creationflags": CREATE_NEW_PROCESS_GROUP}

    def terminate(self, pid: int) -> None:
        # the group of a process started with CREATE_NEW_PROCESS_GROUP has the process's id
        with contextlib.suppress(ProcessLookupError, PermissionError, OSError):
            self.send_signal(pid, CTRL_BREAK_EVENT)

    def kill(self, pid: int) -> None:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            self.run(("taskkill", "/PID", str(pid), "/T", "/F"))


def current(platform: str = sys.platform) -> ProcessTree:
    """The process tree handling of ``platform`` (``sys.platform`` by default)."""
    return WindowsTree() if platform.startswith("win") else PosixTree()
