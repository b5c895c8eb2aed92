"""The Store contract, run against every backend (a SQLite file and a PostgreSQL database on a real server):
records with compare-and-set, the append-only gapless event log, leases with epochs, fenced writes, migrations."""

from __future__ import annotations

import itertools
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing
from dataclasses import replace
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings

from reconciler.core.events import Event, EventKind
from reconciler.core.procedure import Phase
from reconciler.core.record import RolloutRecord, new_record
from reconciler.errors import ConflictError, FencedError, StateError
from reconciler.store import Fence, Store, open_store
from reconciler.store.schema import LATEST, POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS
from reconciler.store.url import sqlite_path
from tests.core.strategies import records
from tests.store.pgcluster import Cluster
from tests.support.manager import T0

TTL = timedelta(seconds=30)


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


def raw(url: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Run one statement on the backend directly, behind the store's back (what another tool could do)."""
    if url.startswith("sqlite:"):
        with closing(sqlite3.connect(sqlite_path(url), isolation_level=None)) as conn:
            return list(conn.execute(sql, params).fetchall())
    with psycopg.connect(url, autocommit=True) as conn:
        cursor = conn.execute(sql.replace("?", "%s"), params)  # type: ignore[arg-type]  # test SQL
        return [tuple(r) for r in cursor.fetchall()] if cursor.description else []


def test_saved_record_comes_back_with_its_version(state_url: str) -> None:
    with open_store(state_url) as store:
        assert store.get("sepm-east-01") is None
        saved = store.save(new_record("sepm-east-01", T0), [event("sepm-east-01", "first")])
        assert saved.version == 1
        again = store.save(replace(saved, reason="second"))
        assert again.version == 2
        assert store.get("sepm-east-01") == again
        assert [r.server for r in store.all()] == ["sepm-east-01"]
        [logged] = store.events("sepm-east-01")
        assert logged.reason == "first" and logged.id == 1
        assert store.schema_version() == LATEST


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def shared_store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('hypothesis') / 'state.db'}"
    else:
        pg: Cluster = request.getfixturevalue("pg_cluster")
        url = pg.create_database()
    store = open_store(url)
    yield store
    store.close()


SERIAL = itertools.count()


@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(records)
def test_any_record_round_trips_through_the_store(shared_store: Store, record: RolloutRecord) -> None:
    name = f"hyp-{next(SERIAL)}-{record.server}"
    saved = shared_store.save(replace(record, server=name, version=0))
    assert shared_store.get(name) == replace(record, server=name, version=saved.version)


def test_compare_and_set_lets_only_one_of_two_processes_advance(state_url: str) -> None:
    with open_store(state_url) as first:
        first.save(new_record("sepm-east-01", T0))
    with open_store(state_url) as a, open_store(state_url) as b:
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


def test_two_processes_creating_the_same_server_conflict(state_url: str) -> None:
    with open_store(state_url) as a, open_store(state_url) as b:
        a.save(new_record("sepm-east-01", T0))
        with pytest.raises(ConflictError, match="was stored by another process meanwhile"):
            b.save(new_record("sepm-east-01", T0))


def test_concurrent_writers_never_lose_an_update_and_event_ids_stay_gapless(state_url: str) -> None:
    with open_store(state_url) as store:
        store.save(new_record("sepm-east-01", T0))
    wins: list[int] = []

    def writer(n: int) -> None:
        with open_store(state_url, timeout=20) as mine:
            for i in range(15):
                current = mine.get("sepm-east-01")
                assert current is not None
                try:
                    mine.save(replace(current, reason=f"writer {n}"), [event("sepm-east-01", f"w{n}-{i}")])
                    wins.append(n)
                except ConflictError:
                    pass
                mine.append([event("sepm-west-01", f"w{n}-{i}"), event("sepm-west-01", f"w{n}-{i}b")])

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with open_store(state_url) as store:
        final = store.get("sepm-east-01")
        ids = [e.id for e in store.events()]
    assert final is not None and final.version == 1 + len(wins)
    assert ids == list(
        range(1, len(wins) + 4 * 15 * 2 + 1)
    )  # every write's events, no gap, no rolled-back id


