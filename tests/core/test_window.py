"""Maintenance windows: days, midnight spans, time zones and daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from reconciler.core.spec import Window
from reconciler.core.window import describe, window_state

WEEKEND_NIGHTS = {"days": ["sat", "sun"], "start": "22:00", "end": "04:00", "timezone": "Europe/Madrid"}
OFFICE = {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "17:00", "timezone": "UTC"}


def window(data: dict[str, Any]) -> Window:
    return Window.model_validate(data)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("data", "at", "is_open", "change"),
    [
        # 2026-12-05 is a Saturday; Madrid is UTC+1 in December.
        (WEEKEND_NIGHTS, "2026-12-05T20:59", False, "2026-12-05T21:00"),
        (WEEKEND_NIGHTS, "2026-12-05T21:00", True, "2026-12-06T03:00"),
        (
            WEEKEND_NIGHTS,
            "2026-12-06T02:59",
            True,
            "2026-12-06T03:00",
        ),  # Sunday 03:59 local: Saturday's opening
        (WEEKEND_NIGHTS, "2026-12-06T03:00", False, "2026-12-06T21:00"),
        (
            WEEKEND_NIGHTS,
            "2026-12-07T02:00",
            True,
            "2026-12-07T03:00",
        ),  # Monday 03:00 local: Sunday's opening
        (WEEKEND_NIGHTS, "2026-12-07T03:00", False, "2026-12-12T21:00"),  # closed until next Saturday
        (OFFICE, "2026-12-04T16:59", True, "2026-12-04T17:00"),  # Friday
        (OFFICE, "2026-12-04T17:00", False, "2026-12-07T09:00"),  # over the weekend
        # Madrid in July is UTC+2: the same wall times are an hour earlier in UTC.
        (WEEKEND_NIGHTS, "2026-07-04T20:00", True, "2026-07-05T02:00"),
    ],
    ids=[
        "sat-before",
        "sat-opens",
        "sun-early-still-open",
        "sun-closes",
        "mon-early-sunday-opening",
        "mon-closed-until-sat",
        "fri-office",
        "fri-evening-until-mon",
        "summer-offset",
    ],
)
def test_window_open_and_next_change(data: dict[str, Any], at: str, is_open: bool, change: str) -> None:
    state = window_state(window(data), utc(at))
    assert state.open is is_open
    assert state.error is None
    if is_open:
        assert state.closes_at == utc(change)
        assert state.next_opens_at is None
    else:
        assert state.next_opens_at == utc(change)
        assert state.closes_at is None


def test_no_window_is_always_open() -> None:
    state = window_state(None, utc("2026-12-01T12:00"))
    assert state.open
    assert describe(None) == "any time"


def test_spring_forward_nonexistent_start_uses_the_offset_before_the_change() -> None:
    # 2026-03-29 (a Sunday) Madrid jumps 02:00 → 03:00; a 02:30 start does not exist that day.
    data = {"days": ["sun"], "start": "02:30", "end": "05:00", "timezone": "Europe/Madrid"}
    state = window_state(window(data), utc("2026-03-29T01:00"))
    assert not state.open
    assert state.next_opens_at == utc("2026-03-29T01:30")
    assert window_state(window(data), utc("2026-03-29T01:30")).open


def test_describe_lists_days_in_week_order() -> None:
    data = {"days": ["sun", "sat"], "start": "22:00", "end": "04:00", "timezone": "Europe/Madrid"}
    assert describe(window(data)) == "sat, sun 22:00–04:00 Europe/Madrid"


def test_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        window_state(window(OFFICE), datetime(2026, 12, 1, 12, 0))  # the point of the test
