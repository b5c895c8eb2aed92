"""The spec revision the engine records with every rollout.

Inside a Git checkout: the last commit that touched the specs path (so commits elsewhere in the repository do not
count as a new revision), plus ``-dirty`` when the path has uncommitted or untracked changes. Elsewhere (or when Git
is missing or refuses the directory): ``sha256:`` + the hash of the loaded files' relative names and bytes.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

__all__ = ["content_revision", "git_revision", "spec_revision"]

_GIT_TIMEOUT = 10.0


def content_revision(root: Path, files: list[tuple[Path, bytes]]) -> str:
    """``sha256:`` + hex digest of each file's path (relative to ``root``) and bytes, in the order given."""
    digest = hashlib.sha256()
    for path, data in files:
        try:
            name = path.relative_to(root).as_posix()
        except ValueError:
            name = path.name
        digest.update(name.encode("utf-8") + b"\0" + hashlib.sha256(data).digest())
    return "sha256:" + digest.hexdigest()


def _git(args: list[str], cwd: Path) -> str | None:
    git = shutil.which("git")
    if git is None:
        return None
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env["GIT_OPTIONAL_LOCKS"] = "0"  # never take index.lock: we only read
    try:
        proc = subprocess.run(  # noqa: S603 - fixed argv, no shell, absolute git path
            [git, *args], cwd=cwd, capture_output=True, text=True, timeout=_GIT_TIMEOUT, check=False, env=env
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout if proc.returncode == 0 else None


def git_revision(path: Path) -> str | None:
    """The last commit touching ``path`` (a directory or file), ``-dirty`` if it has local changes; None if
    ``path`` is not inside a Git work tree or has never been committed."""
    cwd = path if path.is_dir() else path.parent
    target = "." if path.is_dir() else path.name
    commit = _git(["log", "-1", "--format=%H", "--", target], cwd)
    if not commit or not commit.strip():
        return None
    status = _git(["status", "--porcelain", "--untracked-files=normal", "--", target], cwd)
    if status is None:
        return None
    return commit.strip() + ("-dirty" if status.strip() else "")


def spec_revision(path: Path, files: list[tuple[Path, bytes]]) -> str:
    """The Git revision of ``path`` when there is one, else the content hash of ``files``."""
    root = path if path.is_dir() else path.parent
    return git_revision(path) or content_revision(root, files)
