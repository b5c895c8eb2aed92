"""Fixtures of the high-availability tests: a throwaway PostgreSQL cluster and a lab of four managers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from reconciler.cli._demo_lab import Lab
from tests.daemon.kit import make_lab
from tests.ha.kit import HA_PLANS
from tests.store.pgcluster import Cluster, cluster, unavailable


@pytest.fixture(scope="session")
def ha_lab(tmp_path_factory: pytest.TempPathFactory) -> Lab:
    return make_lab(tmp_path_factory.mktemp("ha-lab"), HA_PLANS)


@pytest.fixture
def pg() -> Iterator[Cluster]:
    """A cluster of the test's own (some tests stop and restart it)."""
    reason = unavailable()
    if reason is not None:
        pytest.skip(reason)
    with cluster() as running:
        yield running
