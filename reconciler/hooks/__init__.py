"""User hooks: the steps SEPM's REST API cannot do (1, 2a, 4a, 5b, 7), run as a subprocess.

A hook is the spec's ``command`` (an argv list, never a shell string). It gets a documented environment and nothing
secret on its command line:

===============================  ===========================================================================
``SEPM_RECONCILER_SERVER``       the server's ``metadata.name``
``SEPM_RECONCILER_STEP``         the step number: 1, 2, 4, 5 or 7 (a rollback's restores are 5 and 7)
``SEPM_RECONCILER_STEP_NAME``    ``break_replication`` / ``switch_to_http_list`` / ``update_certificate`` /
                                 ``restore_original_list`` / ``restore_replication``
``SEPM_RECONCILER_ROLLOUT_ID``   the rollout's id (stable across retries: use it for idempotency)
``SEPM_RECONCILER_ATTEMPT``      1 for the first attempt, then 2, 3…
``SEPM_RECONCILER_API_URL``      the spec's ``apiUrl``
``SEPM_RECONCILER_SITE``         the spec's ``server.site``
``SEPM_RECONCILER_PARTNERS``     the replication partners, comma-separated (steps 1 and 7)
``SEPM_RECONCILER_LIST``         the management server list to assign to every group and location (2a, 5b)
``SEPM_RECONCILER_DESIRED_FINGERPRINT``  ``sha256:…`` of the desired certificate
``SEPM_RECONCILER_KEYSTORE_FILE``        absolute path of ``certificate.keystore.file`` (step 4, if set)
``SEPM_RECONCILER_KEYSTORE_KEY_FILE``    absolute path of ``certificate.keystore.keyFile`` (step 4, if set)
``SEPM_RECONCILER_KEYSTORE_PASSWORD``    its password, resolved (step 4, if set) — the only secret, env only
===============================  ===========================================================================

Least secret: a hook inherits the reconciler's environment **minus** every ``SEPM_RECONCILER_*`` variable and
every variable whose value is one of the ``secrets`` it is given (the caller passes every secret it knows: the API
credentials and keystore passwords of every server, the notification webhook URL), then gets the variables above.
So the keystore password reaches step 4's hook as ``SEPM_RECONCILER_KEYSTORE_PASSWORD`` only, and the API password
and the webhook URL reach no hook at all, whatever the variables holding them are called.

The hook's exit status is recorded, but only observation completes a step. Its output goes to a temporary file (not
a pipe: a hook survives the death of the reconciler that started it); the last 4 KiB are kept, with every secret
value replaced by ``***``, for ``history`` and the status page.

**Ending a hook.** A hook still running when its timeout expires is asked to stop (its whole process tree), then
ended 5 s later — children that ignored the request included, even when the hook itself exited; one running when the
reconciler is interrupted (Ctrl-C, a daemon shutting down) likewise, 2 s apart — its attempt stays recorded as
started, and the next tick judges it by what it observes. How a tree is started and ended is the platform's
(:mod:`._process`, a :class:`ProcessTree`): on POSIX a process group, SIGTERM then SIGKILL to the group; on Windows
a new process group, Ctrl+Break, then ``taskkill /T /F``.

**The watchdog (POSIX).** There a hook runs under a watchdog (:mod:`reconciler.hooks._watchdog`) that leads its
process group and enforces the timeout itself, so it holds when the reconciler is gone (SIGKILLed, the host's daemon
restarted). The group is reported through ``on_start`` *before* the hook is let go — the caller records it in the
attempt — and a hook whose group could not be recorded never runs. A later reconciler checks that group
(:mod:`reconciler.hooks.process`) before it judges the attempt, and never starts another attempt beside it. On
Windows (no watchdog; ``on_start`` is not called) the reconciler itself holds the timeout.

Where a hook runs (:mod:`._resolve`): in the directory of its spec file, like every other path of a spec; its
program is checked (found, executable) by ``validate`` and before every rollout starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from reconciler.core.record import HookProcess
from reconciler.errors import HookError
from reconciler.hooks import process as _process
from reconciler.hooks._process import ProcessTree, current
from reconciler.hooks._resolve import HookCommand, check_hooks, hook_problems, resolve_hook

__all__ = [
    "ENV_PREFIX",
    "HookCommand",
    "HookResult",
    "OnStart",
    "ProcessTree",
    "check_hooks",
    "hook_environment",
    "hook_problems",
    "resolve_hook",
    "run_hook",
]

OnStart = Callable[[HookProcess], Awaitable[None]]
"""Called with the hook's process group before the hook is let go; raising keeps it from running."""
_WATCHDOG = Path(__file__).with_name("_watchdog.py")
_BACKSTOP_SECONDS = 30.0  # past timeout + grace, the reconciler ends a group whose watchdog did not

