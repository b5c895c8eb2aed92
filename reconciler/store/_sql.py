"""What the SQL backends share: records with compare-and-set, the gapless event log, leases with epochs, the fence
check, migrations, and the raw copy used by ``state migrate``/``restore``.

A backend (:mod:`.sqlite`, :mod:`.postgres`) provides a connection, its transactions and the translation of its
driver's errors; every statement is written once, here, with ``?`` placeholders (turned into ``%s`` for psycopg).
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Protocol, Self

from reconciler.core._storage import iso
from reconciler.core.events import Event
from reconciler.core.record import RolloutRecord
from reconciler.errors import ConflictError, FencedError, StateError
from reconciler.store.base import Fence, Lease
from reconciler.store.schema import LATEST, Migration

__all__ = ["Cursor", "Dump", "SqlStore", "Tx"]

_SELECT_LEASE = "SELECT name, holder, acquired_at, renewed_at, expires_at, epoch FROM leases WHERE name = ?"
_INSERT_LEASE = (
    "INSERT INTO leases (name, holder, acquired_at, renewed_at, expires_at, epoch) VALUES (?, ?, ?, ?, ?, 1) "
    "ON CONFLICT (name) DO NOTHING"
)
_SELECT_RECORDS = "SELECT server, version, phase, step, rollout_id, updated_at, next_check_at, body FROM records ORDER BY server"
_INSERT_RECORD = (
    "INSERT INTO records (server, version, phase, step, rollout_id, updated_at, next_check_at, body) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_SELECT_EVENTS = (
    "SELECT id, at, server, rollout_id, kind, from_phase, to_phase, actor, reason, details FROM events"
)
_INSERT_EVENT = (
    "INSERT INTO events (id, at, server, rollout_id, kind, from_phase, to_phase, actor, reason, details) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Tx(Protocol):
    """One transaction: ``run`` executes a statement written with ``?`` placeholders."""

    def run(self, sql: str, params: Sequence[Any] = ()) -> Cursor: ...


@dataclass(frozen=True, slots=True)
class Dump:
    """The raw rows of a state (records and events, exactly as stored), read in one snapshot."""

    schema: int
    records: list[tuple[Any, ...]]
    events: list[tuple[Any, ...]]

    @property
    def last_event(self) -> tuple[Any, ...] | None:
        return self.events[-1] if self.events else None


class SqlStore(ABC):
    """The :class:`~reconciler.store.base.Store` logic over a backend's transactions (see the module docstring)."""

    #: appended to a SELECT that must lock the lease row against a concurrent take-over until commit
    lock_share = ""
    lock_update = ""

    # --- what a backend provides -----------------------------------------------------------------------------------

    @property
    @abstractmethod
    def url(self) -> str: ...

    @property
    @abstractmethod
    def where(self) -> str:
        """How messages name this state (a path, or the redacted URL)."""

    @abstractmethod
    def _write(self, doing: str) -> AbstractContextManager[Tx]:
        """A write transaction, committed at the end, rolled back on any error; driver errors → StateError."""

    @abstractmethod
    def _read(self, doing: str) -> AbstractContextManager[Tx]:
        """A read-only snapshot (one transaction)."""

    @abstractmethod
    def _tables(self, tx: Tx) -> set[str]: ...

    @abstractmethod
    def _migrations(self) -> tuple[Migration, ...]: ...

    @abstractmethod
    def _clear(self, tx: Tx) -> None:
        """Delete every record and event (``state migrate --force``), getting past the append-only guard."""

    @abstractmethod
    def close(self) -> None: ...

    def _before_migrating(self, tx: Tx) -> None:  # noqa: B027 - optional: only PostgreSQL needs it
        """Serialise concurrent migrators (PostgreSQL takes an advisory lock)."""

    # --- schema ----------------------------------------------------------------------------------------------------

    def _current_schema(self, tx: Tx) -> int | None:
        if "schema_migrations" not in self._tables(tx):
            return None
        return int(tx.run("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()[0])

    def _refuse_newer(self, current: int) -> None:
        if current > LATEST:
            raise StateError(
                f"the state {self.where} has schema version {current}, written by a newer sepm-reconciler (this "
                f"one knows up to {LATEST}): upgrade sepm-reconciler; it is never downgraded"
            )

    def _migrate(self) -> None:
        with self._read("reading its schema") as tx:
            current = self._current_schema(tx)
        if current is not None:
            self._refuse_newer(current)
        if current == LATEST:  # the usual case: no write lock needed, so readers never wait for the daemon
            return
        with self._write("upgrading its schema") as tx:
            self._before_migrating(tx)
            tables = self._tables(tx)
            if "schema_migrations" not in tables:
                foreign = sorted(t for t in tables if not t.startswith("sqlite_"))
                if foreign:
                    raise StateError(
                        f"{self.where} is a database but not a sepm-reconciler state (it has the tables "
                        f"{', '.join(foreign)}): point --state to another one"
                    )
                tx.run(
                    "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, description TEXT NOT NULL, "
                    "applied_at TEXT NOT NULL)"
                )
            current = int(tx.run("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()[0])
            self._refuse_newer(current)
            for migration in self._migrations():
                if migration.version <= current:
                    continue
                for statement in migration.statements:
                    tx.run(statement)
                tx.run(
                    "INSERT INTO schema_migrations (version, description, applied_at) VALUES (?, ?, ?)",
                    (migration.version, migration.description, iso(datetime.now(UTC))),
                )

    def schema_version(self) -> int:
        with self._read("reading its schema") as tx:
            return self._current_schema(tx) or 0

    # --- records ---------------------------------------------------------------------------------------------------

    def _record(self, body: str, version: int) -> RolloutRecord:
        try:
            data = json.loads(body)
        except json.JSONDecodeError as exc:
            raise StateError(f"corrupt record in {self.where}: its body is not JSON ({exc})") from exc
        return replace(RolloutRecord.from_storage(data), version=int(version))

    def get(self, server: str) -> RolloutRecord | None:
        with self._read("reading a record") as tx:
            row = tx.run("SELECT body, version FROM records WHERE server = ?", (server,)).fetchone()
        return self._record(row[0], row[1]) if row else None

    def all(self) -> list[RolloutRecord]:
        with self._read("reading records") as tx:
            rows = tx.run("SELECT body, version FROM records ORDER BY server").fetchall()
        return [self._record(body, version) for body, version in rows]

    def save(
        self, record: RolloutRecord, events: Sequence[Event] = (), *, fence: Fence | None = None
    ) -> RolloutRecord:
        new = replace(record, version=record.version + 1)
        body = json.dumps(new.to_storage(), sort_keys=True, separators=(",", ":"))
        values = (
            new.version,
            new.phase.value,
            new.step,
            new.rollout_id,
            iso(new.updated_at),
            iso(new.next_check_at),
            body,
        )
        rows = self._event_rows(events)
        with self._write(f"saving {record.server}") as tx:
            if fence is not None:
                self._check_fence(tx, fence, f"{record.server} not saved")
            if record.version == 0:
                cursor = tx.run(
                    "INSERT INTO records (version, phase, step, rollout_id, updated_at, next_check_at, body, "
                    "server) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (server) DO NOTHING",
                    (*values, record.server),
                )
                if cursor.rowcount != 1:
                    raise ConflictError(
                        f"{record.server} was stored by another process meanwhile (this one expected to create "
                        "it): read it again and decide again"
                    )
            else:
                cursor = tx.run(
                    "UPDATE records SET version = ?, phase = ?, step = ?, rollout_id = ?, updated_at = ?, "
                    "next_check_at = ?, body = ? WHERE server = ? AND version = ?",
                    (*values, record.server, record.version),
                )
                if cursor.rowcount != 1:
                    row = tx.run("SELECT version FROM records WHERE server = ?", (record.server,)).fetchone()
                    now = f"now version {row[0]}" if row else "now gone"
                    raise ConflictError(
                        f"{record.server} changed since it was read (read at version {record.version}, {now}): "
                        "another process moved it first; read it again and decide again"
                    )
            self._insert_events(tx, rows)
        return new

    # --- events ----------------------------------------------------------------------------------------------------

    @staticmethod
    def _event_rows(events: Sequence[Event]) -> list[tuple[Any, ...]]:
        rows = []
        for event in events:
            data = event.to_storage()
            rows.append(
                (
                    data["at"],
                    data["server"],
                    data["rollout_id"],
                    data["kind"],
                    data["from_phase"],
                    data["to_phase"],
                    data["actor"],
                    data["reason"],
                    json.dumps(data["details"], sort_keys=True),
                )
            )
        return rows

    @staticmethod
    def _insert_events(tx: Tx, rows: list[tuple[Any, ...]]) -> None:
        """Take ``len(rows)`` ids from the counter (its row stays locked until commit: ids follow commit order
        and a rollback gives them back) and insert the events under them."""
        if not rows:
            return
        last = int(
            tx.run(
                "UPDATE event_counter SET last_id = last_id + ? WHERE singleton = 1 RETURNING last_id",
                (len(rows),),
            ).fetchone()[0]
        )
        first = last - len(rows) + 1
        for offset, row in enumerate(rows):
            tx.run(_INSERT_EVENT, (first + offset, *row))

    def append(self, events: Sequence[Event], *, fence: Fence | None = None) -> None:
        rows = self._event_rows(events)
        if not rows:
            return
        with self._write("appending events") as tx:
            if fence is not None:
                self._check_fence(tx, fence, "events not appended")
            self._insert_events(tx, rows)

    def events(
        self,
        server: str | None = None,
        *,
        since: datetime | None = None,
        limit: int | None = None,
        after_id: int | None = None,
    ) -> list[Event]:
        where: list[str] = []
        params: list[Any] = []
        if server is not None:
            where.append("server = ?")
            params.append(server)
        if since is not None:
            where.append("at >= ?")
            params.append(iso(since))
        if after_id is not None:
            where.append("id > ?")
            params.append(int(after_id))
        sql = _SELECT_EVENTS
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        with self._read("reading events") as tx:
            rows = tx.run(sql, params).fetchall()
        events = []
        for event_id, at, srv, rollout, kind, from_phase, to_phase, actor, reason, details in reversed(rows):
            try:
                parsed = json.loads(details)
            except json.JSONDecodeError as exc:
                raise StateError(f"corrupt event {event_id} in {self.where}: details are not JSON") from exc
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
                    event_id=int(event_id),
                )
            )
        return events

    # --- leases ----------------------------------------------------------------------------------------------------

    @staticmethod
    def _lease(row: tuple[Any, ...]) -> Lease:
        name, holder, acquired, renewed, expires, epoch = row
        return Lease(
            name=name,
            holder=holder,
            acquired_at=datetime.fromisoformat(acquired),
            renewed_at=datetime.fromisoformat(renewed),
            expires_at=datetime.fromisoformat(expires),
            epoch=int(epoch),
        )

    def _lease_row(self, tx: Tx, name: str, lock: str) -> tuple[Any, ...] | None:
        row = tx.run(_SELECT_LEASE + lock, (name,)).fetchone()
        return tuple(row) if row is not None else None

    def _check_fence(self, tx: Tx, fence: Fence, what: str) -> None:
        row = self._lease_row(tx, fence.name, self.lock_share)
        if row is not None and row[1] == fence.holder and int(row[5]) == fence.epoch:
            return
        if row is None or not row[1]:
            now = "it is free (released)"
        else:
            now = f"it is held by {row[1]} at epoch {row[5]} until {row[4]}"
        raise FencedError(
            f"{what}: {fence.holder} no longer holds the lease {fence.name} at epoch {fence.epoch} ({now}); "
            "another daemon may be acting, so this one must not write or act"
        )

    def check_fence(self, fence: Fence) -> None:
        with self._write(f"checking the lease {fence.name}") as tx:
            self._check_fence(tx, fence, "no action started")

    def lease(self, name: str) -> Lease | None:
        with self._read("reading a lease") as tx:
            row = self._lease_row(tx, name, "")
        return self._lease(row) if row is not None and row[1] else None

    def acquire_lease(self, name: str, holder: str, *, ttl: timedelta, now: datetime) -> Lease | None:
        expires = now + ttl
        with self._write(f"acquiring the lease {name}") as tx:
            row = self._lease_row(tx, name, self.lock_update)
            if row is None:
                cursor = tx.run(
                    _INSERT_LEASE,
                    (name, holder, iso(now), iso(now), iso(expires)),
                )
                return Lease(name, holder, now, now, expires, 1) if cursor.rowcount == 1 else None
            current = self._lease(row)
            if current.holder == holder:
                tx.run(
                    "UPDATE leases SET renewed_at = ?, expires_at = ? WHERE name = ?",
                    (iso(now), iso(expires), name),
                )
                return replace(current, renewed_at=now, expires_at=expires)
            if current.holder and current.valid_at(now):
                return None
            epoch = current.epoch + 1
            tx.run(
                "UPDATE leases SET holder = ?, acquired_at = ?, renewed_at = ?, expires_at = ?, epoch = ? "
                "WHERE name = ?",
                (holder, iso(now), iso(now), iso(expires), epoch, name),
            )
            return Lease(name, holder, now, now, expires, epoch)

    def renew_lease(self, name: str, holder: str, *, ttl: timedelta, now: datetime) -> Lease:
        with self._write(f"renewing the lease {name}") as tx:
            row = self._lease_row(tx, name, self.lock_update)
            if row is None or row[1] != holder:
                other = f"it is held by {row[1]} until {row[4]}" if row and row[1] else "it was released"
                raise FencedError(f"{holder} lost the lease {name}: {other}")
            tx.run(
                "UPDATE leases SET renewed_at = ?, expires_at = ? WHERE name = ?",
                (iso(now), iso(now + ttl), name),
            )
            return replace(self._lease(row), renewed_at=now, expires_at=now + ttl)

    def last_lease(self, name: str) -> Lease | None:
        with self._read("reading a lease") as tx:
            row = self._lease_row(tx, name, "")
        return self._lease(row) if row is not None else None

    def release_lease(self, name: str, holder: str) -> bool:
        released = iso(datetime.now(UTC))  # kept in expires_at: "no daemon holds the lease since …"
        with self._write(f"releasing the lease {name}") as tx:
            cursor = tx.run(
                "UPDATE leases SET holder = '', expires_at = ? WHERE name = ? AND holder = ?",
                (released, name, holder),
            )
            return cursor.rowcount == 1

    # --- copy (state migrate, restore) ------------------------------------------------------------------------------

    def dump(self) -> Dump:
        """Every record and event as stored, from one consistent snapshot."""
        with self._read("reading the whole state") as tx:
            schema = self._current_schema(tx) or 0
            records = [tuple(r) for r in tx.run(_SELECT_RECORDS).fetchall()]
            events = [tuple(r) for r in tx.run(_SELECT_EVENTS + " ORDER BY id").fetchall()]
        return Dump(schema, records, events)

    def counts(self) -> tuple[int, int]:
        """(records, events)."""
        with self._read("counting") as tx:
            records = int(tx.run("SELECT COUNT(*) FROM records").fetchone()[0])
            events = int(tx.run("SELECT COUNT(*) FROM events").fetchone()[0])
        return records, events

    def load(self, dump: Dump, *, replace_existing: bool) -> None:
        """Write ``dump`` into this state in one transaction, keeping versions and event ids. Refuses a state that
        already holds records or events unless ``replace_existing`` (they are deleted first)."""
        with self._write("copying a state into it") as tx:
            records = int(tx.run("SELECT COUNT(*) FROM records").fetchone()[0])
            events = int(tx.run("SELECT COUNT(*) FROM events").fetchone()[0])
            if records or events:
                if not replace_existing:
                    raise StateError(
                        f"the target state {self.where} is not empty ({records} record(s), {events} event(s)): "
                        "nothing was copied; pass --force to replace its content"
                    )
                self._clear(tx)
            for row in dump.records:
                tx.run(_INSERT_RECORD, row)
            for row in dump.events:
                tx.run(_INSERT_EVENT, row)
            last = int(dump.events[-1][0]) if dump.events else 0
            tx.run("UPDATE event_counter SET last_id = ? WHERE singleton = 1", (last,))

    def last_event_row(self) -> tuple[Any, ...] | None:
        with self._read("reading the last event") as tx:
            row = tx.run(_SELECT_EVENTS + " ORDER BY id DESC LIMIT 1").fetchone()
        return tuple(row) if row is not None else None

    # --- lifetime --------------------------------------------------------------------------------------------------

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
