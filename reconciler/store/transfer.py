"""Copying whole states: ``state migrate`` (one backend to another), ``state backup`` and ``state restore``.

A copy keeps everything the reconciler remembers exactly as stored — each record with its compare-and-set version,
every event with its id — from one consistent snapshot of the source, written in one transaction into the target,
then verified (record and event counts, and the last event field by field). Leases are not copied: the daemons are
stopped for a migration or a restore (both refuse while a daemon holds a valid lease on either side), and the next
daemon takes a fresh lease.

A backup is a single SQLite file, whatever the backend: SQLite's online backup API for a SQLite state (safe while
the daemon writes, the ``-wal`` included); a snapshot copy for PostgreSQL (``pg_dump`` of the whole database is the
usual alternative — see docs/state.md). ``restore`` copies a backup into a state.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from reconciler.errors import StateError
from reconciler.store._sql import SqlStore
from reconciler.store.url import scheme_of

__all__ = ["CopyReport", "backup_state", "copy_state", "restore_state"]

LEASE_NAME = "daemon"


@dataclass(frozen=True, slots=True)
class CopyReport:
    """What a copy wrote (and checked): counts, the last event id, the source's schema version."""

    source: str
    target: str
    records: int
    events: int
    last_event_id: int | None
    source_schema: int

    def to_json(self) -> dict[str, object]:
        return {
            "source": self.source,
            "target": self.target,
            "records": self.records,
            "events": self.events,
            "last_event_id": self.last_event_id,
            "source_schema": self.source_schema,
            "verified": True,
        }


def _refuse_live(store: SqlStore, where: str, role: str) -> None:
    if store.schema_version() < 3:  # an older state (read-only source) was last written by an older version
        return
    lease = store.lease(LEASE_NAME)
    if lease is not None and lease.valid_at(datetime.now(UTC)):
        raise StateError(
            f"a daemon ({lease.holder}) holds the lease on the {role} state {where} until "
            f"{lease.expires_at:%Y-%m-%d %H:%M:%S} UTC: stop every daemon on it first (what it writes after the "
            "copy would be lost or overwritten)"
        )


def copy_state(
    source_url: str, target_url: str, *, force: bool = False, live_source: bool = True
) -> CopyReport:
    """Copy every record and event of ``source_url`` into ``target_url`` (created and migrated if need be).
    Refuses a non-empty target unless ``force`` (then its records and events are replaced), and a state on which
    a daemon holds a valid lease (``live_source=False``: the source is a backup file, whose lease is a copy)."""
    from reconciler.store import open_store

    with open_store(source_url, create=False, readonly=True) as source:
        assert isinstance(source, SqlStore)  # noqa: S101 - every backend is an SqlStore
        if source.url == _shown(target_url):
            raise StateError(f"the source and the target are the same state ({source.url})")
        if live_source:
            _refuse_live(source, source.url, "source")
        dump = source.dump()
    with open_store(target_url) as target:
        assert isinstance(target, SqlStore)  # noqa: S101
        _refuse_live(target, target.url, "target")
        target.load(dump, replace_existing=force)
        counts = target.counts()
        last = target.last_event_row()
        expected = (len(dump.records), len(dump.events))
        if counts != expected or _normal(last) != _normal(dump.last_event):
            raise StateError(
                f"the copy into {target.url} does not match its source: {counts[0]} record(s) and {counts[1]} "
                f"event(s) (expected {expected[0]} and {expected[1]}), last event {last!r} (expected "
                f"{dump.last_event!r}); the target is not usable, copy again with --force"
            )
        return CopyReport(
            source=source.url,
            target=target.url,
            records=counts[0],
            events=counts[1],
            last_event_id=int(last[0]) if last else None,
            source_schema=dump.schema,
        )


def _normal(row: tuple[object, ...] | None) -> tuple[str, ...] | None:
    return None if row is None else tuple(str(v) for v in row)


def _shown(url: str) -> str:
    from reconciler.store.url import redact, sqlite_path

    return f"sqlite:///{sqlite_path(url)}" if scheme_of(url) == "sqlite" else redact(url)


def backup_state(state_url: str, target: Path) -> CopyReport:
    """A single-file SQLite backup of the state at ``state_url`` into the new file ``target`` (mode 0600)."""
    from reconciler.store import open_store
    from reconciler.store.sqlite import SqliteStore

    if target.exists():
        raise StateError(f"{target} exists: name a new file, or remove it first")
    if scheme_of(state_url) == "sqlite":
        with open_store(state_url, create=False) as store:
            assert isinstance(store, SqliteStore)  # noqa: S101
            store.backup(target)
            records, events = store.counts()
            last = store.last_event_row()
            schema = store.schema_version()
        return CopyReport(
            source=store.url,
            target=f"sqlite:///{target}",
            records=records,
            events=events,
            last_event_id=int(last[0]) if last else None,
            source_schema=schema,
        )
    try:
        return _copy_live_allowed(state_url, f"sqlite:///{target}")
    except BaseException:
        target.unlink(missing_ok=True)
        raise


def _copy_live_allowed(source_url: str, target_url: str) -> CopyReport:
    """A backup may be taken while the daemon runs: the snapshot is consistent."""
    from reconciler.store import open_store

    with open_store(source_url, create=False, readonly=True) as source:
        assert isinstance(source, SqlStore)  # noqa: S101
        dump = source.dump()
        shown = source.url
    with open_store(target_url) as target:
        assert isinstance(target, SqlStore)  # noqa: S101
        target.load(dump, replace_existing=False)
        records, events = target.counts()
        last = target.last_event_row()
    return CopyReport(
        source=shown,
        target=target_url,
        records=records,
        events=events,
        last_event_id=int(last[0]) if last else None,
        source_schema=dump.schema,
    )


def restore_state(backup: Path, state_url: str, *, force: bool = False) -> CopyReport:
    """Copy the backup file ``backup`` into the state at ``state_url`` (refusing a non-empty state unless
    ``force``, and a state a daemon is running on)."""
    if not backup.is_file():
        raise StateError(f"no backup at {backup}: name the file `state backup --to` wrote")
    return copy_state(f"sqlite:///{backup}", state_url, force=force, live_source=False)
