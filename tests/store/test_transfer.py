"""``sepm-reconciler state``: migrate between SQLite and PostgreSQL and back, backup, restore, info — through the
real command line, on real states."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from reconciler.cli import main
from reconciler.core.events import Event, EventKind
from reconciler.core.procedure import Phase
from reconciler.core.record import new_record
from reconciler.store import open_store
from tests.support.manager import T0


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as done:
        main(list(argv))
    out, err = capsys.readouterr()
    return int(done.value.code or 0), out, err


def fill(url: str, servers: int = 3) -> None:
    """Records at several versions and an event log with a few events each."""
    with open_store(url) as store:
        for n in range(servers):
            name = f"sepm-{n:02d}"
            saved = store.save(new_record(name, T0), [_event(name, "first")])
            saved = store.save(replace(saved, phase=Phase.DRIFTED), [_event(name, "second")])
            store.save(replace(saved, reason="third"), [_event(name, "third")])


def _event(server: str, reason: str) -> Event:
    return Event(
        at=T0,
        server=server,
        kind=EventKind.TRANSITION,
        reason=reason,
        from_phase=Phase.NEW,
        to_phase=Phase.DRIFTED,
    )


def snapshot(url: str) -> tuple[object, object]:
    with open_store(url, create=False, readonly=True) as store:
        return store.all(), store.events()


def test_migrate_sqlite_to_postgres_and_back_keeps_every_record_version_and_event_id(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, pg_url: str
) -> None:
    source = f"sqlite:///{tmp_path / 'state.db'}"
    fill(source)
    code, out, err = run(capsys, "state", "migrate", "--from", source, "--to", pg_url, "--output", "json")
    assert code == 0, err
    report = json.loads(out)
    assert report == {
        "source": source,
        "target": pg_url,
        "records": 3,
        "events": 9,
        "last_event_id": 9,
        "source_schema": 3,
        "verified": True,
    }
    assert snapshot(pg_url) == snapshot(source)
    with open_store(pg_url) as store:  # the copy goes on where the source stopped
        store.append([_event("sepm-00", "after the move")])
        assert store.events()[-1].id == 10
    back = f"sqlite:///{tmp_path / 'back' / 'state.db'}"
    code, out, err = run(capsys, "state", "migrate", "--from", pg_url, "--to", back)
    assert code == 0, err
    assert "copied 3 record(s) and 10 event(s), last event #10" in out and "verified" in out
    assert snapshot(back) == snapshot(pg_url)


def test_migrate_refuses_a_non_empty_target_unless_forced_and_a_live_state(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, pg_url: str
) -> None:
    source = f"sqlite:///{tmp_path / 'state.db'}"
    fill(source, servers=2)
    fill(pg_url, servers=1)
    code, _, err = run(capsys, "state", "migrate", "--from", source, "--to", pg_url)
    assert code == 1
    assert "is not empty (1 record(s), 3 event(s)): nothing was copied; pass --force" in err
    assert len(snapshot(pg_url)[0]) == 1  # type: ignore[arg-type]
    code, _, err = run(capsys, "state", "migrate", "--from", source, "--to", pg_url, "--force")
    assert code == 0, err
    assert snapshot(pg_url) == snapshot(source)
    with open_store(source) as store:  # a daemon runs on the source
        store.acquire_lease("daemon", "host-a:1:x", ttl=timedelta(minutes=5), now=datetime.now(UTC))
    code, _, err = run(capsys, "state", "migrate", "--from", source, "--to", pg_url, "--force")
    assert code == 1 and "a daemon (host-a:1:x) holds the lease on the source state" in err
    code, _, err = run(capsys, "state", "migrate", "--from", source, "--to", source)
    assert code == 1 and "the same state" in err


def test_a_postgres_backup_restores_into_sqlite_and_info_shows_the_lease(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, pg_url: str
) -> None:
    fill(pg_url)
    with open_store(pg_url) as store:
        lease = store.acquire_lease("daemon", "host-b:2:y", ttl=timedelta(minutes=5), now=datetime.now(UTC))
        assert lease is not None
    backup = tmp_path / "backup.db"
    code, out, err = run(capsys, "state", "backup", "--state", pg_url, "--to", str(backup))
    assert code == 0, err  # a backup may be taken while a daemon runs
    assert "backed up 3 record(s) and 9 event(s)" in out
    code, _, err = run(capsys, "state", "backup", "--state", pg_url, "--to", str(backup))
    assert code == 1 and "exists: name a new file" in err
    code, _, err = run(capsys, "state", "restore", "--from", str(backup), "--state", pg_url, "--force")
    assert code == 1 and "holds the lease on the target state" in err  # never under a running daemon
    restored = f"sqlite:///{tmp_path / 'restored.db'}"
    code, out, err = run(capsys, "state", "restore", "--from", str(backup), "--state", restored)
    assert code == 0, err
    assert snapshot(restored) == snapshot(pg_url)
    code, out, err = run(capsys, "state", "info", "--state", pg_url, "--output", "json")
    assert code == 0, err
    info = json.loads(out)
    assert info["schema"] == 3 and info["records"] == 3 and info["events"] == 9
    assert info["lease"]["holder"] == "host-b:2:y" and info["lease"]["epoch"] == 1 and info["lease"]["valid"]
    code, out, _ = run(capsys, "state", "info", "--state", restored)
    assert "lease:   free (no daemon leads)" in out and "(schema 3)" in out


def test_state_commands_explain_themselves(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "state", "--help")
    assert code == 0
    for command in ("migrate", "backup", "restore", "info"):
        assert command in out
    assert "PGPASSWORD" in out
    code, _, err = run(capsys, "state", "migrate", "--from", "sqlite:///a.db")
    assert code == 64 and "--to" in err
