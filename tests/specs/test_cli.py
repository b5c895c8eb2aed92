"""``sepm-reconciler validate``: exit codes, text and JSON output."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.cli import main
from tests.certs.fixtures import Pki
from tests.specs.helpers import BASE, FINGERPRINT, spec, write_files

REPO = Path(__file__).resolve().parents[2]


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as caught:
        main(args)
    out, err = capsys.readouterr()
    return int(caught.value.code or 0), out, err


def test_valid_specs_exit_0_with_a_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_files(tmp_path, {"east.yaml": BASE})
    code, out, _ = _run(["validate", "--specs", str(tmp_path)], capsys)
    assert code == 0
    assert out.splitlines() == [
        f"{tmp_path}: valid — 1 server in 1 file, 0 errors, 0 warnings; secrets not checked (--check-secrets); "
        f"revision {out.rsplit('revision ', 1)[1].strip()}"
    ]
    assert out.rsplit("revision ", 1)[1].startswith("sha256:")


def test_invalid_specs_exit_1_with_one_located_line_per_finding(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_files(
        tmp_path,
        {
            "east.yaml": spec(("      minAckRatio: 1.0", "      minAckRatio: 1.5")),
            "west.yaml": spec(
                ("  rollout:", "  replication: {partners: [Site North]}\n  rollout:"),
                name="sepm-west-01",
                site="Site West",
            ).replace("sepm-east-01.corp", "sepm-west-01.corp"),
        },
    )
    code, out, _ = _run(["validate", "--specs", str(tmp_path)], capsys)
    assert code == 1
    assert out.splitlines() == [
        f"{tmp_path}/east.yaml:16:7: spec.rollout.clients.minAckRatio: must be between 0 and 1, got 1.5",
        f"{tmp_path}/west.yaml:14:17: spec.replication.partners: info: partner site 'Site North' is not the site of "
        "any server in these specs: the reconciler breaks and restores only this side of the partnership",
        f"{tmp_path}: invalid — 1 server in 2 files, 1 error, 0 warnings; fix the errors above (nothing was changed "
        "anywhere)",
    ]


def test_warnings_alone_keep_the_exit_code_0(
    pki: Pki, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copy(pki.path("cn-only.crt"), tmp_path / "east.crt")
    write_files(tmp_path, {"east.yaml": spec((f"fingerprint: {FINGERPRINT}", "file: east.crt"))})
    code, out, _ = _run(["validate", "--specs", str(tmp_path)], capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith(
        f"{tmp_path}/east.yaml:13:5: spec.certificate.file: warning: the certificate covers"
    )
    assert "1 error" not in lines[1] and "0 errors, 1 warning;" in lines[1]


def test_json_output_has_the_documented_shape(
    pki: Pki, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copy(pki.path("expired.crt"), tmp_path / "east.crt")
    write_files(tmp_path, {"east.yaml": spec((f"fingerprint: {FINGERPRINT}", "file: east.crt"))})
    code, out, _ = _run(["validate", "--specs", str(tmp_path), "--output", "json"], capsys)
    assert code == 1
    document = json.loads(out)
    assert set(document) == {"valid", "revision", "specs", "checked_secrets", "servers", "findings"}
    assert document["valid"] is False
    assert document["findings"] == [
        {
            "file": f"{tmp_path}/east.yaml",
            "line": 13,
            "column": 5,
            "field": "spec.certificate.file",
            "code": "cert-expired",
            "severity": "error",
            "message": "the certificate expired on "
            + document["servers"][0]["certificate"]["not_after"][:10]
            + " 12:00 UTC",
        }
    ]
    (server,) = document["servers"]
    assert {k: server[k] for k in ("name", "line", "site", "mode", "partners")} == {
        "name": "sepm-east-01",
        "line": 1,
        "site": "Site East",
        "mode": "enforce",
        "partners": [],
    }
    assert server["desired_fingerprint"].startswith("sha256:")
    assert server["certificate"]["fingerprint"] == server["desired_fingerprint"]
    assert server["certificate"]["chain_length"] == 1


def test_specs_default_to_the_environment_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_files(tmp_path, {"east.yaml": BASE})
    monkeypatch.setenv("SEPM_RECONCILER_SPECS", str(tmp_path))
    code, out, _ = _run(["validate"], capsys)
    assert (code, out.startswith(f"{tmp_path}: valid")) == (0, True)


def test_specs_default_to_the_specs_directory_of_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_files(tmp_path / "specs", {"east.yaml": BASE})
    monkeypatch.delenv("SEPM_RECONCILER_SPECS", raising=False)
    monkeypatch.chdir(tmp_path)
    code, out, _ = _run(["validate"], capsys)
    assert (code, out.startswith("specs: valid")) == (0, True)


def test_check_secrets_reports_unresolvable_references_without_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_files(tmp_path, {"east.yaml": BASE})
    monkeypatch.setenv("SEPM_USER", "the-user-name-value")
    monkeypatch.delenv("SEPM_PASSWORD", raising=False)
    assert _run(["validate", "--specs", str(tmp_path)], capsys)[0] == 0  # not checked without the flag
    code, out, _ = _run(["validate", "--specs", str(tmp_path), "--check-secrets"], capsys)
    assert code == 1
    assert out.splitlines()[0] == (
        f"{tmp_path}/east.yaml:11:7: spec.server.credentials.password: environment variable SEPM_PASSWORD is not set"
    )
    assert "the-user-name-value" not in out


def test_an_unknown_output_format_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run(["validate", "--specs", str(tmp_path), "--output", "yaml"], capsys)
    assert code == 64
    assert "'yaml' is not one of 'text', 'json'" in err


def test_help_teaches_the_command(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(["validate", "--help"], capsys)
    assert code == 0
    for expected in (
        "--specs",
        "--check-secrets",
        "--output [text|json]",
        "SEPM_RECONCILER_SPECS",
        "Exit codes: 0 valid",
    ):
        assert expected in out


def test_the_example_specs_validate_through_the_installed_command() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "reconciler", "validate", "--specs", "specs", "--output", "json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    document = json.loads(proc.stdout)
    assert document["valid"] is True
    assert [s["name"] for s in document["servers"]] == ["sepm-east-01", "sepm-west-01", "sepm-dmz-01"]
    assert [f for f in document["findings"] if f["severity"] != "info"] == []
    assert {s["name"]: s["partners"] for s in document["servers"]} == {
        "sepm-dmz-01": [],
        "sepm-east-01": ["Site West"],
        "sepm-west-01": ["Site East"],
    }
