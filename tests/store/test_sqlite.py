"""The SQLite store on a real file: permissions, WAL, migrations, compare-and-set, the event log, leases, failures."""

from __future__ import annotations

import itertools
import sqlite3
import stat
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from reconciler.core.events import Event, EventKind
from reconciler.core.procedure import Phase
from reconciler.core.record import RolloutRecord, new_record
from reconciler.errors import ConflictError, StateError
from reconciler.store import open_store
from reconciler.store.schema import LATEST, MIGRATIONS
from reconciler.store.sqlite import SqliteStore
from tests.core.strategies import records
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


def test_saved_record_comes_back_with_its_version(state: Path) -> None:
    with open_store(url(state)) as store:
        assert store.get("sepm-east-01") is None
        saved = store.save(new_record("sepm-east-01", T0), [event("sepm-east-01", "first")])
        assert saved.version == 1
        again = store.save(replace(saved, reason="second"))
        assert again.version == 2
        assert store.get("sepm-east-01") == again
        assert [r.server for r in store.all()] == ["sepm-east-01"]
        [logged] = store.events("sepm-east-01")
        assert logged.reason == "first" and logged.id is not None


@pytest.fixture(scope="module")
def shared_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqliteStore]:
    store = SqliteStore(tmp_path_factory.mktemp("hypothesis") / "state.db")
    yield store
    store.close()


SERIAL = itertools.count()


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(records)
def test_any_record_round_trips_through_the_store(shared_store: SqliteStore, record: RolloutRecord) -> None:
    name = f"hyp-{next(SERIAL)}-{record.server}"
    saved = shared_store.save(replace(record, server=name, version=0))
    assert shared_store.get(name) == replace(record, server=name, version=saved.version)


def test_compare_and_set_lets_only_one_of_two_processes_advance(state: Path) -> None:
    with open_store(url(state)) as first:
        first.save(new_record("sepm-east-01", T0))
    with open_store(url(state)) as a, open_store(url(state)) as b:
        read_a = a.get("sepm-east-01")
        read_b = b.get("sepm-east-01")
        assert read_a is not None and read_b is not None
        a.save(replace(read_a, phase=Phase.BREAKING_REPLICATION), [event("sepm-east-01", "a moved")])
        with pytest.raises(
            ConflictError, match=r"changed since it was read \(read at version 1, now version 2\)"
        ):
            b.save(replace(read_b, phase=Phase.DRIFTED), [event("sepm-east-01", "b moved")])
        stored = b.get("sepm-east-01")
        assert stored is not None and stored.phase is Phase.BREAKING_REPLICATION
        assert [e.reason for e in b.events("sepm-east-01")] == ["a moved"]  # b's events were not written


def test_two_processes_creating_the_same_server_conflict(state: Path) -> None:
    with open_store(url(state)) as a, open_store(url(state)) as b:
        a.save(new_record("sepm-east-01", T0))
        with pytest.raises(ConflictError, match="was stored by another process meanwhile"):
            b.save(new_record("sepm-east-01", T0))


def test_concurrent_writers_never_lose_an_update(state: Path) -> None:
    with open_store(url(state)) as store:
        store.save(new_record("sepm-east-01", T0))
    wins: list[int] = []

    def writer(n: int) -> None:
        with open_store(url(state), timeout=10) as mine:
            for _ in range(20):
                current = mine.get("sepm-east-01")
                assert current is not None
                try:
                    mine.save(replace(current, reason=f"writer {n}"))
                    wins.append(n)
                except ConflictError:
                    pass

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with open_store(url(state)) as store:
        final = store.get("sepm-east-01")
    assert final is not None and final.version == 1 + len(wins)


def test_a_failing_save_writes_nothing(state: Path) -> None:
    with open_store(url(state)) as store:
        saved = store.save(new_record("sepm-east-01", T0))
        naive = replace(event("sepm-east-01", "bad"), at=T0.replace(tzinfo=None))
        with pytest.raises(ValueError, match="naive datetime"):
            store.save(replace(saved, reason="should not stick"), [event("sepm-east-01", "ok"), naive])
        stored = store.get("sepm-east-01")
        assert stored is not None and stored.version == 1 and stored.reason == saved.reason
        assert store.events() == []


def test_event_log_is_append_only(state: Path) -> None:
    with open_store(url(state)) as store:
        store.append([event("sepm-east-01", "kept")])
    with sqlite3.connect(state) as raw:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            raw.execute("UPDATE events SET reason = 'rewritten'")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            raw.execute("DELETE FROM events")