ENV_PREFIX = "SEPM_RECONCILER_"
OUTPUT_TAIL_BYTES = 4096
_KILL_GRACE_SECONDS = 5.0
_CANCEL_GRACE_SECONDS = (
    2.0  # interrupted: SIGTERM, then SIGKILL this much later (a stopping daemon waits 2 s)
)


@dataclass(frozen=True, slots=True)
class HookResult:
    """How a hook run ended. ``exit_code`` is None when it was killed on timeout."""

    argv: tuple[str, ...]
    exit_code: int | None
    timed_out: bool
    duration_s: float
    output_tail: str

    @property
    def succeeded(self) -> bool:
        return self.exit_code == 0 and not self.timed_out

    def summary(self) -> str:
        """One line for events and status: ``exit 0 in 2.1 s`` / ``killed after the 30m timeout``."""
        if self.timed_out:
            return f"killed after its timeout ({self.duration_s:.1f} s)"
        return f"exit {self.exit_code} in {self.duration_s:.1f} s"


def _scrub(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def hook_environment(
    variables: Mapping[str, str], withheld: Collection[str] = (), settings: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment of a hook: the reconciler's, minus every ``SEPM_RECONCILER_*`` variable and every variable
    whose value is in ``withheld`` (secrets: they never reach a hook by inheritance), plus the spec's ``settings``
    (``environment:`` of the hook: plain values), plus ``variables``."""
    hidden = {value for value in withheld if value}
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX) and v not in hidden}
    env.update({k: v for k, v in (settings or {}).items() if not k.startswith(ENV_PREFIX)})
    for key, value in variables.items():
        name = key if key.startswith(ENV_PREFIX) else ENV_PREFIX + key
        env[name] = value
    return env


async def run_hook(
    argv: Sequence[str],
    *,
    variables: Mapping[str, str],
    timeout_s: float,
    secrets: Sequence[str] = (),
    cwd: Path | None = None,
    on_start: OnStart | None = None,
    tree: ProcessTree | None = None,
    environment: Mapping[str, str] | None = None,
) -> HookResult:
    """Run ``argv`` with ``variables`` (names without or with the ``SEPM_RECONCILER_`` prefix) and the spec's
    ``environment`` added to the environment; end its whole process tree when ``timeout_s`` expires (asked to stop,
    then ended 5 s later). ``tree`` is the platform's way of doing so (:func:`~reconciler.hooks._process.current`
    by default); a tree that is ``watched`` (POSIX) runs the hook under the watchdog, reporting its group through
    ``on_start`` first.

    Raises :class:`~reconciler.errors.HookError` when the program cannot be started. ``secrets`` are values to mask
    in the captured output and to withhold from the inherited environment (see :func:`hook_environment`): a secret
    the hook needs (the keystore password, say) is passed only through ``variables``.
    """
    if not argv:
        raise HookError("the hook command is empty")
    tree = tree or current()
    env = hook_environment(variables, secrets, environment)
    started = time.monotonic()
    # The output goes to an unlinked temporary file, not a pipe: a hook must survive the reconciler's death (a
    # certificate swap half-done because its writes hit a closed pipe is worse than one that finishes).
    capture = tempfile.TemporaryFile()  # noqa: SIM115 - closed in the finally below
    try:
        if tree.watched:
            exit_code, timed_out = await _run_watched(
                argv, env=env, timeout_s=timeout_s, cwd=cwd, on_start=on_start, tree=tree, capture=capture
            )
        else:
            exit_code, timed_out = await _run_direct(
                argv, env=env, timeout_s=timeout_s, cwd=cwd, tree=tree, capture=capture
            )
        tail = _tail(capture, secrets)
    finally:
        capture.close()
    output = _scrub(tail.decode("utf-8", errors="replace"), secrets)[-OUTPUT_TAIL_BYTES:]
    return HookResult(
        argv=tuple(argv),
        exit_code=None if timed_out else exit_code,
        timed_out=timed_out,
        duration_s=time.monotonic() - started,
        output_tail=output,
    )


async def _run_direct(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    timeout_s: float,
    cwd: Path | None,
    tree: ProcessTree,
    capture: IO[bytes],
) -> tuple[int | None, bool]:
    """Run ``argv`` in its own tree with the reconciler holding the timeout (Windows): ``(exit code, timed out)``."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=capture,
            stderr=asyncio.subprocess.STDOUT,
            env=dict(env),
            cwd=cwd,
            **tree.spawn_options(),  # its own process group, so a timeout ends its children too
        )
    except OSError as exc:
        raise HookError(f"cannot start hook {argv[0]!r}: {exc.strerror or exc}") from exc
    try:
        await asyncio.wait_for(proc.wait(), timeout=timeout_s)
    except TimeoutError:
        tree.terminate(proc.pid)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), timeout=_KILL_GRACE_SECONDS)
        tree.kill(proc.pid)  # the whole tree, even when the leader stopped: a child may ignore the request
        await proc.wait()
        return None, True
    except asyncio.CancelledError:
        await _stop(proc, tree)
        raise
    return proc.returncode, False


