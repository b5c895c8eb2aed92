"""The watchdog a hook runs under (POSIX): it lives with the hook, so the hook's timeout holds with no reconciler.

Run as ``python -I _watchdog.py STATUS_FD TIMEOUT_S KILL_GRACE_S -- ARGV...`` in a new session (its process group is
the hook's: one group to check and to end). It waits for one line ``go`` on its standard input — the reconciler
sends it once the attempt records this group — and runs nothing on anything else (the reconciler died, or could not
record the group). Then it runs the hook in its own group and waits; past the timeout it sends SIGTERM to the group,
waits the grace, and sends SIGKILL to the whole group (itself included). What happened is written as JSON lines on
``STATUS_FD`` (``{"exit": code}``, ``{"timeout": true}``, ``{"error": "…"}``); writes to a reader that died are
ignored. Only the standard library: it starts fast and shares nothing with the reconciler.
"""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time

NOT_STARTED = 125  # no "go": nothing was run
CANNOT_START = 127


def _say(fd: int, **what: object) -> None:
    with contextlib.suppress(OSError):  # the reconciler is gone: the hook's timeout still holds
        os.write(fd, (json.dumps(what) + "\n").encode())


def _forward(child: "subprocess.Popen[bytes]", signum: int) -> None:
    with contextlib.suppress(OSError):
        child.send_signal(signum)


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    status_fd, timeout_s, grace_s = int(argv[0]), float(argv[1]), float(argv[2])
    command = argv[4:] if argv[3] == "--" else argv[3:]
    line = sys.stdin.readline()
    if line.strip() != "go":
        return NOT_STARTED
    try:
        child = subprocess.Popen(command, stdin=subprocess.DEVNULL)  # noqa: S603 - the spec's argv, no shell
    except OSError as exc:
        _say(status_fd, error=f"cannot start hook {command[0]!r}: {exc.strerror or exc}")
        return CANNOT_START
    # A SIGTERM (the reconciler stopping sends it to the whole group) is passed to the hook, and the watchdog waits
    # for it: the hook is reaped here, not left to a parent that may never reap it.
    signal.signal(signal.SIGTERM, lambda signum, frame: _forward(child, signum))
    signal.signal(signal.SIGINT, lambda signum, frame: _forward(child, signum))
    try:
        code = child.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        _say(status_fd, timeout=True)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        group = os.getpgid(0)
        os.killpg(group, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        os.killpg(group, signal.SIGKILL)  # the whole group, this watchdog too: nothing outlives the timeout
        return CANNOT_START  # not reached
    _say(status_fd, exit=code)
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
