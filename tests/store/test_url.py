"""State URLs: where the state is, which backend, and never a password in a message."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.errors import StateError
from reconciler.store import DEFAULT_STATE_URL, open_store, redact, resolve_state_url
from reconciler.store.url import sqlite_path


@pytest.mark.parametrize(
    ("option", "environ", "expected"),
    [
        ("sqlite:///cli.db", {"SEPM_RECONCILER_STATE": "sqlite:///env.db"}, "sqlite:///cli.db"),
        (None, {"SEPM_RECONCILER_STATE": "sqlite:///env.db"}, "sqlite:///env.db"),
        (None, {}, DEFAULT_STATE_URL),
        (None, {"SEPM_RECONCILER_STATE": ""}, DEFAULT_STATE_URL),
    ],
    ids=["option-wins", "environment", "default", "empty-environment"],
)
def test_state_url_resolution_order(option: str | None, environ: dict[str, str], expected: str) -> None:
    assert resolve_state_url(option, environ) == expected


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///./.sepm-reconciler/state.db", Path(".sepm-reconciler/state.db")),
        ("sqlite:///state.db", Path("state.db")),
        ("sqlite:////var/lib/sepm-reconciler/state.db", Path("/var/lib/sepm-reconciler/state.db")),
    ],
    ids=["default-relative", "relative", "absolute"],
)
def test_sqlite_paths_follow_the_three_and_four_slash_convention(url: str, path: Path) -> None:
    assert sqlite_path(url) == path


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sqlite://", "invalid SQLite state URL 'sqlite://'"),
        ("sqlite:///", "invalid SQLite state URL"),
        ("sqlite:///:memory:", "the state must be a file"),
        ("sqlite:///state.db?mode=ro", "no query string"),
        ("postgresql://admin:hunter2@db/state", "unsupported state URL 'postgresql://admin:***@db/state'"),
        ("state.db", "unsupported state URL 'state.db': use sqlite:///PATH"),
    ],
    ids=["no-path", "empty-path", "memory", "query", "postgres-redacted", "bare-path"],
)
def test_bad_state_urls_are_refused_without_leaking_secrets(url: str, message: str) -> None:
    with pytest.raises(StateError, match=message.replace("?", r"\?").replace("*", r"\*")) as error:
        open_store(url)
    assert "hunter2" not in str(error.value)


def test_redact_keeps_the_user_and_hides_the_password() -> None:
    assert redact("postgresql://admin:s3cr%40t@db:5432/state") == "postgresql://admin:***@db:5432/state"
    assert redact("sqlite:///./state.db") == "sqlite:///./state.db"
