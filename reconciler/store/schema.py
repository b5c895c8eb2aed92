"""The SQLite schema as numbered migrations, applied in order and recorded in ``schema_migrations``.

Never edit a released migration: add the next one. A database whose highest migration is newer than
:data:`LATEST` was written by a newer sepm-reconciler and is refused (no downgrade).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LATEST", "MIGRATIONS", "Migration"]


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]


_APPEND_ONLY = "SELECT RAISE(ABORT, 'the event log is append-only')"

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "rollout records and the append-only event log",
        (
            """CREATE TABLE records (
                server        TEXT PRIMARY KEY,
                version       INTEGER NOT NULL CHECK (version >= 1),
                phase         TEXT NOT NULL,
                step          INTEGER NOT NULL CHECK (step BETWEEN 0 AND 7),
                rollout_id    TEXT,
                updated_at    TEXT NOT NULL,
                next_check_at TEXT NOT NULL,
                body          TEXT NOT NULL
            )""",
            """CREATE TABLE events (
                id         INTEGER PRIMARY KEY AUTOINCREMENT,
                at         TEXT NOT NULL,
                server     TEXT NOT NULL,
                rollout_id TEXT,
                kind       TEXT NOT NULL,
                from_phase TEXT,
                to_phase   TEXT,
                actor      TEXT NOT NULL,
                reason     TEXT NOT NULL,
                details    TEXT NOT NULL
            )""",
            "CREATE INDEX events_by_server ON events (server, id)",
            f"CREATE TRIGGER events_no_update BEFORE UPDATE ON events BEGIN {_APPEND_ONLY}; END",
            f"CREATE TRIGGER events_no_delete BEFORE DELETE ON events BEGIN {_APPEND_ONLY}; END",
        ),
    ),
    Migration(
        2,
        "single-instance leases for the daemon",
        (
            """CREATE TABLE leases (
                name        TEXT PRIMARY KEY,
                holder      TEXT NOT NULL,
                acquired_at TEXT NOT NULL,
                renewed_at  TEXT NOT NULL,
                expires_at  TEXT NOT NULL
            )""",
        ),
    ),
)

LATEST = MIGRATIONS[-1].version
