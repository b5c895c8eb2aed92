"""Records written at schema 1 (0.1.0, before codes) read with this version: migrated to schema 2 — stall codes
renamed to codes, the reason's code read from its sentence — and every rollout continues where it stood, except that
one begun with procedure version 1 and not yet past the swap first switches its clients to the HTTP management server
list (step 2a, which version 1 did not have). The state file and the records were written by that version
(``tests/data/state-v1/README.md``)."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from reconciler.cli import main
from reconciler.core.codes import Code
from reconciler.core.decide import decide
from reconciler.core.procedure import Phase
from reconciler.core.record import RECORD_SCHEMA, RolloutRecord, migrate_schema_1
from reconciler.store import open_store
from tests.support.manager import FAST, NEW, World, hooked

DATA = Path(__file__).resolve().parents[1] / "data" / "state-v1"
RECORDS = json.loads((DATA / "records-schema-1.json").read_text(encoding="utf-8"))
BEFORE = json.loads((DATA / "status-before.json").read_text(encoding="utf-8"))

CODES = {
    "sepm-insync": Code.IN_SYNC,
    "sepm-held": Code.APPROVAL_MISSING,
    "sepm-soaking": Code.SOAK_NOT_OVER,
    "sepm-stalled": Code.MAX_SOAK_EXCEEDED,
    "sepm-swapping": Code.EFFECT_PENDING,
    "sepm-suspended": Code.SUSPENDED,
    "sepm-aborted": Code.ABORT_REQUESTED,
    "sepm-replfail": Code.REPLICATE_NOW_FAILED,
}


def by_name(name: str) -> dict[str, Any]:
    return next(r for r in RECORDS if r["server"] == name)


def test_the_fixture_was_written_at_schema_1() -> None:
    assert {r["schema"] for r in RECORDS} == {1}
    assert {r["server"] for r in RECORDS} == set(CODES)
    assert by_name("sepm-stalled")["stall"]["code"] == "max_soak_exceeded"


@pytest.mark.parametrize("name", sorted(CODES))
def test_a_schema_1_record_reads_as_schema_2(name: str) -> None:
    stored = by_name(name)
    record = RolloutRecord.from_storage(stored)
    assert record.code == CODES[name].value
    assert record.observation_failures == 0
    assert (record.phase.value, record.reason, record.rollout_id) == (
        stored["phase"],
        stored["reason"],
        stored["rollout_id"],
    )
    if record.stall is not None:
        assert record.stall.code == CODES[name].value
        assert record.stall.reason == stored["stall"]["reason"]
    again = record.to_storage()
    assert again["schema"] == RECORD_SCHEMA == 3
    assert RolloutRecord.from_storage(json.loads(json.dumps(again))) == record


def test_a_reason_that_cannot_be_read_is_unrecorded_until_the_next_check() -> None:
    stored = {**by_name("sepm-soaking"), "reason": "something 0.1.0 never wrote"}
    assert migrate_schema_1(stored)["code"] == Code.UNRECORDED.value


def test_status_reads_the_old_state_file_and_shows_what_it_showed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / "state.db"
    shutil.copyfile(DATA / "state-record-schema-1.db", copy)
    with pytest.raises(SystemExit) as exited:
        main(["status", "--state", f"sqlite:///{copy}", "--output", "json"])
    assert exited.value.code == 0
    after = json.loads(capsys.readouterr().out)["servers"]
    assert [s["name"] for s in after] == [s["name"] for s in BEFORE["servers"]]
    # clients count as at risk only while a certificate change is ahead (steps 1-4), and acknowledgements only
    # while a change of ours is being acknowledged: 0.1.0 listed every client of an in-sync server at risk
    counting = {"sepm-soaking", "sepm-stalled", "sepm-suspended", "sepm-swapping", "sepm-replfail"}
    ahead = {"sepm-soaking", "sepm-stalled", "sepm-swapping"}
    for old, new in zip(BEFORE["servers"], after, strict=True):
        name = old["name"]
        assert {k: new[k] for k in old if k != "clients"} == {
            k: v for k, v in old.items() if k != "clients"
        }, name
        assert new["code"] == CODES[name].value
        clients = dict(old["clients"])
        if name not in counting:
            clients.update(acknowledged=None, ack_ratio=None)
        if name not in ahead:
            clients.update(at_risk_count=0, at_risk_names=[])
        assert new["clients"] == clients, name
    insync = next(s for s in after if s["name"] == "sepm-insync")
    assert insync["clients"]["at_risk_count"] == 0 and insync["clients"]["ack_ratio"] is None


def test_rollouts_read_from_the_old_state_file_continue_where_they_stood(tmp_path: Path) -> None:
    copy = tmp_path / "state.db"
    shutil.copyfile(DATA / "state-record-schema-1.db", copy)
    with open_store(f"sqlite:///{copy}") as store:
        records = {r.server: r for r in store.all()}
        history = store.events("sepm-stalled")
    assert history and history[0].code is None  # events written before codes have none

    stalled = records["sepm-stalled"]
    world = World(name="sepm-stalled", now=stalled.updated_at + timedelta(hours=1))
    decision = decide(
        hooked(name="sepm-stalled", max_soak="3d"), NEW, world.observe(stalled), stalled,
        now=world.now, spec_revision=stalled.spec_revision or "", tuning=FAST,
    )  # fmt: skip
    assert (decision.phase, decision.code) == (Phase.STALLED, Code.MAX_SOAK_EXCEEDED)
    assert stalled.stall is not None and decision.reason == stalled.stall.reason

    soaking = records["sepm-soaking"]
    assert soaking.procedure_version == 1
    world = World(name="sepm-soaking", now=soaking.updated_at + timedelta(minutes=5))
    world.break_replication()
    world.acknowledged = 1800
    for group in world.groups:
        group.flag, group.policy_time = False, soaking.facts.verification_off_at or world.manager_time
    back = decide(
        hooked(name="sepm-soaking", approvals=(4,)), NEW, world.observe(soaking), soaking,
        now=world.now, spec_revision=soaking.spec_revision or "", tuning=FAST,
    )  # fmt: skip
    assert (back.phase, back.code) == (Phase.SWITCHING_TO_HTTP_LIST, Code.LIST_REVERTED), (
        "never switched lists"
    )
    assert back.outcome.said.get("never") is True

    skipped = hooked(
        name="sepm-soaking", approvals=(4,), lists={"skip": True, "reason": "HTTP lists already"}
    )
    decision = decide(
        skipped, NEW, world.observe(soaking), soaking, now=world.now,
        spec_revision=soaking.spec_revision or "", tuning=FAST,
    )  # fmt: skip
    assert (decision.phase, decision.code) == (Phase.WAITING_UNVERIFIED, Code.SOAK_NOT_OVER)
    world.acknowledged = None
    world.advance(timedelta(days=2))
    ready = decide(
        skipped, NEW, world.observe(soaking), soaking, now=world.now,
        spec_revision=soaking.spec_revision or "", tuning=FAST,
    )  # fmt: skip
    assert (ready.phase, ready.code) == (Phase.UPDATING_CERTIFICATE, Code.CLIENTS_READY), "approved in 0.1.0"
    with open_store(f"sqlite:///{copy}") as store:
        saved = store.save(replace(ready.record), ready.events)
    assert saved.to_storage()["schema"] == 3
