"""Shared by the store-only commands (status, history, approve, suspend, resume, abort): the ``--state`` option,
opening the store, and changing one record with compare-and-set retries."""

from __future__ import annotations

import getpass
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import click

from reconciler.cli._options import TEXT
from reconciler.core.events import Event
from reconciler.core.record import RolloutRecord
from reconciler.errors import ConflictError, PermanentError
from reconciler.store import DEFAULT_STATE_URL, STATE_ENV, Store, open_store, resolve_state_url

__all__ = ["by_option", "change_record", "default_actor", "now", "open_state", "state_option"]

F = TypeVar("F", bound=Callable[..., Any])


def state_option(command: F) -> F:
    return click.option(
        "--state",
        "state_url",
        metavar="URL",
        default=None,
        help=f"Where the state lives: sqlite:///PATH or postgresql://USER@HOST:PORT/DB (default: ${STATE_ENV}, then "
        f"{DEFAULT_STATE_URL}).",
    )(command)


def default_actor() -> str:
    """The operating-system user, for ``--by`` when it is not given."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in this environment (containers)
        return "unknown"


def by_option(command: F) -> F:
    return click.option(
        "--by",
        "by",
        type=TEXT,
        metavar="WHO",
        default=None,
        help="Who is asking, for the event log (default: your user name).",
    )(command)


def now() -> datetime:
    return datetime.now(UTC)


def open_state(state_url: str | None, *, readonly: bool = False) -> Store:
    """Open an existing state (never creates one: these commands only read or amend what the reconciler wrote).
    ``readonly``: the command only reads, so it works for a read-only user and on a read-only copy."""
    return open_store(resolve_state_url(state_url), create=False, readonly=readonly)


def change_record(
    store: Store,
    server: str,
    change: Callable[[RolloutRecord], tuple[RolloutRecord, Event]],
    *,
    tries: int = 3,
) -> tuple[RolloutRecord, Event]:
    """Apply ``change`` to ``server``'s record and save it with its event; on a lost compare-and-set (the daemon
    moved the record meanwhile) read it again and re-apply, up to ``tries`` times."""
    for attempt in range(1, tries + 1):
        record = store.get(server)
        if record is None:
            known = [r.server for r in store.all()]
            listing = f"it knows {', '.join(known)}" if known else "it has no servers yet"
            raise PermanentError(f"unknown server {server!r} in the state at {store.url}: {listing}")
        updated, event = change(record)
        try:
            return store.save(updated, [event]), event
        except ConflictError:
            if attempt == tries:
                raise
    raise AssertionError("unreachable")  # pragma: no cover
