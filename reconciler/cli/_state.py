"""Shared by the store-only commands (status, history, approve, suspend, resume, abort): the ``--state`` option,
the operator commands' common options, opening the store, changing one record with compare-and-set retries, and
what the lease says about the daemon."""

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

__all__ = [
    "by_option",
    "change_record",
    "daemon_note",
    "default_actor",
    "now",
    "open_state",
    "operator_options",
    "state_option",
]

F = TypeVar("F", bound=Callable[..., Any])


def state_option(command: F) -> F:
    return click.option(
        "--state",
        "state_url",
        metavar="URL|PATH",
        default=None,
        envvar=STATE_ENV,
        help=f"Where the state lives: a file path (SQLite), sqlite:///PATH or postgresql://USER@HOST:PORT/DB "
        f"(default: {DEFAULT_STATE_URL}).",
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


def operator_options(*, reason_required: bool = True) -> Callable[[F], F]:
    """The options every operator command (approve, suspend, resume, abort) takes, the same way: ``--reason``
    (kept in the permanent record), ``--by`` (default: the operating-system user) and ``--state``.

    ``reason_required=False`` keeps ``--reason`` optional for one more release (resume and abort did not require
    it); leaving it out then prints a warning."""

    def decorate(command: F) -> F:
        command = state_option(command)
        command = by_option(command)
        # no default at all when required: click counts an explicit default=None as a value given
        extra: dict[str, Any] = {} if reason_required else {"default": None}
        return click.option(
            "--reason",
            "reason",
            type=TEXT,
            metavar="TEXT",
            required=reason_required,
            **extra,
            help="Why (kept in the permanent record and shown by status and history)"
            + ("." if reason_required else "; required from the next release."),
        )(command)

    return decorate


def given_reason(reason: str | None, command: str) -> str:
    """``--reason``, or (where it is still optional) an empty one with a warning on standard error."""
    if reason is not None:
        return reason
    click.echo(
        f"warning: {command} without --reason is deprecated: from the next release every operator command "
        "requires one (it is kept in the permanent record)",
        err=True,
    )
    return ""


def daemon_note(store: Store, at: datetime) -> str:
    """What the lease says about the daemon on this state, for the operator commands' confirmation."""
    from reconciler.daemon.config import LEASE_NAME  # imported on use: the daemon is heavy

    lease = store.last_lease(LEASE_NAME)
    if lease is not None and lease.holder and lease.valid_at(at):
        return "the daemon holding the lease notices it within seconds and checks the server at once"
    return (
        "no daemon holds the lease on this state now: it takes effect when one runs (sepm-reconciler run) or at "
        "the next sepm-reconciler reconcile"
    )


def now() -> datetime:
    return datetime.now(UTC)


def open_state(state_url: str | None, *, readonly: bool = False) -> Store:
    """Open an existing state (never creates one: these commands only read or amend what the reconciler wrote).
    ``readonly``: the command only reads, so it works for a read-only user and on a read-only copy."""
    return open_store(resolve_state_url(state_url), create=False, readonly=readonly)


def change_record(
    store: Store,
    server: str,
    change: Callable[[RolloutRecord], tuple[RolloutRecord, Event | None]],
    *,
    tries: int = 3,
) -> tuple[RolloutRecord, Event | None]:
    """Apply ``change`` to ``server``'s record and save it with its event; on a lost compare-and-set (the daemon
    moved the record meanwhile) read it again and re-apply, up to ``tries`` times. A change that returns no event
    changed nothing (already done): nothing is saved."""
    for attempt in range(1, tries + 1):
        record = store.get(server)
        if record is None:
            known = [r.server for r in store.all()]
            listing = f"it knows {', '.join(known)}" if known else "it has no servers yet"
            raise PermanentError(f"unknown server {server!r} in the state at {store.url}: {listing}")
        updated, event = change(record)
        if event is None:
            return updated, None
        try:
            return store.save(updated, [event]), event
        except ConflictError:
            if attempt == tries:
                raise
    raise AssertionError("unreachable")  # pragma: no cover