def test_a_failing_save_writes_nothing(state_url: str) -> None:
    with open_store(state_url) as store:
        saved = store.save(new_record("sepm-east-01", T0))
        naive = replace(event("sepm-east-01", "bad"), at=T0.replace(tzinfo=None))
        with pytest.raises(ValueError, match="naive datetime"):
            store.save(replace(saved, reason="should not stick"), [event("sepm-east-01", "ok"), naive])
        stored = store.get("sepm-east-01")
        assert stored is not None and stored.version == 1 and stored.reason == saved.reason
        assert store.events() == []
        store.append([event("sepm-east-01", "next")])
        assert [e.id for e in store.events()] == [1]


def test_event_log_is_append_only(state_url: str) -> None:
    with open_store(state_url) as store:
        store.append([event("sepm-east-01", "kept")])
    for statement in ("UPDATE events SET reason = 'rewritten'", "DELETE FROM events"):
        with pytest.raises((sqlite3.IntegrityError, psycopg.Error), match="append-only"):
            raw(state_url, statement)
    with open_store(state_url) as store:
        assert [e.reason for e in store.events()] == ["kept"]


def test_events_filter_by_server_time_id_and_limit(state_url: str) -> None:
    with open_store(state_url) as store:
        store.append([event("east", f"e{i}", minutes=i) for i in range(5)] + [event("west", "w0", minutes=2)])
        assert [e.reason for e in store.events("east")] == ["e0", "e1", "e2", "e3", "e4"]
        assert [e.reason for e in store.events("east", limit=2)] == ["e3", "e4"]
        assert [e.reason for e in store.events(since=T0 + timedelta(minutes=2))] == ["e2", "e3", "e4", "w0"]
        assert [e.reason for e in store.events(after_id=4)] == ["e4", "w0"]
        assert [e.id for e in store.events()] == [1, 2, 3, 4, 5, 6]


def test_lease_has_one_holder_until_it_expires_and_each_hand_over_starts_an_epoch(state_url: str) -> None:
    with open_store(state_url) as a, open_store(state_url) as b:
        lease = a.acquire_lease("daemon", "host-a:1", ttl=TTL, now=T0)
        assert lease is not None and lease.expires_at == T0 + TTL and lease.epoch == 1
        assert b.acquire_lease("daemon", "host-b:2", ttl=TTL, now=T0 + timedelta(seconds=10)) is None
        renewed = a.renew_lease("daemon", "host-a:1", ttl=TTL, now=T0 + timedelta(seconds=20))
        assert renewed.expires_at == T0 + timedelta(seconds=50) and renewed.epoch == 1
        again = a.acquire_lease("daemon", "host-a:1", ttl=TTL, now=T0 + timedelta(seconds=21))
        assert again is not None and again.epoch == 1  # re-acquiring one's own lease is a renewal
        assert b.acquire_lease("daemon", "host-b:2", ttl=TTL, now=T0 + timedelta(seconds=49)) is None
        taken = b.acquire_lease("daemon", "host-b:2", ttl=TTL, now=T0 + timedelta(seconds=51))
        assert taken is not None and taken.holder == "host-b:2" and taken.epoch == 2
        with pytest.raises(FencedError, match="host-a:1 lost the lease daemon: it is held by host-b:2"):
            a.renew_lease("daemon", "host-a:1", ttl=TTL, now=T0 + timedelta(seconds=52))
        assert not a.release_lease("daemon", "host-a:1")
        assert b.release_lease("daemon", "host-b:2")
        assert a.lease("daemon") is None
        with pytest.raises(FencedError, match="it was released"):
            b.renew_lease("daemon", "host-b:2", ttl=TTL, now=T0 + timedelta(seconds=53))
        back = b.acquire_lease("daemon", "host-b:2", ttl=TTL, now=T0 + timedelta(seconds=54))
        assert back is not None and back.epoch == 3  # a release does not reset the epoch


