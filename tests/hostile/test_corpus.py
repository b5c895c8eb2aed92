"""Hostile input to every command that reads user input: a clean message and a documented exit code, never a
traceback, and nothing acted on.

The corpus — deep nesting, huge documents, binary garbage, alias bombs, wrong types everywhere, invalid UTF-8, NUL
bytes, huge integers, impossible dates, foreign tags — is fed as a spec file (``validate``, ``plan``,
``reconcile``, ``report``, ``probe``), as a fleet file (``simulate``), as a ports file (``sim-admin``) and as the
state database (``status``, ``history``, ``approve``, ``suspend``, ``resume``, ``abort``, ``report --offline``);
then hostile arguments (undecodable bytes from a terminal in another encoding, control characters, absurd numbers,
bad state URLs) go to the commands that take them. The daemon's start and reload on the same corpus:
``tests/daemon/test_hostile_specs.py``.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from reconciler.cli import main
from reconciler.core.procedure import Phase
from reconciler.store import open_store
from tests.core.builders import Driver, World, hooked

_MiB = 1024 * 1024


def _aliases_deeper_and_deeper() -> bytes:
    lines = ["a0: &a0 x"] + [f"a{i}: &a{i} " + "[" * 40 + f"*a{i - 1}" + "]" * 40 for i in range(1, 31)]
    return "\n".join(lines).encode()


def _bomb() -> bytes:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 10)]
    return "\n".join(lines).encode()


WRONG_TYPES = b"""\
apiVersion: [sepm-reconciler/v1]
kind: {ManagedServer: 1}
metadata: [1, 2]
spec:
  server: 12
  certificate: [file]
  replication: {partners: {a: b}}
  rollout: {mode: [x], clients: 3, approvals: {x: 1}, window: [], actions: "x"}
---
apiVersion: sepm-reconciler/v1
kind: ManagedServer
metadata: {name: [x]}
spec:
  server: {apiUrl: [1], site: {}, ports: [1], credentials: {password: [1], username: {}}, timeout: {}}
  certificate: {file: 1, fingerprint: 2, keystore: [], expiryWarning: true}
  replication: {partners: 1}
  rollout: {mode: 1, clients: {minAckRatio: "x", minSoak: [], groups: 1}, approvals: [x], window: {days: 1}}