async def _run_watched(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    timeout_s: float,
    cwd: Path | None,
    on_start: OnStart | None,
    tree: ProcessTree,
    capture: IO[bytes],
) -> tuple[int | None, bool]:
    """Run ``argv`` under the watchdog (POSIX): report its group, let it go, wait (with a backstop)."""
    started = time.monotonic()
    status_read, status_write = os.pipe()
    try:
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-I",
                str(_WATCHDOG),
                str(status_write),
                repr(float(timeout_s)),
                repr(_KILL_GRACE_SECONDS),
                "--",
                *argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=capture,
                stderr=asyncio.subprocess.STDOUT,
                env=dict(env),
                cwd=cwd,
                pass_fds=(status_write,),
                **tree.spawn_options(),  # the watchdog leads the group the hook runs in
            )
        except OSError as exc:
            raise HookError(f"cannot start hook {argv[0]!r}: {exc.strerror or exc}") from exc
        finally:
            os.close(status_write)
        stdin = proc.stdin
        assert stdin is not None  # noqa: S101 - asked for a pipe
        try:
            if on_start is not None:
                token = _process.start_token(proc.pid) or ""
                await on_start(HookProcess(proc.pid, proc.pid, token, _process.host()))
            stdin.write(b"go\n")
            await stdin.drain()
        except BaseException:
            stdin.close()  # EOF: the watchdog runs nothing
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(asyncio.shield(proc.wait()), _CANCEL_GRACE_SECONDS)
            raise
        stdin.close()
        backstop = timeout_s + _KILL_GRACE_SECONDS + _BACKSTOP_SECONDS
        try:
            await asyncio.wait_for(proc.wait(), timeout=backstop)
        except TimeoutError:
            tree.kill(proc.pid)
            await proc.wait()
        except asyncio.CancelledError:
            await _stop(proc, tree)
            raise
        said = await asyncio.to_thread(_read_status, status_read)
    finally:
        os.close(status_read)
    if "error" in said:
        raise HookError(str(said["error"]))
    timed_out = bool(said.get("timeout")) or ("exit" not in said and time.monotonic() - started >= timeout_s)
    code = said.get("exit")
    return (code if isinstance(code, int) else None), timed_out


def _tail(capture: IO[bytes], secrets: Sequence[str]) -> bytes:
    # Keep a margin beyond the tail so that a secret straddling the cut is still masked whole.
    keep = OUTPUT_TAIL_BYTES + max((len(s.encode()) for s in secrets), default=0)
    size = capture.seek(0, os.SEEK_END)
    capture.seek(max(0, size - keep))
    return bytes(capture.read())


def _read_status(fd: int) -> dict[str, Any]:
    """What the watchdog said (its JSON lines, merged), read to EOF."""
    data = b""
    while chunk := os.read(fd, 4096):
        data += chunk
    said: dict[str, Any] = {}
    for line in data.decode("utf-8", errors="replace").splitlines():
        with contextlib.suppress(ValueError):
            item = json.loads(line)
            if isinstance(item, dict):
                said |= item
    return said


async def _stop(proc: asyncio.subprocess.Process, tree: ProcessTree) -> None:
    """The reconciler is being interrupted (Ctrl-C, a daemon shutting down): ask the hook's tree to stop so it can
    clean up (POSIX: the watchdog passes the SIGTERM on and reaps the hook), end it after a short grace. Its attempt
    stays recorded; the next tick judges it by observation. A second cancellation while waiting goes straight to the
    end."""
    tree.terminate(proc.pid)
    with contextlib.suppress(TimeoutError, asyncio.CancelledError):
        await asyncio.wait_for(asyncio.shield(proc.wait()), _CANCEL_GRACE_SECONDS)
    tree.kill(proc.pid)  # the whole tree: children outlive a leader that exited
    with contextlib.suppress(TimeoutError, asyncio.CancelledError):
        await asyncio.wait_for(asyncio.shield(proc.wait()), _CANCEL_GRACE_SECONDS)
