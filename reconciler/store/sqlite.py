"""The SQLite store: one file, WAL journal, mode 0600 from creation, versioned schema, compare-and-set writes.

Every write runs in ``BEGIN IMMEDIATE`` (the write lock is taken up front, so two writers serialise instead of
failing half-way) with ``synchronous=FULL``: an attempt recorded before a hook runs is on disk before the hook
starts. A writer waits up to ``timeout`` seconds for another one, then fails with a clear :class:`StateError`.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from reconciler.core._storage import iso
from reconciler.core.events import Event
from reconciler.core.record import RolloutRecord
from reconciler.errors import ConflictError, StateError
from reconciler.store.base import Lease
from reconciler.store.schema import LATEST, MIGRATIONS

__all__ = ["SqliteStore"]

_SELECT_LEASE = "SELECT name, holder, acquired_at, renewed_at, expires_at FROM leases WHERE name = ?"


def _create_private(path: Path) -> None:
    """Create ``path`` empty with mode 0600 (and its directory 0700) before SQLite opens it."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # created by another process meanwhile: fine
        return
    os.close(fd)
    path.chmod(0o600)  # whatever the umask


class SqliteStore:
    """:class:`~reconciler.store.base.Store` on a SQLite file. Thread-safe (one connection behind a lock)."""

    def __init__(self, path: Path, *, create: bool = True, timeout: float = 5.0) -> None:
        self._path = path
        self._timeout = timeout
        self._lock = threading.RLock()
        try:
            is_dir, exists = path.is_dir(), path.exists()
        except OSError as exc:  # a directory on the way that this user may not enter
            raise StateError(
                f"cannot reach the state database {path}: {exc.strerror or exc}; run sepm-reconciler as the user "
                "that owns the state, or point --state (or $SEPM_RECONCILER_STATE) elsewhere"
            ) from exc
        if is_dir:
            raise StateError(
                f"the state {path} is a directory, not a SQLite file: name a file, e.g. sqlite:///{path / 'state.db'}"
            )
        if not exists:
            if not create:
                raise StateError(
                    f"no state at {path}: nothing has been reconciled with this state yet (run "
                    "sepm-reconciler reconcile or the daemon first), or pass --state / set SEPM_RECONCILER_STATE"
                )
            try:
                _create_private(path)
            except (FileExistsError, NotADirectoryError) as exc:
                blocker = next((p for p in path.parents if p.exists() and not p.is_dir()), path.parent)
                raise StateError(
                    f"cannot create the state database {path}: {blocker} is a file, not a directory; point --state "
                    "elsewhere"
                ) from exc
            except OSError as exc:
                raise StateError(
                    f"cannot create the state database {path}: {exc.strerror or exc}; point --state (or "
                    "$SEPM_RECONCILER_STATE) at a writable place"
                ) from exc
        try:
            self._conn = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise StateError(f"cannot open the state database {path}: {exc}") from exc
        try:
            with self._errors("opening it"):
                self._conn.execute("PRAGMA foreign_keys = ON")
                mode = self._conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    raise StateError(f"the state database {path} cannot use WAL journaling (got {mode})")
                self._conn.execute("PRAGMA synchronous = FULL")
                self._migrate()
        except BaseException:
            self._conn.close()
            raise

    # --- plumbing --------------------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"sqlite:///{self._path}"

    @property
    def path(self) -> Path:
        return self._path

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.OperationalError as exc:
            text = str(exc)
            if "locked" in text or "busy" in text:
                raise StateError(
                    f"the state database {self._path} is locked by another process (waited {self._timeout:g} s) "
                    f"while {doing}: another sepm-reconciler is writing to it; try again, or check for a stuck "
                    "process"
                ) from exc
            raise StateError(f"the state database {self._path} failed while {doing}: {text}") from exc
        except sqlite3.DatabaseError as exc:
            raise StateError(
                f"the state database {self._path} is corrupt or not a SQLite database ({exc}) — found while "
                f"{doing}; restore it from a backup or point --state elsewhere"
            ) from exc

    @contextmanager
    def _write(self, doing: str) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE … COMMIT), rolled back on any error."""
        with self._lock, self._errors(doing):
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _read(self, doing: str, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock, self._errors(doing):
            return list(self._conn.execute(sql, params).fetchall())

    def _current_schema(self) -> int | None:
        """The highest applied migration, or None for a database that has no ``schema_migrations`` table."""
        tables = {row[0] for row in self._conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "schema_migrations" not in tables:
            return None
        return int(
            self._conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()[0]
        )

    def _migrate(self) -> None:
        with self._lock, self._errors("reading its schema"):
            current = self._current_schema()
        if current == LATEST:  # the usual case: no write lock needed, so readers never wait for the daemon
            return
        with self._write("upgrading its schema") as conn:
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if "schema_migrations" not in tables:
                foreign = sorted(t for t in tables if not t.startswith("sqlite_"))
                if foreign:
                    raise StateError(
                        f"{self._path} is a SQLite database but not a sepm-reconciler state (it has the tables "
                        f"{', '.join(foreign)}): point --state to another file"
                    )
                conn.execute(
                    "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, description TEXT NOT NULL, "
                    "applied_at TEXT NOT NULL)"
                )
            current = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()[0]
            if current > LATEST:
                raise StateError(
                    f"the state database {self._path} has schema version {current}, written by a newer "
                    f"sepm-reconciler (this one knows up to {LATEST}): upgrade sepm-reconciler; it is never "
                    "downgraded"
                )
            for migration in MIGRATIONS:
                if migration.version <= current:
                    continue
                for statement in migration.statements:
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_migrations (version, description, applied_at) VALUES (?, ?, ?)",
                    (migration.version, migration.description, iso(datetime.now(UTC))),
                )

    def schema_version(self) -> int:
        return int(self._read("reading its schema", "SELECT MAX(version) FROM schema_migrations")[0][0])

    # --- records ---------------------------------------------------------------------------------------------------

    def _record(self, body: str, version: int) -> RolloutRecord:
        try:
            data = json.loads(body)
        except json.JSONDecodeError as exc:
            raise StateError(f"corrupt record in {self._path}: its body is not JSON ({exc})") from exc
        return replace(RolloutRecord.from_storage(data), version=version)

    def get(self, server: str) -> RolloutRecord | None:
        rows = self._read("reading a record", "SELECT body, version FROM records WHERE server = ?", (server,))
        return self._record(rows[0][0], rows[0][1]) if rows else None

    def all(self) -> list[RolloutRecord]:
        rows = self._read("reading records", "SELECT body, version FROM records ORDER BY server")
        return [self._record(body, version) for body, version in rows]

    def save(self, record: RolloutRecord, events: Sequence[Event] = ()) -> RolloutRecord:
        new = replace(record, version=record.version + 1)
        body = json.dumps(new.to_storage(), sort_keys=True, separators=(",", ":"))
        values = (
            new.version,
            new.phase.value,
            new.step,
            new.rollout_id,
            iso(new.updated_at),
            iso(new.next_check_at),
        )
        with self._write(f"saving {record.server}") as conn:
            if record.version == 0:
                try:
                    conn.execute(
                        "INSERT INTO records (version, phase, step, rollout_id, updated_at, next_check_at, body, "
                        "server) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (*values, body, record.server),
                    )
                except sqlite3.IntegrityError as exc:
                    raise ConflictError(
                        f"{record.server} was stored by another process meanwhile (this one expected to create "
                        "it): read it again and decide again"
                    ) from exc
            else:
                cursor = conn.execute(
                    "UPDATE records SET version = ?, phase = ?, step = ?, rollout_id = ?, updated_at = ?, "
                    "next_check_at = ?, body = ? WHERE server = ? AND version = ?",
                    (*values, body, record.server, record.version),
                )
                if cursor.rowcount != 1:
                    row = conn.execute(
                        "SELECT version FROM records WHERE server = ?", (record.server,)
                    ).fetchone()
                    now = f"now version {row[0]}" if row else "now gone"
                    raise ConflictError(
                        f"{record.server} changed since it was read (read at version {record.version}, {now}): "
                        "another process moved it first; read it again and decide again"
                    )
            self._insert_events(conn, events)
        return new

    # --- events ----------------------------------------------------------------------------------------------------

    @staticmethod
    def _insert_events(conn: sqlite3.Connection, events: Sequence[Event]) -> None:
        conn.executemany(
            "INSERT INTO events (at, server, rollout_id, kind, from_phase, to_phase, actor, reason, details) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    (data := e.to_storage())["at"],
                    data["server"],
                    data["rollout_id"],
                    data["kind"],
                    data["from_phase"],
                    data["to_phase"],
                    data["actor"],
                    data["reason"],
                    json.dumps(data["details"], sort_keys=True),
                )
                for e in events
            ],
        )

    def append(self, events: Sequence[Event]) -> None:
        if events:
            with self._write("appending events") as conn:
                self._insert_events(conn, events)

    def events(
        self, server: str | None = None, *, since: datetime | None = None, limit: int | None = None
    ) -> list[Event]:
        where, params = [], []
        if server is not None:
            where.append("server = ?")
            params.append(server)
        if since is not None:
            where.append("at >= ?")
            params.append(iso(since))
        sql = "SELECT id, at, server, rollout_id, kind, from_phase, to_phase, actor, reason, details FROM events"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        rows = self._read("reading events", sql, params)
        events = []
        for event_id, at, srv, rollout, kind, from_phase, to_phase, actor, reason, details in reversed(rows):
            try:
                parsed = json.loads(details)
            except json.JSONDecodeError as exc:
                raise StateError(f"corrupt event {event_id} in {self._path}: details are not JSON") from exc
            events.append(
                Event.from_storage(
                    {
                        "at": at,
                        "server": srv,
                        "rollout_id": rollout,
                        "kind": kind,
                        "from_phase": from_phase,
                        "to_phase": to_phase,
                        "actor": actor,
                        "reason": reason,
                        "details": parsed,
                    },
                    event_id=event_id,
                )
            )
        return events

    # --- leases ----------------------------------------------------------------------------------------------------

    @staticmethod
    def _lease(row: tuple[Any, ...]) -> Lease:
        name, holder, acquired, renewed, expires = row
        return Lease(
            name=name,
            holder=holder,
            acquired_at=datetime.fromisoformat(acquired),
            renewed_at=datetime.fromisoformat(renewed),
            expires_at=datetime.fromisoformat(expires),
        )

    def lease(self, name: str) -> Lease | None:
        rows = self._read("reading a lease", _SELECT_LEASE, (name,))
        return self._lease(rows[0]) if rows else None

    def acquire_lease(self, name: str, holder: str, *, ttl: timedelta, now: datetime) -> Lease | None:
        expires = now + ttl
        with self._write(f"acquiring the lease {name}") as conn:
            row = conn.execute(_SELECT_LEASE, (name,)).fetchone()
            if row is None:
                conn.execute(
                    "INSERT INTO leases (name, holder, acquired_at, renewed_at, expires_at) VALUES (?, ?, ?, ?, ?)",
                    (name, holder, iso(now), iso(now), iso(expires)),
                )
                return Lease(name, holder, now, now, expires)
            current = self._lease(row)
            if current.holder == holder:
                conn.execute(
                    "UPDATE leases SET renewed_at = ?, expires_at = ? WHERE name = ?",
                    (iso(now), iso(expires), name),
                )
                return replace(current, renewed_at=now, expires_at=expires)
            if current.valid_at(now):
                return None
            conn.execute(
                "UPDATE leases SET holder = ?, acquired_at = ?, renewed_at = ?, expires_at = ? WHERE name = ?",
                (holder, iso(now), iso(now), iso(expires), name),
            )
            return Lease(name, holder, now, now, expires)

    def renew_lease(self, name: str, holder: str, *, ttl: timedelta, now: datetime) -> Lease:
        with self._write(f"renewing the lease {name}") as conn:
            row = conn.execute(_SELECT_LEASE, (name,)).fetchone()
            if row is None or row[1] != holder:
                other = f"it is held by {row[1]} until {row[4]}" if row else "it was released"
                raise ConflictError(f"{holder} lost the lease {name}: {other}")
            conn.execute(
                "UPDATE leases SET renewed_at = ?, expires_at = ? WHERE name = ?",
                (iso(now), iso(now + ttl), name),
            )
            return replace(self._lease(row), renewed_at=now, expires_at=now + ttl)

    def release_lease(self, name: str, holder: str) -> bool:
        with self._write(f"releasing the lease {name}") as conn:
            cursor = conn.execute("DELETE FROM leases WHERE name = ? AND holder = ?", (name, holder))
            return cursor.rowcount == 1

    # --- lifetime --------------------------------------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
