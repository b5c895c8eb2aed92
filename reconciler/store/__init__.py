"""The durable state store: rollout records, the append-only event log and the daemon's lease with its fence.

``open_store(url)`` picks the backend from the URL scheme — ``sqlite:///PATH`` or ``postgresql://USER@HOST/DB``;
the engine does not know which. The URL defaults to ``$SEPM_RECONCILER_STATE``, then
``sqlite:///./.sepm-reconciler/state.db`` (see :func:`resolve_state_url`). :class:`FencedStore` makes every write of
a daemon carry its lease's epoch; :mod:`reconciler.store.transfer` copies, backs up and restores states.
"""

from __future__ import annotations

from reconciler.errors import StateError
from reconciler.store.base import Fence, Lease, Store
from reconciler.store.fenced import FencedStore
from reconciler.store.url import (
    DEFAULT_STATE_URL,
    POSTGRES_SCHEMES,
    STATE_ENV,
    redact,
    resolve_state_url,
    scheme_of,
    sqlite_path,
)

__all__ = [
    "DEFAULT_STATE_URL",
    "STATE_ENV",
    "Fence",
    "FencedStore",
    "Lease",
    "Store",
    "open_store",
    "redact",
    "resolve_state_url",
    "scheme_of",
    "sqlite_path",
]


def open_store(url: str, *, create: bool = True, timeout: float = 5.0, readonly: bool = False) -> Store:
    """Open the state at ``url``. ``create=False`` refuses to create a missing SQLite file; ``readonly=True``
    never writes (commands that only read: a read-only user, a read-only copy).

    Raises :class:`~reconciler.errors.StateError` for an unsupported URL, a locked, corrupt, foreign or unreachable
    state, or a schema written by a newer sepm-reconciler.
    """
    scheme = scheme_of(url)
    if scheme == "sqlite":
        from reconciler.store.sqlite import (
            SqliteStore,  # imported on use: each backend loads only its own driver
        )

        return SqliteStore(sqlite_path(url), create=create, timeout=timeout, readonly=readonly)
    if scheme in POSTGRES_SCHEMES:
        from reconciler.store.postgres import PostgresStore

        return PostgresStore(url, timeout=timeout, readonly=readonly)
    raise StateError(
        f"unsupported state URL {redact(url)!r}: use sqlite:///PATH (default {DEFAULT_STATE_URL}) or "
        "postgresql://USER@HOST:PORT/DB"
    )
