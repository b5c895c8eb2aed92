"""The durable state store: rollout records, the append-only event log and the daemon's lease.

``open_store(url)`` picks the backend from the URL scheme — ``sqlite:///PATH`` today; a PostgreSQL backend only has
to implement :class:`Store` and be added here, the engine does not change. The URL defaults to
``$SEPM_RECONCILER_STATE``, then ``sqlite:///./.sepm-reconciler/state.db`` (see :func:`resolve_state_url`).
"""

from __future__ import annotations

from reconciler.errors import StateError
from reconciler.store.base import Lease, Store
from reconciler.store.url import DEFAULT_STATE_URL, STATE_ENV, redact, resolve_state_url, sqlite_path

__all__ = ["DEFAULT_STATE_URL", "STATE_ENV", "Lease", "Store", "open_store", "redact", "resolve_state_url"]


def open_store(url: str, *, create: bool = True, timeout: float = 5.0) -> Store:
    """Open the state at ``url``. ``create=False`` refuses to create a missing SQLite file (read-only commands).

    Raises :class:`~reconciler.errors.StateError` for an unsupported URL, a locked, corrupt or foreign file, or a
    schema written by a newer sepm-reconciler.
    """
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme == "sqlite":
        from reconciler.store.sqlite import (
            SqliteStore,
        )  # imported on use: each backend loads only its own driver

        return SqliteStore(sqlite_path(url), create=create, timeout=timeout)
    raise StateError(
        f"unsupported state URL {redact(url)!r}: use sqlite:///PATH (default {DEFAULT_STATE_URL}); "
        "other backends (PostgreSQL) are not available in this version"
    )
