"""The state schema as numbered migrations, one list per backend, applied in order and recorded in
``schema_migrations``.

A version number means the same thing on every backend (``state migrate`` relies on it):

====  ==========================================================================================================
1     rollout records and the append-only event log
2     single-instance leases for the daemon
3     lease epochs (fencing) and gapless event ids allocated in commit order
====  ==========================================================================================================

Never edit a released migration: add the next one, to both lists. A state whose highest migration is newer than
:data:`LATEST` was written by a newer sepm-reconciler and is refused, naming both versions (no downgrade).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LATEST", "MIGRATIONS", "POSTGRES_MIGRATIONS", "SQLITE_MIGRATIONS", "Migration"]


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]


_APPEND_ONLY = "the event log is append-only"

_RECORDS = """CREATE TABLE records (
    server        TEXT PRIMARY KEY,
    version       {int} NOT NULL CHECK (version >= 1),
    phase         TEXT NOT NULL,
    step          INTEGER NOT NULL CHECK (step BETWEEN 0 AND 7),
    rollout_id    TEXT,
    updated_at    TEXT NOT NULL,
    next_check_at TEXT NOT NULL,
    body          TEXT NOT NULL
)"""

_EVENTS = """CREATE TABLE events (
    id         {id},
    at         TEXT NOT NULL,
    server     TEXT NOT NULL,
    rollout_id TEXT,
    kind       TEXT NOT NULL,
    from_phase TEXT,
    to_phase   TEXT,
    actor      TEXT NOT NULL,
    reason     TEXT NOT NULL,
    details    TEXT NOT NULL
)"""

_LEASES = """CREATE TABLE leases (
    name        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    acquired_at TEXT NOT NULL,
    renewed_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL
)"""

_COUNTER = (
    "CREATE TABLE event_counter (singleton INTEGER PRIMARY KEY CHECK (singleton = 1), last_id {int} NOT NULL)"
)
_COUNTER_START = "INSERT INTO event_counter (singleton, last_id) SELECT 1, COALESCE(MAX(id), 0) FROM events"
_EPOCH = "ALTER TABLE leases ADD COLUMN epoch {int} NOT NULL DEFAULT 1"

_DESCRIPTIONS = (
    "rollout records and the append-only event log",
    "single-instance leases for the daemon",
    "lease epochs (fencing) and gapless event ids allocated in commit order",
)

_SQLITE_NO_CHANGE = f"SELECT RAISE(ABORT, '{_APPEND_ONLY}')"

SQLITE_MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        _DESCRIPTIONS[0],
        (
            _RECORDS.format(int="INTEGER"),
            _EVENTS.format(id="INTEGER PRIMARY KEY AUTOINCREMENT"),
            "CREATE INDEX events_by_server ON events (server, id)",
            f"CREATE TRIGGER events_no_update BEFORE UPDATE ON events BEGIN {_SQLITE_NO_CHANGE}; END",
            f"CREATE TRIGGER events_no_delete BEFORE DELETE ON events BEGIN {_SQLITE_NO_CHANGE}; END",
        ),
    ),
    Migration(2, _DESCRIPTIONS[1], (_LEASES,)),
    Migration(
        3, _DESCRIPTIONS[2], (_EPOCH.format(int="INTEGER"), _COUNTER.format(int="INTEGER"), _COUNTER_START)
    ),
)

POSTGRES_MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        _DESCRIPTIONS[0],
        (
            _RECORDS.format(int="BIGINT"),
            _EVENTS.format(id="BIGINT PRIMARY KEY"),
            "CREATE INDEX events_by_server ON events (server, id)",
            "CREATE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN RAISE EXCEPTION '{_APPEND_ONLY}'; END $$",
            "CREATE TRIGGER events_no_change BEFORE UPDATE OR DELETE ON events "
            "FOR EACH ROW EXECUTE FUNCTION events_append_only()",
            "CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events "
            "FOR EACH STATEMENT EXECUTE FUNCTION events_append_only()",
        ),
    ),
    Migration(2, _DESCRIPTIONS[1], (_LEASES,)),
    Migration(
        3, _DESCRIPTIONS[2], (_EPOCH.format(int="BIGINT"), _COUNTER.format(int="BIGINT"), _COUNTER_START)
    ),
)

MIGRATIONS = SQLITE_MIGRATIONS  # the name the first release used
LATEST = SQLITE_MIGRATIONS[-1].version
assert POSTGRES_MIGRATIONS[-1].version == LATEST  # noqa: S101 - both backends always know the same versions
