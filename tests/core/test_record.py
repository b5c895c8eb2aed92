"""The rollout record and events: explicit, JSON-safe storage form, exact round trips, precise corruption errors."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given

from reconciler.core.events import Event
from reconciler.core.procedure import Phase
from reconciler.core.record import RECORD_SCHEMA, RolloutRecord, Stall, new_record
from reconciler.errors import StateError
from tests.core.strategies import events, records
from tests.support.manager import T0

JSON_TYPES = (str, int, float, bool, type(None))


def only_json(value: Any) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and only_json(v) for k, v in value.items())
    if isinstance(value, list):
        return all(only_json(v) for v in value)
    return isinstance(value, JSON_TYPES)


@given(records)
def test_record_round_trips_through_json_exactly(record: RolloutRecord) -> None:
    stored = record.to_storage()
    assert only_json(stored)
    assert stored["schema"] == RECORD_SCHEMA
    assert RolloutRecord.from_storage(json.loads(json.dumps(stored))) == record


@given(events)
def test_event_round_trips_through_json_exactly(event: Event) -> None:
    stored = event.to_storage()
    assert only_json(stored)
    assert Event.from_storage(json.loads(json.dumps(stored))) == event


def test_storage_times_are_utc_iso_8601_with_z() -> None:
    stored = new_record("sepm-east-01", T0).to_storage()
    assert stored["entered_at"] == "2026-12-01T08:00:00Z"
    assert stored["phase"] == "new"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.pop("phase"), r"record 'sepm-east-01'\.phase should be a string, got '<missing>'"),
        (lambda d: d.update(phase="sleeping"), r"\.phase should be one of new, in_sync"),
        (lambda d: d.update(entered_at="yesterday"), r"\.entered_at should be an ISO 8601 time"),
        (
            lambda d: d.update(entered_at="2026-12-01T08:00:00"),
            r"\.entered_at should be a time with a UTC offset",
        ),
        (lambda d: d.update(version="7"), r"\.version should be an integer, got '7'"),
        (lambda d: d.update(facts=[]), r"\.facts should be an object"),
        (lambda d: d["facts"].update(partners="Site West"), r"\.facts\.partners should be a list"),
        (lambda d: d.update(attempts=[{"step": 1}]), r"\.attempts\[0\]\.rollout_id should be a string"),
        (lambda d: d.update(stall={"code": "x"}), r"\.stall\.reason should be a string"),
    ],
    ids=[
        "missing-phase",
        "unknown-phase",
        "bad-time",
        "naive-time",
        "version-as-text",
        "facts-not-object",
        "partners-not-list",
        "attempt-incomplete",
        "stall-incomplete",
    ],
)
def test_damaged_record_names_the_field(mutate: Any, message: str) -> None:
    record = replace(
        new_record("sepm-east-01", T0), stall=Stall("MaxSoakExceeded", "waited", "raise maxSoak", T0)
    )
    data = json.loads(json.dumps(record.to_storage()))
    mutate(data)
    with pytest.raises(StateError, match=message):
        RolloutRecord.from_storage(data)


def test_record_from_a_newer_schema_is_refused() -> None:
    data = new_record("sepm-east-01", T0).to_storage()
    data["schema"] = RECORD_SCHEMA + 1
    with pytest.raises(StateError, match=r"record schema 4; this sepm-reconciler reads up to 3: upgrade"):
        RolloutRecord.from_storage(data)


def test_a_non_object_is_refused() -> None:
    with pytest.raises(StateError, match="record should be an object, got list"):
        RolloutRecord.from_storage([])


@pytest.mark.parametrize(
    ("phase", "stalled_from", "step"),
    [
        (Phase.IN_SYNC, None, 0),
        (Phase.WAITING_UNVERIFIED, None, 3),
        (Phase.STALLED, Phase.UPDATING_CERTIFICATE, 4),
        (Phase.STALLED, Phase.DRIFTED, 0),
        (Phase.ROLLING_BACK, None, 0),
    ],
    ids=["in-sync", "step-3", "stalled-keeps-step", "stalled-before-start", "rolling-back"],
)
def test_step_is_zero_outside_and_kept_through_a_stall(
    phase: Phase, stalled_from: Phase | None, step: int
) -> None:
    record = replace(new_record("s", T0), phase=phase, stalled_from=stalled_from)
    assert record.step == step
