"""The SQLite store on a real file: permissions, WAL, migrations, compare-and-set, the event log, leases, failures."""

from __future__ import annotations

import json
import shutil
import sqlite3
import stat
import subprocess
import sys
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from reconciler.core.events import Event, EventKind
from reconciler.core.procedure import Phase
from reconciler.core.record import new_record
from reconciler.errors import StateError
from reconciler.store import open_store
from reconciler.store.schema import LATEST, SQLITE_MIGRATIONS
from reconciler.store.sqlite import SqliteStore
from tests.support.manager import T0


def url(path: Path) -> str:
    return f"sqlite:///{path}"


def event(server: str, reason: str, minutes: int = 0) -> Event:
    return Event(
        at=T0 + timedelta(minutes=minutes),
        server=server,
        kind=EventKind.TRANSITION,
        reason=reason,
        from_phase=Phase.NEW,
        to_phase=Phase.IN_SYNC,
        details={"step": 0},
    )


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "state" / "state.db"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_new_state_is_private_and_uses_wal(state: Path) -> None:
    with open_store(url(state)) as store:
        store.save(new_record("sepm-east-01", T0))
        assert mode(state) == 0o600
        assert mode(state.parent) == 0o700
        for companion in (Path(f"{state}-wal"), Path(f"{state}-shm")):
            assert companion.exists()
            assert mode(companion) == 0o600, companion
        with sqlite3.connect(state) as raw:
            assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_read_only_commands_do_not_create_a_state(state: Path) -> None:
    with pytest.raises(StateError, match=r"no state at .*state\.db: nothing has been reconciled"):
        open_store(url(state), create=False)
    assert not state.exists()


@pytest.mark.parametrize("known", [1, 2], ids=["schema-1", "schema-2"])
def test_an_older_state_is_migrated_in_place_keeping_its_records_events_and_lease(
    state: Path, known: int
) -> None:
    state.parent.mkdir()
    body = json.dumps(new_record("sepm-east-01", T0).to_storage())
    with sqlite3.connect(state) as raw:  # a state written by the version that knew migrations up to `known`
        raw.execute(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, description TEXT, applied_at TEXT)"
        )
        for migration in SQLITE_MIGRATIONS[:known]:
            for statement in migration.statements:
                raw.execute(statement)
            raw.execute(
                "INSERT INTO schema_migrations VALUES (?, 'old', '2026-01-01T00:00:00Z')",
                (migration.version,),
            )
        raw.execute(
            "INSERT INTO records VALUES ('sepm-east-01', 4, 'new', 0, NULL, '2026-12-01T08:00:00Z', "
            "'2026-12-01T08:00:00Z', ?)",
            (body,),
        )
        for reason in ("one", "two"):
            raw.execute(
                "INSERT INTO events (at, server, kind, actor, reason, details) VALUES "
                "('2026-12-01T08:00:00Z', 'sepm-east-01', 'transition', 'reconciler', ?, '{}')",
                (reason,),
            )
        if known >= 2:
            raw.execute(
                "INSERT INTO leases VALUES ('daemon', 'old-host:1', '2026-12-01T08:00:00Z', "
                "'2026-12-01T08:00:00Z', '2026-12-01T08:00:30Z')"
            )
    with open_store(url(state)) as store:
        assert isinstance(store, SqliteStore) and store.schema_version() == LATEST
        record = store.get("sepm-east-01")
        assert record is not None and record.version == 4
        store.append([event("sepm-east-01", "three")])
        assert [(e.id, e.reason) for e in store.events()] == [(1, "one"), (2, "two"), (3, "three")]
        if known >= 2:
            old = store.lease("daemon")
            assert old is not None and old.holder == "old-host:1" and old.epoch == 1
        taken = store.acquire_lease("daemon", "me", ttl=timedelta(seconds=5), now=T0 + timedelta(hours=1))
        assert taken is not None and taken.epoch == (2 if known >= 2 else 1)


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"this is not a database, it is a text file\n" * 200, id="text"),
        pytest.param(bytes(range(256)) * 32, id="8KiB-garbage"),
        pytest.param(b"\0" * 8192, id="8KiB-zeros"),
    ],
)
def test_a_corrupt_file_is_refused_clearly(state: Path, content: bytes) -> None:
    state.parent.mkdir()
    state.write_bytes(content)
    with pytest.raises(StateError, match="is corrupt or not a SQLite database"):
        open_store(url(state))
    with pytest.raises(StateError, match="is corrupt or not a SQLite database"):
        open_store(url(state), create=False, readonly=True)


def test_garbage_over_a_state_whose_wal_still_holds_everything_is_refused_at_start(state: Path) -> None:
    """A daemon killed with its records in the -wal, then 8 KiB of garbage over the main file: SQLite alone would
    read page 1 from the WAL and start as if nothing happened."""
    store = SqliteStore(state)
    for n in range(20):
        store.save(new_record(f"sepm-{n:02d}", T0))
    assert Path(f"{state}-wal").stat().st_size > 0
    with state.open("r+b") as handle:  # the daemon is still running: its WAL is not checkpointed
        handle.write(bytes(range(256)) * 32)
    with pytest.raises(StateError, match="its first bytes are not SQLite's header"):
        open_store(url(state))
    store.close()


