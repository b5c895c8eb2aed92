"""Fixtures of the store tests: a state URL per backend (SQLite file, PostgreSQL database on a throwaway cluster).

The PostgreSQL cluster is started once per session; each test gets a new empty database. Where no cluster can be
had, the PostgreSQL cases skip with the reason (``tests.store.pgcluster.unavailable``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.store.pgcluster import Cluster, cluster, unavailable


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    reason = unavailable()
    if reason is not None:
        pytest.skip(reason)
    with cluster() as pg:
        yield pg


@pytest.fixture
def pg_url(pg_cluster: Cluster) -> str:
    return pg_cluster.create_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def state_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A fresh, empty state of the test's backend."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'state' / 'state.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url