def test_events_filter_by_server_time_and_limit(state: Path) -> None:
    with open_store(url(state)) as store:
        store.append([event("east", f"e{i}", minutes=i) for i in range(5)] + [event("west", "w0", minutes=2)])
        assert [e.reason for e in store.events("east")] == ["e0", "e1", "e2", "e3", "e4"]
        assert [e.reason for e in store.events("east", limit=2)] == ["e3", "e4"]
        assert [e.reason for e in store.events(since=T0 + timedelta(minutes=2))] == ["e2", "e3", "e4", "w0"]
        ids = [e.id or 0 for e in store.events()]
        assert 0 not in ids and ids == sorted(ids)


def test_lease_has_one_holder_until_it_expires(state: Path) -> None:
    ttl = timedelta(seconds=30)
    with open_store(url(state)) as a, open_store(url(state)) as b:
        lease = a.acquire_lease("daemon", "host-a:1", ttl=ttl, now=T0)
        assert lease is not None and lease.expires_at == T0 + ttl
        assert b.acquire_lease("daemon", "host-b:2", ttl=ttl, now=T0 + timedelta(seconds=10)) is None
        renewed = a.renew_lease("daemon", "host-a:1", ttl=ttl, now=T0 + timedelta(seconds=20))
        assert renewed.expires_at == T0 + timedelta(seconds=50)
        assert b.acquire_lease("daemon", "host-b:2", ttl=ttl, now=T0 + timedelta(seconds=49)) is None
        taken = b.acquire_lease("daemon", "host-b:2", ttl=ttl, now=T0 + timedelta(seconds=51))
        assert taken is not None and taken.holder == "host-b:2"
        with pytest.raises(ConflictError, match="host-a:1 lost the lease daemon: it is held by host-b:2"):
            a.renew_lease("daemon", "host-a:1", ttl=ttl, now=T0 + timedelta(seconds=52))
        assert not a.release_lease("daemon", "host-a:1")
        assert b.release_lease("daemon", "host-b:2")
        assert a.lease("daemon") is None
        with pytest.raises(ConflictError, match="it was released"):
            b.renew_lease("daemon", "host-b:2", ttl=ttl, now=T0 + timedelta(seconds=53))


def test_fresh_state_records_every_migration(state: Path) -> None:
    with open_store(url(state)):
        pass
    with sqlite3.connect(state) as raw:
        rows = raw.execute("SELECT version, description FROM schema_migrations ORDER BY version").fetchall()
    assert rows == [(m.version, m.description) for m in MIGRATIONS]
    assert rows[-1][0] == LATEST


def test_an_older_state_is_migrated_in_place(state: Path) -> None:
    state.parent.mkdir()
    body = new_record("sepm-east-01", T0)
    with sqlite3.connect(state) as raw:  # a state written by the version that knew migration 1 only
        raw.execute(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, description TEXT, applied_at TEXT)"
        )
        for statement in MIGRATIONS[0].statements:
            raw.execute(statement)
        raw.execute("INSERT INTO schema_migrations VALUES (1, 'old', '2026-01-01T00:00:00Z')")
    with open_store(url(state)) as store:
        store.save(body)
        assert store.acquire_lease("daemon", "me", ttl=timedelta(seconds=5), now=T0) is not None
        assert isinstance(store, SqliteStore) and store.schema_version() == LATEST
        assert store.get("sepm-east-01") is not None


def test_a_state_from_a_newer_version_is_refused(state: Path) -> None:
    with open_store(url(state)):
        pass
    with sqlite3.connect(state) as raw:
        raw.execute("INSERT INTO schema_migrations VALUES (99, 'future', '2030-01-01T00:00:00Z')")
    with pytest.raises(
        StateError, match=r"schema version 99, written by a newer sepm-reconciler \(this one knows up to 2\)"
    ):
        open_store(url(state))


def test_a_corrupt_file_is_refused_clearly(state: Path) -> None:
    state.parent.mkdir()
    state.write_bytes(b"this is not a database, it is a text file\n" * 200)
    with pytest.raises(StateError, match="is corrupt or not a SQLite database") as error:
        open_store(url(state))
    assert isinstance(error.value.__cause__, sqlite3.DatabaseError)


def test_another_applications_database_is_refused(state: Path) -> None:
    state.parent.mkdir()
    with sqlite3.connect(state) as raw:
        raw.execute("CREATE TABLE invoices (id INTEGER)")
    with pytest.raises(StateError, match=r"not a sepm-reconciler state \(it has the tables invoices\)"):
        open_store(url(state))


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
