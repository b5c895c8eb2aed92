"""Spec reloads: notice a change of the specs directory, load it whole, and keep the last valid set in force.

A change is noticed by polling a digest of what a load would read (:func:`specs_digest`: the resolved path — a
git-sync symlink swap changes it — and each file's name, size and modification time), or forced (SIGHUP). A new set
replaces the one in force only when it has no error: an invalid commit is reported (``status.errors``) and every
server keeps its last valid spec — nothing ever acts on a half-parsed set.

Everything here is synchronous file I/O: the daemon calls :meth:`SpecWatcher.poll` through ``asyncio.to_thread``.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from reconciler.specs import SpecIssue, SpecSet, load_specs

__all__ = ["ReloadKind", "ReloadOutcome", "SpecWatcher", "SpecsStatus", "specs_digest"]

log = logging.getLogger("reconciler.daemon")


def specs_digest(path: Path) -> str:
    """A digest that changes whenever a load of ``path`` could give another result (dot-files are skipped, as
    the loader skips them). ``"missing"`` when the path does not exist."""
    try:
        resolved = path.resolve(strict=True)
    except (FileNotFoundError, RuntimeError):
        return "missing"
    digest = hashlib.sha256(str(resolved).encode())
    entries: list[tuple[str, int, int]] = []
    if resolved.is_file():
        st = resolved.stat()
        entries.append((resolved.name, st.st_size, st.st_mtime_ns))
    else:
        for root, dirs, files in os.walk(resolved, followlinks=True):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                if name.startswith("."):
                    continue
                file = Path(root, name)
                try:
                    st = file.stat()
                except OSError:  # vanished meanwhile, or a dangling link: the next poll sees the new state
                    continue
                entries.append((str(file.relative_to(resolved)), st.st_size, st.st_mtime_ns))
    for rel, size, mtime in entries:
        digest.update(f"\0{rel}\0{size}\0{mtime}".encode())
    return digest.hexdigest()


class ReloadKind(StrEnum):
    UNCHANGED = "unchanged"
    LOADED = "loaded"  # a valid set is now in force
    INVALID = "invalid"  # the new content has errors: the previous set stays in force


@dataclass(frozen=True, slots=True)
class ReloadOutcome:
    kind: ReloadKind
    spec_set: SpecSet | None  # the set in force after this reload
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()  # located messages ("file:line:col: field: message") when INVALID
    warnings: tuple[str, ...] = ()


@dataclass
class SpecsStatus:
    """What the daemon shows about its specs (status page, /api/status, /readyz)."""

    path: str
    revision: str | None = None  # of the set in force
    servers: int = 0
    loaded_at: datetime | None = None
    last_attempt_at: datetime | None = None
    valid: bool = False  # the last load attempt was valid
    errors: list[str] = field(default_factory=list)  # of the last invalid attempt (empty once valid again)
    rejected_revision: str | None = None
    failures: int = 0

    def to_json(self) -> dict[str, object]:
        return {
            "path": self.path,
            "revision": self.revision,
            "servers": self.servers,
            "loaded_at": None if self.loaded_at is None else self.loaded_at.isoformat(),
            "last_attempt_at": None if self.last_attempt_at is None else self.last_attempt_at.isoformat(),
            "valid": self.valid,
            "errors": list(self.errors),
            "rejected_revision": self.rejected_revision,
            "reload_failures": self.failures,
        }


def _messages(issues: list[SpecIssue]) -> tuple[str, ...]:
    return tuple(str(i) for i in issues)


class SpecWatcher:
    """Holds the spec set in force and reloads it when the directory changes (or when forced)."""

    def __init__(self, path: Path, *, loader: Callable[[Path], SpecSet] = load_specs) -> None:
        self.path = path
        self._loader = loader
        self._digest: str | None = None
        self.current: SpecSet | None = None
        self.status = SpecsStatus(path=str(path))

    def poll(self, now: datetime, *, force: bool = False) -> ReloadOutcome:
        """Reload if the directory changed since the last load attempt (or ``force``)."""
        digest = specs_digest(self.path)
        if not force and digest == self._digest:
            return ReloadOutcome(ReloadKind.UNCHANGED, self.current)
        self._digest = digest
        self.status.last_attempt_at = now
        if digest == "missing":
            message = f"{self.path}: the specs path does not exist (or is a dangling link)"
            return self._reject((message,), None)
        try:
            loaded = self._loader(self.path)
        except (
            Exception
        ) as exc:  # the loader reports bad input as issues; anything else is a bug, still refused
            log.exception("internal error while loading the specs")
            message = (
                f"{self.path}: the specs could not be loaded (internal error {type(exc).__name__}; see the log): "
                "refused like an invalid commit"
            )
            return self._reject((message,), None)
        warnings = _messages([i for i in loaded.issues if not i.is_error])
        if loaded.errors:
            return self._reject(_messages(loaded.errors), loaded.revision, warnings)
        previous = self.current.servers if self.current is not None else {}
        added = tuple(sorted(set(loaded.servers) - set(previous)))
        removed = tuple(sorted(set(previous) - set(loaded.servers)))
        changed = tuple(
            sorted(
                n for n in set(loaded.servers) & set(previous) if loaded.servers[n].spec != previous[n].spec
            )
        )
        self.current = loaded
        self.status.revision = loaded.revision
        self.status.servers = len(loaded.servers)
        self.status.loaded_at = now
        self.status.valid = True
        self.status.errors = []
        self.status.rejected_revision = None
        return ReloadOutcome(ReloadKind.LOADED, loaded, added, removed, changed, (), warnings)

    def _reject(
        self, errors: tuple[str, ...], revision: str | None, warnings: tuple[str, ...] = ()
    ) -> ReloadOutcome:
        self.status.valid = False
        self.status.errors = list(errors)
        self.status.rejected_revision = revision
        self.status.failures += 1
        return ReloadOutcome(ReloadKind.INVALID, self.current, errors=errors, warnings=warnings)
