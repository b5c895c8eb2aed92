"""``sepm-reconciler run``: bad input gets one precise message and a documented exit code, and nothing starts."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.cli import cli
from reconciler.daemon.config import parse_listen

REPO = Path(__file__).resolve().parents[2]


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reconciler", "run", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env=env,
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("127.0.0.1:9370", ("127.0.0.1", 9370), id="ipv4"),
        pytest.param("0.0.0.0:0", ("0.0.0.0", 0), id="any-free-port"),  # noqa: S104 - parsing, not binding
        pytest.param("[::1]:9370", ("::1", 9370), id="ipv6"),
        pytest.param("localhost:80", ("localhost", 80), id="name"),
    ],
)
def test_listen_addresses_parse(text: str, expected: tuple[str, int]) -> None:
    assert parse_listen(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("9370", "write HOST:PORT", id="no-host"),
        pytest.param(":9370", "name the host", id="empty-host"),
        pytest.param("127.0.0.1:99999", "0-65535", id="port-range"),
        pytest.param("::1:9370", "in brackets", id="bare-ipv6"),
    ],
)
def test_bad_listen_addresses_say_what_to_write(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_listen(text)


def test_a_bad_listen_option_is_a_usage_error(tmp_path: Path) -> None:
    proc = _run("--specs", str(REPO / "specs"), "--state", f"sqlite:///{tmp_path}/s.db", "--listen", "9370")
    assert proc.returncode == 64
    assert "error: --listen: invalid listen address '9370'" in proc.stderr
    assert not (tmp_path / "s.db").exists()


def test_a_zero_duration_is_a_usage_error(tmp_path: Path) -> None:
    proc = _run("--specs", str(REPO / "specs"), "--tick-timeout", "0s")
    assert proc.returncode == 64
    assert "must be longer than 0s" in proc.stderr


def test_a_missing_specs_path_exits_1_before_anything_starts(tmp_path: Path) -> None:
    proc = _run(
        "--specs", str(tmp_path / "nope"), "--state", f"sqlite:///{tmp_path}/s.db", "--listen", "127.0.0.1:0"
    )
    assert proc.returncode == 1
    assert "the specs path does not exist" in proc.stderr
    assert not (tmp_path / "s.db").exists()


@pytest.mark.parametrize(
    ("state", "message"),
    [
        pytest.param("mysql://u:pw@db/x", "unsupported state URL 'mysql://u:***@db/x'", id="unsupported"),
        pytest.param(
            "postgresql://u:pw@db/x",
            "the state URL 'postgresql://u:***@db/x' holds a password",
            id="password",
        ),
        pytest.param(
            "postgresql://u:{env:SEPM_TEST_PG_PASSWORD}@127.0.0.1:1/x",
            "cannot connect to the PostgreSQL state postgresql://u:***@127.0.0.1:1/x: ",
            id="postgres-unreachable",
        ),
    ],
)
def test_an_unusable_state_exits_1_naming_the_redacted_url_and_the_cause(state: str, message: str) -> None:
    env = {**os.environ, "SEPM_TEST_PG_PASSWORD": "pw"}
    proc = _run("--specs", str(REPO / "specs"), "--state", state, "--listen", "127.0.0.1:0", env=env)
    assert proc.returncode == 1
    assert message in proc.stderr and "pw@" not in proc.stderr and ":pw" not in proc.stderr
    if "unreachable" in state or "127.0.0.1:1" in state:
        assert "refused" in proc.stderr.lower()


def test_an_address_in_use_exits_1(tmp_path: Path) -> None:
    specs = tmp_path / "specs"
    shutil.copytree(REPO / "specs", specs)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = _run(
            "--specs", str(specs), "--state", f"sqlite:///{tmp_path}/s.db", "--listen", f"127.0.0.1:{port}"
        )
    assert proc.returncode == 1
    assert f"cannot listen on http://127.0.0.1:{port}: Address already in use" in proc.stderr
    assert "pass --listen HOST:PORT" in proc.stderr
    assert not (tmp_path / "s.db").exists()  # nothing was created


def test_a_webhook_variable_named_but_unset_exits_1(tmp_path: Path) -> None:
    proc = _run(
        "--specs",
        str(REPO / "specs"),
        "--webhook-url-env",
        "NO_SUCH_WEBHOOK_VAR_X",
        env={"PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 1
    assert "NO_SUCH_WEBHOOK_VAR_X, which is not set" in proc.stderr


def test_the_endpoints_listen_on_loopback_unless_told_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SEPM_RECONCILER_LISTEN", raising=False)
    command = cli.get_command(cli.make_context("sepm-reconciler", ["run"]), "run")
    assert command is not None
    host, port = parse_listen(command.make_context("run", []).params["listen"])
    assert (host, port) == ("127.0.0.1", 9370)


def test_help_names_the_endpoints_and_exit_codes() -> None:
    proc = _run("--help")
    assert proc.returncode == 0
    for word in ("/healthz", "/readyz", "/metrics", "/api/status", "SIGHUP", "standby", "Exit codes"):
        assert word in proc.stdout