"""

CORPUS: dict[str, Callable[[], bytes]] = {
    "deep-flow-nesting": lambda: b"[" * 5000 + b"]" * 5000,
    "deep-block-nesting": lambda: "".join("  " * i + "k:\n" for i in range(1500)).encode(),
    "aliases-nesting-deeper": _aliases_deeper_and_deeper,
    "alias-bomb": _bomb,
    "huge-document": lambda: b"k: '" + b"x" * (2 * _MiB) + b"'\n",
    "too-many-nodes": lambda: b"k: [" + b"1, " * 60_000 + b"1]\n",
    "many-documents": lambda: b"---\nk: v\n" * 30_000,
    "binary-garbage": lambda: random.Random(7).randbytes(64 * 1024),  # noqa: S311 - test data, nothing secret
    "invalid-utf8": lambda: b"apiVersion: sepm-reconciler/v1\nkind: \xff\xfe\xfa\n",
    "nul-bytes": lambda: b"apiVersion: sepm-reconciler/v1\x00\nkind: ManagedServer\n",
    "control-characters": lambda: b"apiVersion: \x1b[31msepm\x07\n",
    "huge-integers": lambda: b"apiVersion: " + b"9" * 5000 + b"\nkind: ManagedServer\nspec: {x: 1e99999}\n",
    "impossible-dates": lambda: b"apiVersion: 2026-02-30\nkind: 2026-13-01T25:61:00Z\n",
    "python-tags": lambda: b"apiVersion: !!python/object/apply:os.system [echo pwned]\nkind: !!binary AAAA\n",
    "wrong-types-everywhere": lambda: WRONG_TYPES,
    "empty": lambda: b"",
    "utf16-with-bom": lambda: "apiVersion: sepm-reconciler/v1\n".encode("utf-16"),
    "unterminated": lambda: b"apiVersion: 'sepm\nkind: {a: [\n",
}


def run(*argv: str) -> tuple[int, str, str]:
    """``sepm-reconciler ARGV`` in process: (exit code, stdout, stderr). Any exception other than the exit fails."""
    with pytest.raises(SystemExit) as exited:
        main(list(argv))
    code = exited.value.code
    assert isinstance(code, int), code
    return code, *_captured()


_capture: pytest.CaptureFixture[str] | None = None


def _captured() -> tuple[str, str]:
    assert _capture is not None
    out, err = _capture.readouterr()
    return out, err


@pytest.fixture(autouse=True)
def _bind_capture(capsys: pytest.CaptureFixture[str]) -> None:
    global _capture  # run() reads the capture of the test that is running
    _capture = capsys


def assert_clean(code: int, out: str, err: str, expected: int, *, message: str | None = None) -> None:
    assert code == expected, (code, out[-2000:], err[-2000:])
    assert "Traceback" not in out + err and 'File "' not in out + err
    if message is not None:
        assert message in err, err[-2000:]
    assert (out + err).strip(), "an error says what is wrong"
    assert len(err) < 3 * _MiB, "the message is not the input echoed back"


@pytest.fixture
def empty_state(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    open_store(url).close()
    return url


def _file(tmp_path: Path, name: str, suffix: str) -> Path:
    path = tmp_path / f"input{suffix}"
    path.write_bytes(CORPUS[name]())
    return path


@pytest.mark.parametrize("name", list(CORPUS))
@pytest.mark.parametrize(
    ("command", "expected"),
    [
        pytest.param(("validate",), 1, id="validate"),
        pytest.param(("validate", "--output", "json"), 1, id="validate-json"),
        pytest.param(("plan",), 1, id="plan"),
        pytest.param(("reconcile",), 1, id="reconcile"),
        pytest.param(("report", "--offline"), 1, id="report-offline"),
        pytest.param(("probe", "--server", "sepm-east-01"), 1, id="probe"),
    ],
)
def test_a_hostile_spec_file_is_a_located_error(
    tmp_path: Path, empty_state: str, name: str, command: tuple[str, ...], expected: int
) -> None:
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "east.yaml").write_bytes(CORPUS[name]())
    state = () if command[0] in ("validate", "probe") else ("--state", empty_state)

    code, out, err = run(*command, "--specs", str(specs), *state)

    if command[-1] == "json":
        document = json.loads(out)  # still the documented JSON shape
        assert document["valid"] is False and document["findings"]
        located = [f for f in document["findings"] if f["file"].startswith(str(specs))]
        assert located and all(f["severity"] == "error" for f in located)
    elif command[0] in ("validate", "plan"):
        assert f"{specs}" in out + err  # located: file[:line:col]: … (the directory when no document is left)
    assert_clean(code, out, err, expected)
    with open_store(empty_state, create=False) as store:
        assert store.all() == [], "nothing was acted on"


@pytest.mark.parametrize("name", list(CORPUS))
def test_a_hostile_fleet_file_is_refused_before_anything_listens(tmp_path: Path, name: str) -> None:
    fleet = _file(tmp_path, name, ".yaml")
    ports = tmp_path / "ports.json"

    code, out, err = run("simulate", "--fleet", str(fleet), "--ports-file", str(ports))

    assert_clean(code, out, err, 1, message=f"error: {fleet}")
    assert not ports.exists()


@pytest.mark.parametrize("name", list(CORPUS))
def test_a_hostile_ports_file_is_a_usage_error_of_sim_admin(tmp_path: Path, name: str) -> None:
    ports = _file(tmp_path, name, ".json")

    code, out, err = run("sim-admin", "--ports-file", str(ports), "state")

    assert_clean(code, out, err, 64, message=f"{ports} is not a simulator ports file")


def test_a_ports_file_nested_deeper_than_the_json_parser_goes_is_refused(tmp_path: Path) -> None:
    ports = tmp_path / "ports.json"
    ports.write_text('{"managers": ' + "[" * 100_000 + "]" * 100_000 + "}")

    code, out, err = run("sim-admin", "--ports-file", str(ports), "state")

    assert_clean(code, out, err, 64, message="is not a simulator ports file")


STORE_COMMANDS = [
    pytest.param(("status",), id="status"),
    pytest.param(("status", "--output", "json"), id="status-json"),
    pytest.param(("history", "sepm-east-01"), id="history"),
    pytest.param(("approve", "sepm-east-01", "--step", "4", "--by", "a", "--reason", "r"), id="approve"),
    pytest.param(("suspend", "sepm-east-01", "--reason", "r"), id="suspend"),
    pytest.param(("resume", "sepm-east-01"), id="resume"),
    pytest.param(("abort", "sepm-east-01"), id="abort"),
]


# An empty file is a new, empty SQLite database (status: no servers yet), not hostile: left out.
@pytest.mark.parametrize("name", [n for n in CORPUS if n not in ("huge-document", "too-many-nodes", "empty")])
@pytest.mark.parametrize("command", STORE_COMMANDS)
def test_a_hostile_file_as_the_state_is_an_unreadable_state(
    tmp_path: Path, name: str, command: tuple[str, ...]
) -> None:
    state = _file(tmp_path, name, ".db")
    before = state.read_bytes()

    code, out, err = run(*command, "--state", f"sqlite:///{state}")

    assert_clean(code, out, err, 1, message="error: ")
    assert state.read_bytes() == before, "a file that is not our state is never written"


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("sqlite:///" + "a" * 5000 + "/state.db", id="name-too-long"),
        pytest.param("sqlite:////proc/self/status", id="a-file-sqlite-cannot-use"),
        pytest.param("sqlite:///DIR", id="a-directory"),
        pytest.param("sqlite:///DIR/missing/deeper/state.db", id="missing-directories"),
        pytest.param("foo://x", id="unknown-scheme"),
        pytest.param("sqlite://", id="no-path"),
        pytest.param("postgresql://user:S3cret@127.0.0.1:1/db", id="unreachable-database"),
    ],
)
@pytest.mark.parametrize("command", [*STORE_COMMANDS, pytest.param(("plan", "--specs", "SPECS"), id="plan")])
def test_a_bad_state_url_is_a_clean_error(
    tmp_path: Path, url: str, command: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "a.yaml").write_text("apiVersion: x\n")  # invalid: plan exits 1 whatever the state says
    argv = [a.replace("SPECS", str(specs)) for a in command]

    code, out, err = run(*argv, "--state", url.replace("DIR", str(tmp_path)))

    assert_clean(code, out, err, 1, message="error")
    assert "S3cret" not in out + err, "a password in the state URL is never shown"


@pytest.fixture
def state(tmp_path: Path) -> str:
    """A state holding sepm-east-01 at step 3."""
    url = f"sqlite:///{tmp_path / 'state.db'}"
    driver = Driver(hooked(), World())
    driver.run_until(Phase.WAITING_UNVERIFIED, step=timedelta(hours=1))
    assert driver.record is not None
    with open_store(url) as store:
        store.save(replace(driver.record, version=0), driver.events)
    return url


UNDECODABLE = (
    "caf\udce9"  # "café" typed in a Latin-1 terminal: not UTF-8, Python keeps the byte as a surrogate
)
ARGUMENTS = [
    pytest.param(("suspend", "sepm-east-01", "--reason", UNDECODABLE), 64, id="suspend-undecodable-reason"),
    pytest.param(
        ("suspend", "sepm-east-01", "--reason", "r", "--by", UNDECODABLE), 64, id="suspend-undecodable-by"
    ),
    pytest.param(
        ("approve", "sepm-east-01", "--step", "4", "--by", UNDECODABLE, "--reason", "r"), 64, id="approve-by"
    ),
    pytest.param(
        ("approve", UNDECODABLE, "--step", "4", "--by", "a", "--reason", "r"), 64, id="approve-server"
    ),
    pytest.param(
        ("approve", "sepm-east-01", "--step", "9" * 40, "--by", "a", "--reason", "r"), 1, id="approve-step"
    ),
    pytest.param(
        ("approve", "sepm-east-01", "--step", "-1", "--by", "a", "--reason", "r"), 1, id="approve-step-neg"
    ),
    pytest.param(
        ("approve", "sepm-east-01", "--step", "4.5", "--by", "a", "--reason", "r"), 64, id="approve-step-nan"
    ),
    pytest.param(("abort", "sepm-east-01", "--reason", UNDECODABLE), 64, id="abort-undecodable-reason"),
    pytest.param(("resume", UNDECODABLE), 64, id="resume-undecodable-server"),
    pytest.param(("history", UNDECODABLE), 64, id="history-undecodable-server"),
    pytest.param(("history", "x" * 100_000), 64, id="history-huge-server"),
    pytest.param(("history", "sepm-east-01", "--limit", "9" * 40), 64, id="history-huge-limit"),
    pytest.param(("history", "sepm-east-01", "--limit", "0"), 64, id="history-zero-limit"),
    pytest.param(
        ("report", "--offline", "--specs", "specs", "--since", "9" * 40 + "d"), 64, id="report-since"
    ),
    pytest.param(
        ("report", "--offline", "--specs", "specs", "--since", UNDECODABLE), 64, id="report-since-bytes"
    ),
]


@pytest.mark.parametrize(("argv", "expected"), ARGUMENTS)
def test_hostile_arguments_are_refused_and_leave_the_state_readable(
    state: str, argv: tuple[str, ...], expected: int
) -> None:
    code, out, err = run(*argv, "--state", state)

    assert_clean(code, out, err, expected)
    code, out, _ = run("status", "--state", state, "--output", "json")
    assert code == 0 and [s["name"] for s in json.loads(out)["servers"]] == ["sepm-east-01"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("x" * 200_000, "is 200000 characters long: at most 2000", id="huge"),
        pytest.param("\x1b[31mred\x1b[0m", "holds the control character U+001B", id="escape-sequence"),
        pytest.param("ok\r\nsepm-west-01: in sync", "holds the control character U+000D", id="forged-line"),
        pytest.param("abc\u202edcb", "holds the control character U+202E", id="bidi-override"),
    ],
)
def test_operator_text_that_would_rewrite_a_terminal_is_refused(state: str, text: str, message: str) -> None:
    for argv in (
        ("suspend", "sepm-east-01", "--reason", text),
        ("suspend", "sepm-east-01", "--reason", "r", "--by", text),
    ):
        code, out, err = run(*argv, "--state", state)
        assert_clean(code, out, err, 64, message=message)
        assert text not in out + err
    code, out, _ = run("status", "--state", state, "--output", "json")
    assert code == 0 and json.loads(out)["servers"][0]["suspended"] is False


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("' OR 1=1; DROP TABLE records; --", id="sql"),
        pytest.param("<script>alert(1)</script>", id="markup"),
        pytest.param("José — CAB-1234, 承認済み 👩\u200d💻", id="unicode"),
    ],
)
def test_odd_but_plain_operator_text_is_kept_verbatim(state: str, text: str) -> None:
    code, out, err = run("suspend", "sepm-east-01", "--reason", text, "--by", "ops", "--state", state)
    assert code == 0, err

    code, out, _ = run("status", "--state", state, "--output", "json")
    (server,) = json.loads(out)["servers"]
    assert code == 0 and text in json.dumps(server, ensure_ascii=False)
    code, out, err = run("history", "sepm-east-01", "--state", state)
    assert code == 0 and "Traceback" not in out + err


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        pytest.param(("clock-advance", "9" * 40), 1, id="clock-advance-huge-sent-to-the-simulator"),
        pytest.param(("clock-advance", "-5"), 64, id="clock-advance-negative"),
        pytest.param(("clock-advance", UNDECODABLE), 64, id="clock-advance-bytes"),
        pytest.param(
            ("clock-set", "2026-02-30T00:00:00Z"), 1, id="clock-set-impossible-sent-to-the-simulator"
        ),
        pytest.param(("clock-set", "9" * 40), 1, id="clock-set-huge-sent-to-the-simulator"),
        pytest.param(("partner-add", UNDECODABLE), 64, id="partner-undecodable"),
        pytest.param(("faults", "--latency-ms", "9" * 40), 1, id="faults-huge-sent-to-the-simulator"),
        pytest.param(("partner-add", "x" * 100_000), 64, id="partner-huge"),
        pytest.param(
            ("certificate", "--pkcs12", "/dev/null", "--password-env", "NO_SUCH_VAR_X"), 64, id="cert"
        ),
    ],
)
def test_hostile_sim_admin_arguments_are_clean_errors(
    tmp_path: Path, argv: tuple[str, ...], expected: int
) -> None:
    ports = tmp_path / "ports.json"
    unreachable = {"api_url": "https://127.0.0.1:1/sepm/api/v1", "admin_token": "t"}
    ports.write_text(json.dumps({"managers": {"sepm-east": unreachable}}))

    code, out, err = run("sim-admin", "--ports-file", str(ports), *argv)

    assert_clean(code, out, err, expected)


def test_undecodable_bytes_in_a_real_command_line_are_clean_errors(tmp_path: Path, state: str) -> None:
    """As a shell passes them: argv bytes that are not UTF-8 (a Latin-1 terminal), in a path and in a text."""
    base = [sys.executable, "-m", "reconciler"]
    path = os.fsencode(tmp_path) + b"/caf\xe9.db"
    runs = [
        ([*base, "status", "--state", b"sqlite:///" + path], 1, b"no state at"),
        (
            [*base, "suspend", "sepm-east-01", "--reason", b"caf\xe9", "--state", state],
            64,
            b"not valid UTF-8",
        ),
        ([*base, "history", b"caf\xe9", "--state", state], 64, b"not valid UTF-8"),
    ]
    for argv, expected, message in runs:
        proc = subprocess.run(argv, capture_output=True, timeout=120, check=False)
        assert proc.returncode == expected, proc.stderr
        assert message in proc.stderr and b"Traceback" not in proc.stdout + proc.stderr
