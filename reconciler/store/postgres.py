"""The PostgreSQL store (psycopg 3): the same contract as SQLite, for two daemons on two hosts.

* Transactions run at READ COMMITTED; the compare-and-set is the ``UPDATE … WHERE version = ?`` (a row lock, then
  the condition re-checked), the fence a ``SELECT … FOR SHARE`` of the lease row in the writing transaction — a
  take-over (``FOR UPDATE`` on that row) waits for the write to commit, or the write sees the new epoch and is
  refused. Event ids come from a one-row counter locked until commit: gapless and in commit order.
* One connection behind a lock; when it breaks (the server restarted, the network dropped) the operation fails with
  :class:`~reconciler.errors.StateError` and the next one reconnects. Nothing is retried behind the caller's back:
  the engine never acts on a decision it could not save.
* Migrations run under an advisory lock, so two daemons starting together do not both apply them.
* Messages name the URL redacted (:func:`~reconciler.store.url.redact`); libpq's own messages carry no password.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql as psql

from reconciler.errors import StateError
from reconciler.store._sql import Cursor, SqlStore, Tx
from reconciler.store.schema import POSTGRES_MIGRATIONS, Migration
from reconciler.store.url import postgres_conninfo, redact

__all__ = ["PostgresStore"]

_MIGRATION_LOCK = 0x5E9A_57A7E  # pg_advisory_xact_lock key: "sepm state"


class _PgTx:
    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn

    def run(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        query = psql.SQL(sql.replace("%", "%%").replace("?", "%s"))  # our own constant statements
        return self._conn.execute(query, tuple(params))


class PostgresStore(SqlStore):
    """:class:`~reconciler.store.base.Store` on a PostgreSQL database. Thread-safe."""

    lock_share = " FOR SHARE"
    lock_update = " FOR UPDATE"

    def __init__(self, url: str, *, timeout: float = 5.0, readonly: bool = False) -> None:
        self._url = url
        self._shown = redact(url)
        self._conninfo = postgres_conninfo(url)
        self._timeout = timeout
        self._readonly = readonly
        self._lock = threading.RLock()
        self._conn: psycopg.Connection[Any] | None = None
        try:
            with self._lock:
                self._connection()
            if readonly:
                with self._read("reading its schema") as tx:
                    current = self._current_schema(tx)
                if current is None:
                    raise StateError(
                        f"{self._shown} is not a sepm-reconciler state (it has no schema_migrations)"
                    )
                self._refuse_newer(current)
            else:
                self._migrate()
        except BaseException:
            self.close()
            raise

    # --- plumbing --------------------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return self._shown

    @property
    def where(self) -> str:
        return self._shown

    def _connection(self) -> psycopg.Connection[Any]:
        conn = self._conn
        if conn is not None and not conn.closed and not conn.broken:
            return conn
        if conn is not None:
            conn.close()
            self._conn = None
        try:
            conn = psycopg.connect(
                self._conninfo,
                autocommit=True,
                connect_timeout=max(1, round(self._timeout)),
                application_name="sepm-reconciler",
            )
        except psycopg.Error as exc:
            raise StateError(f"cannot connect to the PostgreSQL state {self._shown}: {_cause(exc)}") from exc
        # a statement that waits for a lock longer than this fails (like SQLite's busy timeout)
        conn.execute(psql.SQL("SET lock_timeout = {}").format(psql.Literal(f"{int(self._timeout * 1000)}ms")))
        self._conn = conn
        return conn

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        try:
            yield
        except StateError:
            raise
        except psycopg.errors.LockNotAvailable as exc:
            raise StateError(
                f"the PostgreSQL state {self._shown} is locked by another session (waited {self._timeout:g} s) "
                f"while {doing}: another sepm-reconciler is writing to it; try again"
            ) from exc
        except psycopg.errors.ReadOnlySqlTransaction as exc:
            raise StateError(f"the PostgreSQL state {self._shown} is read-only while {doing}") from exc
        except psycopg.errors.InsufficientPrivilege as exc:
            raise StateError(
                f"the PostgreSQL user of {self._shown} lacks a privilege needed while {doing}: {_cause(exc)}"
            ) from exc
        except psycopg.OperationalError as exc:
            raise StateError(
                f"the PostgreSQL state {self._shown} is unreachable while {doing}: {_cause(exc)}"
            ) from exc
        except psycopg.Error as exc:
            raise StateError(
                f"the PostgreSQL state {self._shown} failed while {doing}: {_cause(exc)}"
            ) from exc

    @contextmanager
    def _write(self, doing: str) -> Iterator[Tx]:
        with self._lock, self._errors(doing):
            if self._readonly:
                raise StateError(f"the state {self._shown} was opened read-only: not {doing}")
            conn = self._connection()
            with conn.transaction():
                yield _PgTx(conn)

    @contextmanager
    def _read(self, doing: str) -> Iterator[Tx]:
        with self._lock, self._errors(doing):
            conn = self._connection()
            with conn.transaction():
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                yield _PgTx(conn)

    def _tables(self, tx: Tx) -> set[str]:
        rows = tx.run("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()").fetchall()
        return {row[0] for row in rows}

    def _migrations(self) -> tuple[Migration, ...]:
        return POSTGRES_MIGRATIONS

    def _before_migrating(self, tx: Tx) -> None:
        tx.run("SELECT pg_advisory_xact_lock(?)", (_MIGRATION_LOCK,))

    def _clear(self, tx: Tx) -> None:
        tx.run("ALTER TABLE events DISABLE TRIGGER USER")
        tx.run("DELETE FROM events")
        tx.run("DELETE FROM records")
        tx.run("ALTER TABLE events ENABLE TRIGGER USER")

    def verify(self) -> None:
        with self._read("checking it") as tx:
            current = self._current_schema(tx)
        if current is None:
            raise StateError(
                f"the PostgreSQL state {self._shown} lost its schema (schema_migrations is gone)"
            )
        self._refuse_newer(current)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def _cause(exc: BaseException) -> str:
    """libpq's message on one line (it never contains the password)."""
    text = " ".join(str(exc).split())
    return text or type(exc).__name__