def test_verify_notices_the_file_deleted_replaced_truncated_or_unreadable_under_an_open_store(
    state: Path,
) -> None:
    store = SqliteStore(state)
    saved = store.save(new_record("sepm-east-01", T0))
    store.verify()
    # deleted: SQLite goes on writing into the unlinked inode, which nobody will ever read
    moved = state.with_name("moved.db")
    state.rename(moved)
    with pytest.raises(StateError, match=r"state\.db was deleted while this process had it open"):
        store.verify()
    store.save(replace(saved, reason="still writes somewhere"))  # what makes this dangerous
    # replaced: another file (a restored copy) now has the name
    shutil.copyfile(moved, state)
    with pytest.raises(
        StateError, match=r"was replaced by another file while this process had it open \(inode"
    ):
        store.verify()
    store.close()
    # truncated, or overwritten, under a store that opened it
    store = SqliteStore(state)
    size = state.stat().st_size
    with state.open("r+b") as handle:
        handle.truncate(size // 2)
    with pytest.raises(StateError, match=r"is truncated \(\d+ bytes, its header says \d+\)"):
        store.verify()
    with state.open("r+b") as handle:
        handle.truncate(0)
        handle.write(b"\0" * 4096)
    with pytest.raises(StateError, match="its first bytes are not SQLite's header"):
        store.verify()
    store.close()


def test_verify_keeps_sqlite_s_locks_so_another_process_closing_the_state_cannot_drop_this_one_s_writes(
    state: Path,
) -> None:
    """Closing any descriptor of a file drops every POSIX lock the process holds on it. When ``verify`` opened and
    closed the file, the next process to close the state (``approve`` while a daemon ran) believed it was the last
    one, checkpointed and deleted the ``-wal`` — and every later write of the daemon went into the deleted file."""
    store = SqliteStore(state)
    saved = store.save(new_record("sepm-east-01", T0))
    store.verify()  # what the daemon does every lease period
    reader = (
        "import sys, sqlite3; c = sqlite3.connect(sys.argv[1]); c.execute('SELECT 1 FROM records'); c.close()"
    )
    other = subprocess.run(
        [sys.executable, "-c", reader, str(state)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert other.returncode == 0, other.stderr
    store.save(replace(saved, reason="written after the other process closed the state"))
    store.verify()
    with sqlite3.connect(state) as raw:  # what a new process sees while this one still has the state open
        reasons = [row[0] for row in raw.execute("SELECT body FROM records").fetchall()]
    store.close()
    assert any("written after the other process" in body for body in reasons), reasons


def test_a_backup_is_a_consistent_single_file_copy_even_while_the_wal_holds_the_records(
    state: Path, tmp_path: Path
) -> None:
    store = SqliteStore(state)
    for n in range(5):
        store.save(new_record(f"sepm-{n}", T0), [event(f"sepm-{n}", "made")])
    copy = tmp_path / "naive-copy.db"
    shutil.copyfile(state, copy)  # what `cp` of a running daemon's file gets: the records are in the -wal
    with SqliteStore(copy) as naive:
        assert naive.all() == []
    target = tmp_path / "backup" / "state-backup.db"
    store.backup(target)
    assert mode(target) == 0o600
    assert not Path(f"{target}-wal").exists()
    with SqliteStore(target, create=False, readonly=True) as backup:
        assert backup.all() == store.all() and backup.events() == store.events()
    with pytest.raises(StateError, match="exists: name a new file"):
        store.backup(target)
    store.close()


def test_a_locked_state_gives_a_clear_error(state: Path) -> None:
    with open_store(url(state)) as store:
        saved = store.save(new_record("sepm-east-01", T0))
    blocker = sqlite3.connect(state, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        with open_store(url(state), timeout=0.2) as store:
            assert store.get("sepm-east-01") == saved  # readers are not blocked by a writer (WAL)
            with pytest.raises(
                StateError, match=r"is locked by another process \(waited 0.2 s\) while saving"
            ):
                store.save(replace(saved, reason="blocked"))
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()


@pytest.mark.parametrize(
    ("where", "message"),
    [
        (
            "a-directory",
            r"is a directory, not a SQLite file: name a file, e\.g\. sqlite:///.*/state/state\.db",
        ),
        (
            "under-a-file",
            r"cannot create the state database .*/state/state\.db: .*/state is a file, not a directory",
        ),
        ("name-too-long", r"cannot reach the state database .*: File name too long; run sepm-reconciler as"),
    ],
    ids=["a-directory", "under-a-file", "unreachable-path"],
)
def test_a_state_path_that_cannot_hold_a_database_is_refused_clearly(
    tmp_path: Path, where: str, message: str
) -> None:
    path = tmp_path / "state"
    if where == "a-directory":
        path.mkdir()
    elif where == "under-a-file":
        path.write_text("not a directory")
        path = path / "state.db"
    else:
        path = tmp_path / ("x" * 300) / "state.db"
    for create in (True, False):
        with pytest.raises(StateError, match=message if create or where != "under-a-file" else "no state at"):
            open_store(url(path), create=create)
