"""The SQLite store: one file, WAL journal, mode 0600 from creation, versioned schema, compare-and-set writes.

Every write runs in ``BEGIN IMMEDIATE`` (the write lock is taken up front, so two writers serialise instead of
failing half-way) with ``synchronous=FULL``: an attempt recorded before a hook runs is on disk before the hook
starts. A writer waits up to ``timeout`` seconds for another one, then fails with a clear :class:`StateError`.

The file is checked, not trusted: its header must be SQLite's before SQLite opens it (8 KiB of garbage is an error,
not an empty state that a WAL file papers over), and :meth:`SqliteStore.verify` notices when the file under an open
store was deleted, replaced, truncated or made unreadable — the writes of this process would otherwise go to a file
nobody will ever read again. ``readonly=True`` opens without ever writing (``status`` by a read-only user, or on a
read-only copy). :meth:`SqliteStore.backup` takes a consistent copy with SQLite's online backup API.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from reconciler.errors import StateError
from reconciler.store._sql import Cursor, SqlStore, Tx
from reconciler.store.schema import SQLITE_MIGRATIONS, Migration

__all__ = ["SQLITE_HEADER", "SqliteStore", "check_header"]

SQLITE_HEADER = b"SQLite format 3\x00"


def _create_private(path: Path) -> None:
    """Create ``path`` empty with mode 0600 (and its directory 0700) before SQLite opens it."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # created by another process meanwhile: fine
        return
    os.close(fd)
    path.chmod(0o600)  # whatever the umask


def check_header(path: Path, *, allow_empty: bool = True, fd: int | None = None) -> None:
    """Raise :class:`StateError` unless ``path`` starts with SQLite's header and is at least as long as the header
    says it is (or is empty, a state about to be created, when ``allow_empty``).

    ``fd``: read through this descriptor, kept open by the caller, instead of opening the file. A process that has
    the database open in SQLite must never open *and close* another descriptor of the file: closing any descriptor
    drops every POSIX lock the process holds on it — SQLite's included — and another process could then delete
    the ``-wal`` this one still writes to (every later write lost)."""
    try:
        if fd is not None:
            head = os.pread(fd, 100, 0)
            size = os.fstat(fd).st_size
        else:
            with path.open("rb") as handle:
                head = handle.read(100)
                size = os.fstat(handle.fileno()).st_size
    except FileNotFoundError as exc:
        raise StateError(f"the state file {path} is gone (deleted or moved)") from exc
    except OSError as exc:
        raise StateError(f"the state file {path} cannot be read: {exc.strerror or exc}") from exc
    if size == 0 and allow_empty:
        return
    if size == 0:
        raise StateError(
            f"the state file {path} was truncated to 0 bytes; restore it (sepm-reconciler state restore)"
        )
    if not head.startswith(SQLITE_HEADER):
        raise StateError(
            f"the state file {path} is corrupt or not a SQLite database (its first bytes are not SQLite's "
            "header); restore it from a backup (sepm-reconciler state restore) or point --state elsewhere"
        )
    if len(head) == 100:
        page_size = int.from_bytes(head[16:18], "big")
        page_size = 65536 if page_size == 1 else page_size
        pages = int.from_bytes(head[28:32], "big")
        valid = head[24:28] == head[92:96]  # the in-header size is valid only if written by a recent SQLite
        if valid and page_size and pages and size < pages * page_size:
            raise StateError(
                f"the state file {path} is truncated ({size} bytes, its header says {pages * page_size}); restore "
                "it from a backup (sepm-reconciler state restore)"
            )


