"""Shared by the commands that contact the managers (``plan``, ``reconcile``): ``--specs``, ``--server``, loading
the specs with located errors, and opening the state."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from reconciler.specs import SpecSet, load_specs
from reconciler.store import DEFAULT_STATE_URL, STATE_ENV, Store, open_store, resolve_state_url
from reconciler.store.url import sqlite_path

__all__ = [
    "SPECS_ENV",
    "configure_logging",
    "echo_spec_errors",
    "load",
    "open_state_if_any",
    "server_option",
    "specs_option",
    "state_option",
]

SPECS_ENV = "SEPM_RECONCILER_SPECS"

F = TypeVar("F", bound=Callable[..., Any])


def specs_option(command: F) -> F:
    return click.option(
        "--specs",
        "specs_path",
        type=click.Path(path_type=Path),
        envvar=SPECS_ENV,
        default=Path("specs"),
        show_default="$SEPM_RECONCILER_SPECS, else ./specs",
        help="A directory of *.yaml/*.yml specs (read recursively), or one spec file.",
    )(command)


def state_option(command: F) -> F:
    return click.option(
        "--state",
        "state_url",
        metavar="URL",
        default=None,
        help=f"Where the state lives, sqlite:///PATH (default: ${STATE_ENV}, then {DEFAULT_STATE_URL}).",
    )(command)


def server_option(command: F) -> F:
    return click.option(
        "--server",
        "servers",
        metavar="NAME",
        multiple=True,
        help="Only this server (metadata.name); repeat for several. Default: every server of the specs.",
    )(command)


def load(specs_path: Path) -> SpecSet:
    """Load the specs (never raises for bad input: problems are in ``errors``)."""
    return load_specs(specs_path)


def echo_spec_errors(spec_set: SpecSet) -> None:
    """Print every spec error, located (file:line:col: field: message), on standard error."""
    for issue in spec_set.errors:
        click.echo(f"error: {issue}", err=True)


def open_state_if_any(state_url: str | None) -> Store | None:
    """The state for reading, or None when none exists yet (nothing was ever reconciled with it)."""
    url = resolve_state_url(state_url)
    if url.lower().startswith("sqlite:") and not sqlite_path(url).exists():
        return None
    return open_store(url, create=False)


def configure_logging(verbose: int) -> None:
    """Warnings by default, info with -v, debug with -vv; on standard error."""
    level = logging.WARNING if verbose <= 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
