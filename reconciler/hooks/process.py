"""Is a hook's process group still running? (POSIX) — what a reconciler checks before it judges an attempt lost.

An attempt records its hook's group (:class:`~reconciler.core.record.HookProcess`: the watchdog's pid, which leads
the group, the start token of that pid, the host) before the hook is let go. A later reconciler on the same host
asks :func:`group_alive`: the group has a live member, and the pid, if it still exists, is the same process (a
recycled pid has another start token). :func:`end_group` ends a group whose timeout passed (its watchdog should have;
this is the backstop). Processes of another host cannot be checked: :func:`checkable` says so.
"""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

from reconciler.core.record import HookProcess
from reconciler.hooks._process import PosixTree

__all__ = ["checkable", "end_group", "group_alive", "host", "start_token"]

_PROC = Path("/proc")
_LINUX: bool = (_PROC / "self" / "stat").exists()  # /proc as Linux lays it out


def host() -> str:
    return socket.gethostname()


def checkable(process: HookProcess) -> bool:
    """The group can be checked from here (POSIX, same host)."""
    return os.name == "posix" and process.host == host()


def _stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/PID/stat`` after the command name (field 3 = state), or None."""
    try:
        text = (_PROC / str(pid) / "stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    return text[text.rfind(")") + 2 :].split()


def start_token(pid: int) -> str | None:
    """An opaque token of when ``pid`` started (None: no such process). Linux: the start time in clock ticks since
    boot; elsewhere what ``ps`` says."""
    if _LINUX:
        fields = _stat(pid)
        return None if fields is None or len(fields) < 20 else f"linux:{fields[19]}"
    try:
        out = subprocess.run(  # noqa: S603 - fixed argv
            ["ps", "-o", "lstart=", "-p", str(pid)],  # noqa: S607 - ps from PATH
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"ps:{out}" if out else None


def _linux_members(pgid: int) -> bool:
    """A member of group ``pgid`` that is not a zombie (a dead process no parent reaped yet)."""
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat(int(entry.name))
        if fields and len(fields) > 2 and fields[2] == str(pgid) and fields[0] != "Z":
            return True
    return False


def group_alive(process: HookProcess) -> bool:
    """The hook's group still runs (True when it cannot be told otherwise: never start another attempt beside it)."""
    try:
        os.killpg(process.pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists; another user's
    token = start_token(process.pid)
    if token is not None and token != process.started:
        return False  # the leader's pid was recycled: a live group of that id is another one
    if _LINUX:
        return _linux_members(process.pgid)
    return True


def end_group(process: HookProcess) -> None:
    """SIGKILL the hook's group (its timeout passed and it still runs)."""
    if group_alive(process):
        PosixTree().kill(process.pgid)
