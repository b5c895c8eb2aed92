"""Where a hook's program and scripts are, checked before anything depends on them.

A hook is ``command: [PROGRAM, ARG, …]``. Like every other path of a spec, relative paths start from the
**directory of the spec file** that declares the server:

* ``PROGRAM`` with a path separator (``./hooks/swap.sh``, ``hooks\\swap.cmd``) is that file; a bare name
  (``python3``, ``powershell.exe``) is looked up on ``PATH``. It must exist and be executable.
* an argument that names a script or a file (a path separator, or a script suffix such as ``.py``, ``.ps1``,
  ``.sh``; not an ``-option``) must exist too — for ``[python3, hooks/swap.py]`` the script is what runs.
* the hook runs **in the spec file's directory**, so a relative argument means the same at run time as here.

**Compatibility (one release):** earlier versions ran hooks in the daemon's working directory. When a relative path
is not found from the spec file's directory but is from the working directory, the hook still runs there, and
``validate`` and the daemon say so in a warning: move the path, or make it relative to the spec file (or
absolute). The next release drops that fallback.

``validate`` reports every problem, located (:func:`check_hooks`); the engine checks again before a rollout starts
(:func:`hook_problems`: a rollout does not start with a hook that cannot run — steps 1 and 7 come early, step 4
after days of soak) and resolves the command right before running it (:func:`resolve_hook`).
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath

from reconciler.core.spec import CommandAction
from reconciler.errors import HookError
from reconciler.specs import LoadedServer, Severity, SpecIssue

__all__ = [
    "SCRIPT_SUFFIXES",
    "HookCommand",
    "HookNotOnPath",
    "check_hooks",
    "hook_actions",
    "hook_problems",
    "resolve_hook",
]

SCRIPT_SUFFIXES = frozenset(
    {".py", ".ps1", ".psm1", ".sh", ".bash", ".bat", ".cmd", ".pl", ".rb", ".js", ".vbs"}
)

_FIELDS = {
    "break_replication": "spec.rollout.actions.breakReplication",
    "switch_to_http_list": "spec.rollout.actions.switchToHttpList",
    "update_certificate": "spec.rollout.actions.updateCertificate",
    "restore_original_list": "spec.rollout.actions.restoreOriginalList",
    "restore_replication": "spec.rollout.actions.restoreReplication",
}

Which = Callable[[str], str | None]


class HookNotOnPath(HookError):
    """The program is a bare name not found on this machine's ``PATH`` (which may not be the daemon's host)."""


@dataclass(frozen=True, slots=True)
class HookCommand:
    """A hook as it runs: ``argv`` with its program as a full path, the directory it runs in, and — when it was
    found only the old way, from the working directory — the warning to show."""

    argv: tuple[str, ...]
    cwd: Path
    legacy: str | None = None


def _has_separator(text: str) -> bool:
    return "/" in text or "\\" in text


def _path_like(argument: str) -> bool:
    """An argument that names a file: not an option, not a URL or assignment; a separator or a script suffix."""
    if not argument or argument.startswith("-") or "://" in argument or "=" in argument:
        return False
    suffix = PurePosixPath(argument.replace("\\", "/")).suffix.lower()
    return _has_separator(argument) or suffix in SCRIPT_SUFFIXES


def _absolute(text: str) -> bool:
    return Path(text).is_absolute() or PureWindowsPath(text).is_absolute()


def _executable(path: Path) -> bool:
    return path.is_file() and (sys.platform.startswith("win") or os.access(path, os.X_OK))


def resolve_hook(
    command: Sequence[str], base_dir: Path, *, cwd: Path | None = None, which: Which = shutil.which
) -> HookCommand:
    """Resolve ``command`` for a spec in ``base_dir``; raise :class:`~reconciler.errors.HookError` saying what is
    missing. ``cwd`` is the working directory of the old resolution (default: the process's)."""
    if not command or not command[0].strip():
        raise HookError("the hook command is empty: give [PROGRAM, ARG, …]")
    old = Path.cwd() if cwd is None else cwd
    if not base_dir.is_dir():
        raise HookError(f"the spec file's directory {base_dir}, where hooks run, does not exist (any more)")
    legacy: list[str] = []

    def locate(text: str) -> Path:
        if _absolute(text):
            return Path(text)
        new = base_dir / text
        if new.exists() or not (old / text).exists():
            return new
        legacy.append(text)
        return old / text

    program = command[0]
    if _has_separator(program) or _absolute(program):
        path = locate(program)
        if not path.exists():
            raise HookError(
                f"the hook program {program} does not exist (relative paths start from the spec file's directory, "
                f"{base_dir})"
            )
        if not _executable(path):
            raise HookError(
                f"the hook program {path} is not an executable file: chmod +x it, or run it through its "
                "interpreter, e.g. [python3, script.py]"
            )
        resolved = os.path.abspath(path)  # noqa: PTH100 - not resolve(): a venv's python is a symlink to keep
    else:
        found = which(program)
        if found is None:
            raise HookNotOnPath(
                f"the hook program {program!r} is not on PATH ({os.environ.get('PATH', '')[:200]}): install it, "
                "or give its full path"
            )
        resolved = found
    for argument in command[1:]:
        if _path_like(argument):
            path = locate(argument)
            if not path.exists():
                raise HookError(
                    f"the hook names {argument}, which does not exist (relative paths start from the spec file's "
                    f"directory, {base_dir})"
                )
    if legacy:
        shown = ", ".join(legacy)
        return HookCommand(
            (resolved, *command[1:]),
            old,
            f"{shown} found only from the working directory {old}, not from the spec file's directory "
            f"{base_dir}: the hook runs in {old} for this release only — write the path relative to the spec file "
            "(or absolute)",
        )
    return HookCommand((resolved, *command[1:]), base_dir)


def hook_actions(server: LoadedServer) -> list[tuple[str, CommandAction]]:
    """``(spec field, action)`` for each step of ``server`` that runs a hook."""
    actions = server.spec.spec.rollout.actions
    found = []
    for attribute, field in _FIELDS.items():
        action = getattr(actions, attribute)
        if isinstance(action, CommandAction):
            found.append((field, action))
    return found


def check_hooks(server: LoadedServer, *, here: bool = True, which: Which = shutil.which) -> list[SpecIssue]:
    """Every hook of ``server``: an error when its program or a script it names cannot be found or run, a warning
    when it is found only the old way (from the working directory).

    ``here=False``: this machine may not be the one that runs the reconciler (a CI job validating a pull request):
    a program missing from *its* ``PATH`` is a warning (``hook-not-on-path``); files the spec names are errors
    wherever they are checked (they come with the specs)."""
    issues = []
    for field, action in hook_actions(server):
        where = f"{field}.command"
        try:
            resolved = resolve_hook(action.command, server.base_dir, which=which)
        except HookNotOnPath as exc:
            severity = Severity.ERROR if here else Severity.WARNING
            issues.append(server.issue(where, str(exc), code="hook-not-on-path", severity=severity))
            continue
        except HookError as exc:
            issues.append(server.issue(where, str(exc), code="hook-not-found"))
            continue
        if resolved.legacy is not None:
            issues.append(
                server.issue(where, resolved.legacy, code="hook-legacy-path", severity=Severity.WARNING)
            )
    return issues


def hook_problems(server: LoadedServer, *, which: Which = shutil.which) -> str | None:
    """Why a hook of ``server`` cannot run (its first problem, located), or None: a rollout does not start
    until it is fixed."""
    errors = [issue for issue in check_hooks(server, which=which) if issue.is_error]
    return "; ".join(str(issue) for issue in errors) or None