def test_a_write_under_a_stale_epoch_is_refused_and_writes_nothing(state_url: str) -> None:
    with open_store(state_url) as leader, open_store(state_url) as standby:
        lease = leader.acquire_lease("daemon", "leader", ttl=TTL, now=T0)
        assert lease is not None
        saved = leader.save(new_record("sepm-east-01", T0), [event("sepm-east-01", "led")], fence=lease.fence)
        leader.append([event("sepm-east-01", "appended")], fence=lease.fence)
        leader.check_fence(lease.fence)
        # the leader pauses past its lease; the standby takes over (a new epoch)
        taken = standby.acquire_lease("daemon", "standby", ttl=TTL, now=T0 + TTL + timedelta(seconds=1))
        assert taken is not None and taken.epoch == lease.epoch + 1
        # the woken leader still believes it leads: every write it tries is refused, nothing is written
        with pytest.raises(
            FencedError,
            match=r"leader no longer holds the lease daemon at epoch 1 \(it is held by standby at epoch 2",
        ):
            leader.save(replace(saved, reason="stale"), [event("sepm-east-01", "stale")], fence=lease.fence)
        with pytest.raises(FencedError):
            leader.save(new_record("sepm-west-01", T0), fence=lease.fence)
        with pytest.raises(FencedError):
            leader.append([event("sepm-east-01", "stale")], fence=lease.fence)
        with pytest.raises(FencedError, match="no action started"):
            leader.check_fence(lease.fence)
        assert [r.server for r in standby.all()] == ["sepm-east-01"]
        assert standby.get("sepm-east-01") == saved
        assert [e.reason for e in standby.events()] == ["led", "appended"]
        # the new leader writes under its own epoch; a fence nobody ever held (epoch 0) writes nothing
        standby.save(replace(saved, reason="new leader"), fence=taken.fence)
        with pytest.raises(FencedError):
            standby.save(new_record("sepm-dmz-01", T0), fence=Fence("daemon", "standby", 0))


def test_a_fresh_state_records_every_migration(state_url: str, backend: str) -> None:
    with open_store(state_url):
        pass
    rows = raw(state_url, "SELECT version, description FROM schema_migrations ORDER BY version")
    migrations = SQLITE_MIGRATIONS if backend == "sqlite" else POSTGRES_MIGRATIONS
    assert rows == [(m.version, m.description) for m in migrations]
    assert rows[-1][0] == LATEST == 3


def test_a_state_from_a_newer_version_is_refused_naming_both_versions(state_url: str) -> None:
    with open_store(state_url):
        pass
    raw(state_url, "INSERT INTO schema_migrations VALUES (99, 'future', '2030-01-01T00:00:00Z')")
    with pytest.raises(
        StateError,
        match=r"has schema version 99, written by a newer sepm-reconciler \(this one knows up to 3\)",
    ):
        open_store(state_url)
    with pytest.raises(StateError, match="schema version 99"):
        open_store(state_url, readonly=True)


def test_another_applications_database_is_refused(state_url: str, backend: str) -> None:
    if backend == "sqlite":
        path = sqlite_path(state_url)
        path.parent.mkdir(parents=True)
    raw(state_url, "CREATE TABLE invoices (id INTEGER)")
    with pytest.raises(StateError, match=r"not a sepm-reconciler state \(it has the tables invoices\)"):
        open_store(state_url)


def test_a_dump_loads_into_an_empty_state_with_versions_and_event_ids_kept(
    state_url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    with open_store(state_url) as store:
        saved = store.save(new_record("sepm-east-01", T0), [event("sepm-east-01", "one")])
        store.save(replace(saved, reason="two"), [event("sepm-east-01", "two")])
        store.append([event("sepm-west-01", "three")])
        dump = store.dump()  # type: ignore[attr-defined]
        other_url = f"sqlite:///{tmp_path_factory.mktemp('copy') / 'copy.db'}"
        with open_store(other_url) as other:
            other.load(dump, replace_existing=False)  # type: ignore[attr-defined]
            assert other.all() == store.all()
            assert other.events() == store.events()
            other.append([event("sepm-west-01", "four")])
            assert [e.id for e in other.events()] == [1, 2, 3, 4]  # the counter continues after the copy
            with pytest.raises(
                StateError, match=r"not empty \(1 record\(s\), 4 event\(s\)\): nothing was copied"
            ):
                other.load(dump, replace_existing=False)  # type: ignore[attr-defined]
            other.load(dump, replace_existing=True)  # type: ignore[attr-defined]
            assert other.events() == store.events()
