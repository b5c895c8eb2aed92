"""What only the PostgreSQL store has to show, on a real server: concurrent first opens, a read-only user, a server
restart under an open store."""

from __future__ import annotations

import threading
from dataclasses import replace

import psycopg
import pytest

from reconciler.core.record import new_record
from reconciler.errors import StateError
from reconciler.store import open_store
from reconciler.store.schema import LATEST
from tests.store.pgcluster import Cluster, cluster, unavailable
from tests.support.manager import T0


def test_two_daemons_opening_a_new_database_at_once_migrate_it_once(pg_url: str) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def open_one() -> None:
        barrier.wait()
        try:
            with open_store(pg_url) as store:
                assert store.schema_version() == LATEST
        except BaseException as exc:  # collected, asserted below
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with psycopg.connect(pg_url) as conn:
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]
    assert versions == list(range(1, LATEST + 1))


def test_a_read_only_database_user_can_read_the_state_and_cannot_change_it(
    pg_cluster: Cluster, pg_url: str
) -> None:
    with open_store(pg_url) as store:
        store.save(new_record("sepm-east-01", T0))
    database = pg_url.split("/")[-1].split("?")[0]
    with pg_cluster.admin() as admin:
        admin.execute("DROP ROLE IF EXISTS auditor")
        admin.execute("CREATE ROLE auditor LOGIN")
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("GRANT SELECT ON ALL TABLES IN SCHEMA public TO auditor")
    reader_url = pg_url.replace("postgresql://postgres@", "postgresql://auditor@")
    assert database in reader_url
    with open_store(reader_url, readonly=True) as store:
        [record] = store.all()
        assert record.server == "sepm-east-01" and store.events() == []
    with (
        pytest.raises(StateError, match="lacks a privilege needed while saving sepm-east-01"),
        open_store(reader_url) as store,
    ):
        store.save(replace(record, reason="not allowed"))


def test_the_store_reconnects_after_the_server_restarts() -> None:
    reason = unavailable()
    if reason is not None:
        pytest.skip(reason)
    with cluster() as pg:
        url = pg.create_database()
        with open_store(url) as store:
            saved = store.save(new_record("sepm-east-01", T0))
            pg.stop("immediate")
            with pytest.raises(
                StateError, match=r"the PostgreSQL state postgresql://postgres@/.* is unreachable"
            ):
                store.get("sepm-east-01")
            with pytest.raises(StateError, match="cannot connect to the PostgreSQL state"):
                store.get("sepm-east-01")  # still down: a clear error each time, never a hang
            pg.start()
            last: StateError | None = None
            for _ in range(3):  # the first call after the restart may still meet the broken connection
                try:
                    assert store.get("sepm-east-01") == saved
                    break
                except StateError as exc:
                    last = exc
            else:
                raise AssertionError(f"never reconnected: {last}")
            store.save(replace(saved, reason="after the restart"))
