"""The offline note says how old the observations are, in the words a person reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from reconciler.core.drift import Seen
from reconciler.report.assemble import Source
from reconciler.report.collect import _age_note

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def _source(name: str, age: timedelta) -> Source:
    return Source(name=name, server=None, seen=Seen(observed_at=NOW - age, live=False, api_reachable=True))


@pytest.mark.parametrize(
    ("ages", "expected"),
    [
        pytest.param([timedelta(seconds=5)], "are 5 s old", id="one"),
        pytest.param([timedelta(seconds=5.1), timedelta(seconds=5.3)], "are 5 s old", id="same-when-rounded"),
        pytest.param([timedelta(hours=3), timedelta(days=2)], "are between 3 h and 2 days old", id="range"),
    ],
)
def test_the_age_of_offline_observations_is_one_span_when_they_read_the_same(
    ages: list[timedelta], expected: str
) -> None:
    note = _age_note([_source(f"s{i}", age) for i, age in enumerate(ages)], NOW)
    assert expected in note


def test_no_observation_at_all_is_said_plainly() -> None:
    assert "no server has been observed yet" in _age_note([Source(name="x", server=None)], NOW)
