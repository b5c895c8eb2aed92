"""State URLs: ``sqlite:///PATH`` or ``postgresql://USER@HOST:PORT/DB``; the scheme picks the backend.

``sqlite:///state.db`` and ``sqlite:///./dir/state.db`` are relative to the working directory,
``sqlite:////var/lib/sepm-reconciler/state.db`` (four slashes) is absolute — SQLAlchemy's convention.

A PostgreSQL URL never carries a literal password (it would show in process listings and logs): libpq takes it
from ``PGPASSWORD`` or ``~/.pgpass`` (``PGPASSFILE``), or the URL names an environment variable that holds it,
``postgresql://USER:{env:NAME}@HOST/DB``. Any other libpq parameter may follow in the query string
(``?host=/run/postgresql`` for a unix socket, ``sslmode=verify-full``…). :func:`redact` is what every message shows.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import quote

from reconciler.errors import StateError

__all__ = [
    "DEFAULT_STATE_URL",
    "POSTGRES_SCHEMES",
    "STATE_ENV",
    "postgres_conninfo",
    "redact",
    "resolve_state_url",
    "scheme_of",
    "sqlite_path",
]

DEFAULT_STATE_URL = "sqlite:///./.sepm-reconciler/state.db"
STATE_ENV = "SEPM_RECONCILER_STATE"
POSTGRES_SCHEMES = ("postgresql", "postgres")

_USERINFO = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^:@/]*):[^@/]*@")
_QUERY_PASSWORD = re.compile(r"(?P<key>[?&]password=)[^&]*", re.IGNORECASE)
_ENV_PASSWORD = re.compile(
    r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^:@/]*):\{env:(?P<name>[A-Za-z_]\w*)\}@"
)


def redact(url: str) -> str:
    """The URL with any password (in the user part or the query string) replaced by ``***``."""
    return _QUERY_PASSWORD.sub(r"\g<key>***", _USERINFO.sub(r"\g<scheme>\g<user>:***@", url))


def scheme_of(url: str) -> str:
    return url.split(":", 1)[0].lower() if "://" in url else ""


def resolve_state_url(option: str | None, environ: Mapping[str, str] | None = None) -> str:
    """``--state`` if given, else ``$SEPM_RECONCILER_STATE``, else :data:`DEFAULT_STATE_URL`. A plain path (no
    ``scheme://``) is a SQLite file: ``state.db`` is ``sqlite:///state.db``, ``/var/lib/x/state.db`` is
    ``sqlite:////var/lib/x/state.db``."""
    env = os.environ if environ is None else environ
    chosen = option or env.get(STATE_ENV) or DEFAULT_STATE_URL
    return chosen if "://" in chosen else f"sqlite:///{chosen}"


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


def postgres_conninfo(url: str, environ: Mapping[str, str] | None = None) -> str:
    """The libpq connection URI for ``url``, with a ``{env:NAME}`` password resolved. A literal password is
    refused: it would show wherever the URL does."""
    env = os.environ if environ is None else environ
    shown = redact(url)
    found = _ENV_PASSWORD.match(url)
    if found is not None:
        name = found["name"]
        secret = env.get(name)
        if not secret:
            raise StateError(
                f"the state URL {shown!r} takes its password from ${name}, which is not set or empty"
            )
        return _ENV_PASSWORD.sub(
            lambda m: f"{m['scheme']}{m['user']}:{quote(secret, safe='')}@", url, count=1
        )
    if _USERINFO.match(url) or _QUERY_PASSWORD.search(url):
        raise StateError(
            f"the state URL {shown!r} holds a password, which would show in process listings and logs: remove it "
            "and set PGPASSWORD, use ~/.pgpass, or write postgresql://USER:{env:NAME}@HOST/DB"
        )
    if scheme_of(url) not in POSTGRES_SCHEMES or url.rstrip("/").endswith(":/"):
        raise StateError(f"invalid PostgreSQL state URL {shown!r}: write postgresql://USER@HOST:PORT/DB")
    return url
