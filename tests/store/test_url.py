"""State URLs: where the state is, which backend, and never a password in a message."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from reconciler.errors import StateError
from reconciler.store import DEFAULT_STATE_URL, open_store, redact, resolve_state_url
from reconciler.store.url import postgres_conninfo, sqlite_path


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
        (
            "postgresql://admin:hunter2@db/state",
            "the state URL 'postgresql://admin:***@db/state' holds a password",
        ),
        (
            "postgresql://admin@db/state?password=hunter2",
            "'postgresql://admin@db/state?password=***' holds a",
        ),
        (
            "postgresql://admin:{env:UNSET_PG_PASSWORD}@db/state",
            "takes its password from $UNSET_PG_PASSWORD, which",
        ),
        ("mysql://admin:hunter2@db/state", "unsupported state URL 'mysql://admin:***@db/state'"),
        ("state.db", "unsupported state URL 'state.db': use sqlite:///PATH"),
    ],
    ids=[
        "no-path",
        "empty-path",
        "memory",
        "query",
        "postgres-password",
        "postgres-query-password",
        "postgres-env-unset",
        "other-scheme",
        "bare-path",
    ],
)
def test_bad_state_urls_are_refused_without_leaking_secrets(url: str, message: str) -> None:
    with pytest.raises(StateError, match=re.escape(message)) as error:
        open_store(url)
    assert "hunter2" not in str(error.value)


def test_redact_keeps_the_user_and_hides_the_password() -> None:
    assert redact("postgresql://admin:s3cr%40t@db:5432/state") == "postgresql://admin:***@db:5432/state"
    assert redact("sqlite:///./state.db") == "sqlite:///./state.db"
    assert redact("postgresql://admin@db/state?sslmode=require&password=x") == (
        "postgresql://admin@db/state?sslmode=require&password=***"
    )


def test_a_postgres_password_comes_from_the_variable_the_url_names() -> None:
    url = "postgresql://app:{env:PG_STATE_PASSWORD}@db.example:5432/state?sslmode=verify-full"
    conninfo = postgres_conninfo(url, {"PG_STATE_PASSWORD": "p@ss:w/rd"})
    assert conninfo == "postgresql://app:p%40ss%3Aw%2Frd@db.example:5432/state?sslmode=verify-full"
    assert redact(url) == "postgresql://app:***@db.example:5432/state?sslmode=verify-full"


def test_an_unreachable_postgres_is_a_clear_error_naming_the_redacted_url_and_the_cause(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PG_STATE_PASSWORD", "hunter2")
    url = "postgresql://app:{env:PG_STATE_PASSWORD}@127.0.0.1:1/state"
    with pytest.raises(StateError) as error:
        open_store(url, timeout=2)
    message = str(error.value)
    assert message.startswith(
        "cannot connect to the PostgreSQL state postgresql://app:***@127.0.0.1:1/state: "
    )
    assert "refused" in message.lower()
    assert "hunter2" not in message
