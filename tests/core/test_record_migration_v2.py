"""Records written at schema 2 (before #17) read with this version: migrated to schema 3 — attempts gain their
``process`` (unknown for old attempts), the facts say whether the rollout had broken replication."""

from __future__ import annotations

import shutil
from pathlib import Path

from reconciler.core.actions import ActionKind
from reconciler.core.record import RECORD_SCHEMA, AttemptOutcome
from reconciler.store import open_store

DATA = Path(__file__).resolve().parents[1] / "data" / "state-v2"


def test_a_schema_2_state_file_reads_as_schema_3_and_saves_at_3(tmp_path: Path) -> None:
    copy = tmp_path / "state.db"
    shutil.copyfile(DATA / "state-record-schema-2.db", copy)
    with open_store(f"sqlite:///{copy}") as store:
        records = {r.server: r for r in store.all()}
        assert set(records) == {"sepm-soaking", "sepm-swapping", "sepm-verified"}
        for record in records.values():
            assert all(a.process is None for a in record.attempts)
            assert record.facts.partners == ("Site West",)
            assert record.facts.partners_broken, "steps 2-6: step 1 had broken replication"
            assert record.facts.swap_seen is None
        swapping = records["sepm-swapping"]
        running = [a for a in swapping.attempts if a.kind is ActionKind.UPDATE_CERTIFICATE]
        assert [a.outcome for a in running] == [AttemptOutcome.PENDING]
        saved = store.save(records["sepm-soaking"])
        assert saved.to_storage()["schema"] == RECORD_SCHEMA == 3
    with open_store(f"sqlite:///{copy}") as store:
        again = store.get("sepm-soaking")
        assert again is not None and again.facts.partners_broken
