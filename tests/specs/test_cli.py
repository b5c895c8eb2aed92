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
    shutil.copy(
        pki.path("good.crt"), tmp_path / "east.crt"
    )  # trusted through caBundle, "expiring" by 10 years
    trusted = ("    site: Site East", f"    site: Site East\n    caBundle: {pki.path('ca.pem')}")
    expiring = (f"fingerprint: {FINGERPRINT}", "file: east.crt\n    expiryWarning: 3650d")
    write_files(tmp_path, {"east.yaml": spec(expiring, trusted)})
    code, out, _ = _run(["validate", "--specs", str(tmp_path)], capsys)
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0].startswith(
        f"{tmp_path}/east.yaml:14:5: spec.certificate.file: warning: the certificate expires"
    )
    assert "1 error" not in lines[1] and "0 errors, 1 warning;" in lines[1]


@pytest.mark.parametrize(
    ("certificate", "bundle", "why"),
    [
        ("good.crt", None, "it does not chain to the system trust store"),
        ("good.crt", "other.crt", "does not chain to caBundle"),
        (
            "cn-only.crt",
            "ca.pem",
            "it does not name sepm-east-01.corp.example in its subject alternative names",
        ),
        ("self-signed.crt", "ca.pem", "does not chain to caBundle"),
    ],
    ids=["system-store", "another-ca", "cn-only", "self-signed"],
)
def test_a_new_certificate_the_api_connection_would_not_trust_is_an_error_naming_the_ca_to_add(
    pki: Pki,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    certificate: str,
    bundle: str | None,
    why: str,
) -> None:
    shutil.copy(pki.path(certificate), tmp_path / "east.crt")
    edits = [(f"fingerprint: {FINGERPRINT}", "file: east.crt")]
    if bundle is not None:
        edits.append(("    site: Site East", f"    site: Site East\n    caBundle: {pki.path(bundle)}"))
    write_files(tmp_path, {"east.yaml": spec(*edits)})
    code, out, _ = _run(["validate", "--specs", str(tmp_path), "--output", "json"], capsys)
    assert code == 1
    [finding] = [f for f in json.loads(out)["findings"] if f["code"] == "new-certificate-untrusted"]
    assert finding["field"] == "spec.certificate.file" and finding["severity"] == "error"
    assert why in finding["message"]
    assert "would not be trusted on the API port (sepm-east-01.corp.example)" in finding["message"]
    where = f"caBundle {pki.path(bundle)}" if bundle else "the system trust store"
    assert f"Add the certificate of the CA that issued it to {where}" in finding["message"]


def test_a_new_certificate_that_chains_to_the_ca_bundle_is_trusted(
    pki: Pki, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copy(pki.path("good-chain.pem"), tmp_path / "east.crt")
    trusted = ("    site: Site East", f"    site: Site East\n    caBundle: {pki.path('ca.pem')}")
    write_files(tmp_path, {"east.yaml": spec((f"fingerprint: {FINGERPRINT}", "file: east.crt"), trusted)})
    code, out, _ = _run(["validate", "--specs", str(tmp_path)], capsys)
    assert (code, out.splitlines()[-1].startswith(f"{tmp_path}: valid — 1 server in 1 file, 0 errors")) == (
        0,
        True,
    )


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
        },
        {
            "file": f"{tmp_path}/east.yaml",
            "line": 13,
            "column": 5,
            "field": "spec.certificate.file",
            "code": "new-certificate-untrusted",
            "severity": "error",
            "message": "the new certificate (issued by CN=Test Root CA) would not be trusted on the API port "
            "(sepm-east-01.corp.example): it does not chain to the system trust store ("
            + document["findings"][1]["message"].split("it does not chain to the system trust store (")[1],
        },
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
