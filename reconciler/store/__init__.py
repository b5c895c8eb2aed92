"""The durable state store (SQLite by default): rollout records and the append-only event log."""
