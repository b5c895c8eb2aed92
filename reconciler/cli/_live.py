"""Shared by the commands that contact the managers (``plan``, ``reconcile``): ``--specs``, ``--server``, loading
the specs with located errors, and opening the state."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from reconciler.cli._state import state_option
from reconciler.errors import StateError
from reconciler.specs import SpecSet, load_specs
from reconciler.store import Store, open_store, resolve_state_url
from reconciler.store.url import sqlite_path

__all__ = [
    "SPECS_ENV",
    "configure_logging",
    "echo_spec_errors",
    "load",
    "open_state_if_any",
    "require_servers",
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


def require_servers(spec_set: SpecSet, servers: tuple[str, ...], specs_path: Path) -> None:
    """Every ``--server`` must name a server of the specs: a usage error (exit 64) listing the known ones if not."""
    unknown = sorted(set(servers) - set(spec_set.servers))
    if unknown:
        known = ", ".join(sorted(spec_set.servers)) or "none"
        raise click.BadParameter(
            f"no server {', '.join(unknown)} in {specs_path} (servers: {known})", param_hint="--server"
        )


def echo_spec_errors(spec_set: SpecSet) -> None:
    """Print every spec error, located (file:line:col: field: message), on standard error."""
    for issue in spec_set.errors:
        click.echo(f"error: {issue}", err=True)


def open_state_if_any(state_url: str | None, *, readonly: bool = True) -> Store | None:
    """The state (for reading only, unless ``readonly`` is False), or None when none exists yet (nothing was ever
    reconciled with it)."""
    url = resolve_state_url(state_url)
    if url.lower().startswith("sqlite:"):
        path = sqlite_path(url)
        try:
            if not path.exists():
                return None
        except (OSError, ValueError) as exc:  # a name too long, a NUL byte
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise StateError(f"the state path {path} cannot be used: {reason}") from exc
    return open_store(url, create=False, readonly=readonly)


def configure_logging(verbose: int) -> None:
    """Warnings by default, info with -v, debug with -vv; on standard error."""
    level = logging.WARNING if verbose <= 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
