"""State URLs: ``sqlite:///PATH`` today; the scheme picks the backend so PostgreSQL can follow.

``sqlite:///state.db`` and ``sqlite:///./dir/state.db`` are relative to the working directory,
``sqlite:////var/lib/sepm-reconciler/state.db`` (four slashes) is absolute — SQLAlchemy's convention.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from reconciler.errors import StateError

__all__ = ["DEFAULT_STATE_URL", "STATE_ENV", "redact", "resolve_state_url", "sqlite_path"]

DEFAULT_STATE_URL = "sqlite:///./.sepm-reconciler/state.db"
STATE_ENV = "SEPM_RECONCILER_STATE"

_USERINFO = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^:@/]*):[^@/]*@")


def redact(url: str) -> str:
    """The URL with any password replaced by ``***`` (safe for messages and logs)."""
    return _USERINFO.sub(r"\g<scheme>\g<user>:***@", url)


def resolve_state_url(option: str | None, environ: Mapping[str, str] | None = None) -> str:
    """``--state`` if given, else ``$SEPM_RECONCILER_STATE``, else :data:`DEFAULT_STATE_URL`."""
    env = os.environ if environ is None else environ
    return option or env.get(STATE_ENV) or DEFAULT_STATE_URL


def sqlite_path(url: str) -> Path:
    prefix = "sqlite:///"
    if not url.startswith(prefix) or len(url) == len(prefix):
        raise StateError(
            f"invalid SQLite state URL {redact(url)!r}: write sqlite:///PATH, e.g. {DEFAULT_STATE_URL}"
        )
    rest = url[len(prefix) :]
    if "?" in rest or rest == ":memory:":
        raise StateError(
            f"invalid SQLite state URL {redact(url)!r}: the state must be a file (no query string, no :memory:)"
        )
    return Path(rest)
