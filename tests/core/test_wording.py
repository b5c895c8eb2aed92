"""Reasons are read by people: numbers, ratios, times and durations are written one way everywhere."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from reconciler.core import wording


@pytest.mark.parametrize(
    ("ratio", "text"),
    [(1.0, "100%"), (0.965, "96.5%"), (0.9652, "96.5%"), (0.99996, "99.9%"), (0.0, "0%"), (0.5, "50%")],
    ids=["all", "one-decimal", "rounded", "never-rounded-up-to-100", "none", "half"],
)
def test_percent(ratio: float, text: str) -> None:
    assert wording.percent(ratio) == text


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(days=3), "3 days"),
        (timedelta(days=1, hours=4, minutes=10), "1 day 4 h"),
        (timedelta(hours=5, minutes=20), "5 h 20 min"),
        (timedelta(hours=2), "2 h"),
        (timedelta(minutes=12), "12 min"),
        (timedelta(seconds=45), "45 s"),
    ],
    ids=["days", "day-hours", "hours-minutes", "hours", "minutes", "seconds"],
)
def test_span(delta: timedelta, text: str) -> None:
    assert wording.span(delta) == text


def test_counts_times_and_lists() -> None:
    assert wording.count(1834) == "1,834"
    assert wording.when(datetime(2026, 12, 2, 8, 0, tzinfo=UTC)) == "2026-12-02 08:00 UTC"
    assert wording.when(datetime(2026, 12, 2, 8, 0, 5, tzinfo=UTC)) == "2026-12-02 08:00:05 UTC"
    assert wording.names(["a", "b", "c", "d", "e", "f", "g"]) == "a, b, c, d, e and 2 more"
    assert wording.ports(["clients", "console", "api"], of=3) == "all ports"
    assert wording.ports(["clients"], of=3) == "the clients port"
    assert wording.ports(["clients", "api"], of=3) == "the clients and api ports"
    assert wording.fingerprint("sha256:" + "ab" * 32) == "sha256:abababababab…"