class _SqliteTx:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def run(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        return self._conn.execute(sql, tuple(params))


class SqliteStore(SqlStore):
    """:class:`~reconciler.store.base.Store` on a SQLite file. Thread-safe (one connection behind a lock)."""

    def __init__(
        self, path: Path, *, create: bool = True, timeout: float = 5.0, readonly: bool = False
    ) -> None:
        self._path = path
        self._timeout = timeout
        self._readonly = readonly
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
            if not create or readonly:
                raise StateError(
                    f"no state at {path}: nothing has been reconciled with this state yet (run "
                    "sepm-reconciler reconcile or the daemon first), or pass --state / set SEPM_RECONCILER_STATE"
                )
            self._create(path)
        # one descriptor for the header checks, opened before SQLite's and closed after it (see check_header)
        try:
            self._fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        except OSError as exc:
            raise StateError(f"the state file {path} cannot be read: {exc.strerror or exc}") from exc
        try:
            check_header(path, fd=self._fd)
            self._conn = self._connect()
        except BaseException:
            os.close(self._fd)
            raise
        try:
            with self._errors("opening it"):
                if readonly:
                    with self._read("reading its schema") as tx:
                        current = self._current_schema(tx)
                    if current is None:
                        raise StateError(
                            f"{path} is not a sepm-reconciler state (it has no schema_migrations)"
                        )
                    self._refuse_newer(current)
                else:
                    self._conn.execute("PRAGMA foreign_keys = ON")
                    mode = self._conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                    if str(mode).lower() != "wal":
                        raise StateError(f"the state database {path} cannot use WAL journaling (got {mode})")
                    self._conn.execute("PRAGMA synchronous = FULL")
                    self._migrate()
            self._identity = self._stat_identity()
        except BaseException:
            self._conn.close()
            os.close(self._fd)
            raise

    @staticmethod
    def _create(path: Path) -> None:
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

    def _connect(self) -> sqlite3.Connection:
        path = self._path
        try:
            if not self._readonly:
                return sqlite3.connect(
                    path, timeout=self._timeout, isolation_level=None, check_same_thread=False
                )
            uri = f"file:{quote(str(path.resolve()))}?mode=ro"
            conn = sqlite3.connect(
                uri, uri=True, timeout=self._timeout, isolation_level=None, check_same_thread=False
            )
            try:
                conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
            except sqlite3.OperationalError:
                # A read-only WAL database needs its -shm file: when it cannot be created (a read-only directory)
                # and no -wal holds anything, the main file is the whole state — read it as immutable.
                conn.close()
                if Path(f"{path}-wal").exists():
                    raise
                conn = sqlite3.connect(
                    f"{uri}&immutable=1",
                    uri=True,
                    timeout=self._timeout,
                    isolation_level=None,
                    check_same_thread=False,
                )
            return conn
        except sqlite3.Error as exc:
            raise StateError(f"cannot open the state database {path}: {exc}") from exc

    # --- plumbing --------------------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"sqlite:///{self._path}"

    @property
    def where(self) -> str:
        return str(self._path)

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
            if "readonly" in text:
                raise StateError(
                    f"the state database {self._path} is read-only for this user while {doing}: commands that "
                    "change the state must run as the user that owns it (status, history and report only read)"
                ) from exc
            raise StateError(f"the state database {self._path} failed while {doing}: {text}") from exc
        except sqlite3.DatabaseError as exc:
            raise StateError(
                f"the state database {self._path} is corrupt or not a SQLite database ({exc}) — found while "
                f"{doing}; restore it from a backup (sepm-reconciler state restore) or point --state elsewhere"
            ) from exc

    @contextmanager
    def _write(self, doing: str) -> Iterator[Tx]:
        """One write transaction (BEGIN IMMEDIATE … COMMIT), rolled back on any error."""
        with self._lock, self._errors(doing):
            if self._readonly:
                raise StateError(f"the state {self._path} was opened read-only: not {doing}")
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield _SqliteTx(self._conn)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    @contextmanager
    def _read(self, doing: str) -> Iterator[Tx]:
        """One read transaction: every statement in it sees the same snapshot (WAL)."""
        with self._lock, self._errors(doing):
            self._conn.execute("BEGIN")
            try:
                yield _SqliteTx(self._conn)
            finally:
                self._conn.execute("COMMIT")

    def _tables(self, tx: Tx) -> set[str]:
        return {row[0] for row in tx.run("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()}

    def _migrations(self) -> tuple[Migration, ...]:
        return SQLITE_MIGRATIONS

    def _clear(self, tx: Tx) -> None:
        tx.run("DROP TRIGGER events_no_delete")
        tx.run("DELETE FROM events")
        tx.run("DELETE FROM records")
        tx.run(next(s for s in SQLITE_MIGRATIONS[0].statements if "events_no_delete" in s))

    # --- the file under us -------------------------------------------------------------------------------------------

    def _stat_identity(self) -> tuple[int, int]:
        st = self._path.stat()
        return st.st_dev, st.st_ino

    def verify(self) -> None:
        path = self._path
        try:
            identity = self._stat_identity()
        except FileNotFoundError as exc:
            raise StateError(
                f"the state file {path} was deleted while this process had it open: what it writes now would be "
                "lost; restore the state (sepm-reconciler state restore) and restart"
            ) from exc
        except OSError as exc:
            raise StateError(f"the state file {path} cannot be reached: {exc.strerror or exc}") from exc
        if identity != self._identity:
            raise StateError(
                f"the state file {path} was replaced by another file while this process had it open (inode "
                f"{self._identity[1]} → {identity[1]}): restart to use the new file deliberately"
            )
        check_header(path, allow_empty=False, fd=self._fd)
        with self._read("checking it"):
            pass

    def check_integrity(self) -> None:
        """``PRAGMA quick_check`` over the whole file (the daemon runs it once at start)."""
        with self._read("checking its integrity") as tx:
            rows = [r[0] for r in tx.run("PRAGMA quick_check").fetchall()]
        if rows != ["ok"]:
            raise StateError(
                f"the state file {self._path} is damaged ({'; '.join(rows[:3])}); restore it from a backup "
                "(sepm-reconciler state restore)"
            )

    def backup(self, target: Path) -> None:
        """A consistent copy of the whole state into a new file ``target`` (mode 0600), with SQLite's online
        backup API: safe while a daemon writes; the copy includes what is still in the ``-wal``."""
        if target.exists():
            raise StateError(f"{target} exists: name a new file, or remove it first")
        self._create(target)
        try:
            dest = sqlite3.connect(target)
            try:
                with self._lock, self._errors("backing it up"):
                    self._conn.backup(dest)
                dest.execute("PRAGMA journal_mode = DELETE")
            finally:
                dest.close()
        except BaseException:
            target.unlink(missing_ok=True)
            raise

    def close(self) -> None:
        with self._lock:
            self._conn.close()
            if self._fd >= 0:
                os.close(self._fd)  # after SQLite's own: nothing of ours can drop its locks any more
                self._fd = -1
