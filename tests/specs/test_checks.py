"""Checks of a loaded server's files, located at the field that names them: certificate, CA bundle, secrets,
keystore. Secret values never appear in any finding."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from reconciler.certs import fingerprint
from reconciler.core.spec import EnvRef, FileRef
from reconciler.errors import CertificateError, SecretError
from reconciler.specs import (
    LoadedServer,
    SpecIssue,
    check_certificates,
    check_secrets,
    desired_fingerprint,
    load_specs,
    resolve_secret,
)
from tests.certs.factory import NOW
from tests.certs.fixtures import JKS_PASSWORD, P12_PASSWORD, Pki
from tests.specs.helpers import FINGERPRINT, spec, write_files

SECRET_USER = "svc-reconciler"
SECRET_PASSWORD = "s3cr3t-Pa55w0rd"


def _server(root: Path, *replacements: tuple[str, str]) -> LoadedServer:
    write_files(root, {"east.yaml": spec(*replacements)})
    spec_set = load_specs(root)
    assert spec_set.errors == [], [str(i) for i in spec_set.errors]
    return spec_set.servers["sepm-east-01"]


def _with_certificate(pki: Pki, root: Path, name: str, *more: tuple[str, str]) -> LoadedServer:
    shutil.copy(pki.path(name), root / "east.crt")
    return _server(root, (f"fingerprint: {FINGERPRINT}", "file: east.crt"), *more)


def _lines(issues: list[SpecIssue], root: Path) -> list[str]:
    return [str(i).replace(str(root), "{d}") for i in issues]


@pytest.fixture
def secret_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The reconciler's environment: the credentials the example spec refers to."""
    monkeypatch.setenv("SEPM_USER", SECRET_USER)
    monkeypatch.setenv("SEPM_PASSWORD", SECRET_PASSWORD)


# --- the desired certificate ----------------------------------------------------------------------------------------


def test_a_good_certificate_file_has_no_findings_and_gives_the_desired_fingerprint(
    pki: Pki, tmp_path: Path
) -> None:
    server = _with_certificate(pki, tmp_path, "good.crt")
    assert check_certificates(server, NOW) == []
    assert desired_fingerprint(server) == fingerprint(pki.good.cert)


def test_the_desired_fingerprint_may_be_given_directly(tmp_path: Path) -> None:
    assert desired_fingerprint(_server(tmp_path)) == FINGERPRINT


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param(
            "ec.crt",
            "{d}/east.yaml:13:5: spec.certificate.file: the certificate's key is EC (secp256r1, 256 bits): SEPM "
            "requires an RSA key of 2048 bits or more",
            id="ec-key",
        ),
        pytest.param(
            "rsa1024.crt",
            "{d}/east.yaml:13:5: spec.certificate.file: the certificate's key is RSA 1024 bits: SEPM requires at "
            "least 2048; reissue it with a larger key",
            id="rsa-1024",
        ),
        pytest.param(
            "expired.crt",
            "{d}/east.yaml:13:5: spec.certificate.file: the certificate expired on 2026-05-31 12:00 UTC",
            id="expired",
        ),
        pytest.param(
            "wrong-san.crt",
            "{d}/east.yaml:13:5: spec.certificate.file: the certificate does not cover sepm-east-01.corp.example, "
            "the host of apiUrl (subjectAltName sepm-west-01.corp.example): the reconciler could not verify the API "
            "after step 4",
            id="wrong-host",
        ),
        pytest.param(
            "good-combined.pem",
            "{d}/east.yaml:13:5: spec.certificate.file: east.crt holds a PRIVATE KEY next to the certificate: spec "
            "files are committed to Git, so keep only the public certificate here (if the key was ever committed, "
            "treat it as compromised and reissue)",
            id="private-key-beside-certificate",
        ),
        pytest.param(
            "garbage.crt",
            "{d}/east.yaml:13:5: spec.certificate.file: east.crt is neither a PEM nor a DER certificate (expected "
            "-----BEGIN CERTIFICATE----- text or DER bytes)",
            id="garbage",
        ),
        pytest.param(
            "bad-san.crt",
            "{d}/east.yaml:13:5: spec.certificate.file: east.crt: certificate number 1 has a malformed extension that "
            "TLS clients would reject (subject_alternative_name): reissue it",
            id="malformed-extension",
        ),
    ],
)
def test_certificate_findings_are_located_at_certificate_file(
    pki: Pki, tmp_path: Path, name: str, expected: str
) -> None:
    server = _with_certificate(pki, tmp_path, name)
    assert _lines(check_certificates(server, NOW), tmp_path) == [expected]


def test_a_missing_certificate_file_names_the_path_as_written_and_where_it_was_looked_for(
    tmp_path: Path,
) -> None:
    server = _server(tmp_path, (f"fingerprint: {FINGERPRINT}", "file: certs/east.crt"))
    assert _lines(check_certificates(server, NOW), tmp_path) == [
        "{d}/east.yaml:13:5: spec.certificate.file: cannot read certs/east.crt: No such file or directory "
        f"(relative paths start from the spec file's directory, {tmp_path.resolve()})".replace(
            str(tmp_path), "{d}"
        )
    ]
    with pytest.raises(CertificateError):
        desired_fingerprint(server)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param(None, "cannot read ca.pem: No such file or directory", id="missing"),
        pytest.param(
            b"not pem", "ca.pem is neither a PEM nor a DER certificate (expected -----BEGIN", id="garbage"
        ),
    ],
)
def test_an_unusable_ca_bundle_is_an_error_at_ca_bundle(
    tmp_path: Path, content: bytes | None, expected: str
) -> None:
    if content is not None:
        (tmp_path / "ca.pem").write_bytes(content)
    server = _server(tmp_path, ("    site: Site East", "    site: Site East\n    caBundle: ca.pem"))
    issues = check_certificates(server, NOW)
    assert len(issues) == 1
    assert (issues[0].line, issues[0].col, issues[0].field) == (9, 5, "spec.server.caBundle")
    assert issues[0].code in {"ca-bundle-unreadable", "ca-bundle-invalid"}
    assert issues[0].message.startswith(expected)


# --- secrets ----------------------------------------------------------------------------------------------------------


def test_resolve_secret_reads_env_and_the_first_line_of_a_file(tmp_path: Path, secret_env: None) -> None:
    assert resolve_secret(EnvRef(env="SEPM_PASSWORD"), tmp_path) == SECRET_PASSWORD
    (tmp_path / "pw").write_bytes(SECRET_PASSWORD.encode() + b"\r\nsecond line\n")
    assert resolve_secret(FileRef(file="pw"), tmp_path) == SECRET_PASSWORD
    assert resolve_secret(FileRef(file=str(tmp_path / "pw")), Path("/nonexistent")) == SECRET_PASSWORD


@pytest.mark.parametrize(
    ("ref", "content", "message"),
    [
        pytest.param(
            EnvRef(env="SEPM_UNSET_FOR_TEST"),
            None,
            "environment variable SEPM_UNSET_FOR_TEST is not set",
            id="env-unset",
        ),
        pytest.param(
            EnvRef(env="SEPM_EMPTY_FOR_TEST"),
            None,
            "environment variable SEPM_EMPTY_FOR_TEST is set but empty",
            id="env-empty",
        ),
        pytest.param(
            FileRef(file="missing"),
            None,
            "cannot read secret file {d}/missing: No such file or directory",
            id="file-missing",
        ),
        pytest.param(
            FileRef(file="pw"),
            b"\nsecond",
            "secret file {d}/pw is empty (its first line is the secret)",
            id="file-first-line-empty",
        ),
        pytest.param(
            FileRef(file="pw"), b"\xff\xfe", "secret file {d}/pw is not UTF-8 text", id="file-not-text"
        ),
        pytest.param(
            FileRef(file="pw"),
            b"x" * 70000,
            "secret file {d}/pw is larger than 65536 bytes: is it the right file?",
            id="file-too-large",
        ),
    ],
)
def test_unresolvable_secrets_raise_secret_error(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    ref: EnvRef | FileRef,
    content: bytes | None,
    message: str,
) -> None:
    monkeypatch.setenv("SEPM_EMPTY_FOR_TEST", "")
    monkeypatch.delenv("SEPM_UNSET_FOR_TEST", raising=False)
    if content is not None:
        (tmp_path / "pw").write_bytes(content)
    with pytest.raises(SecretError) as caught:
        resolve_secret(ref, tmp_path)
    assert str(caught.value) == message.replace("{d}", str(tmp_path))


def test_check_secrets_reports_each_unresolvable_reference_at_its_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SEPM_USER", raising=False)
    monkeypatch.delenv("SEPM_PASSWORD", raising=False)
    server = _server(tmp_path)
    assert _lines(check_secrets(server), tmp_path) == [
        "{d}/east.yaml:10:7: spec.server.credentials.username: environment variable SEPM_USER is not set",
        "{d}/east.yaml:11:7: spec.server.credentials.password: environment variable SEPM_PASSWORD is not set",
    ]


def test_a_secret_file_readable_by_others_is_a_warning(tmp_path: Path, secret_env: None) -> None:
    (tmp_path / "pw").write_text(SECRET_PASSWORD + "\n")
    (tmp_path / "pw").chmod(0o644)
    server = _server(tmp_path, ("password: {env: SEPM_PASSWORD}", "password: {file: pw}"))
    assert [str(i) for i in check_secrets(server)] == [
        f"{tmp_path}/east.yaml:11:7: spec.server.credentials.password: warning: secret file "
        f"{server.base_dir / 'pw'} is readable by other users (mode -rw-r--r--): chmod 600 it"
    ]
    (tmp_path / "pw").chmod(0o600)
    assert check_secrets(server) == []


# --- keystores (checked with --check-secrets) ------------------------------------------------------------------------


def _with_keystore(pki: Pki, root: Path, keystore: Path) -> LoadedServer:
    shutil.copy(pki.path("good.crt"), root / "east.crt")
    return _server(
        root,
        (
            f"fingerprint: {FINGERPRINT}",
            f"file: east.crt\n    keystore:\n      file: {keystore}\n      password: {{env: P12_PASSWORD}}",
        ),
    )


@pytest.mark.parametrize(
    ("keystore", "password", "expected"),
    [
        pytest.param("good.p12", P12_PASSWORD, [], id="pkcs12-holding-the-desired-certificate"),
        pytest.param(
            "good.p12",
            "wrong password",
            [
                "{d}/east.yaml:16:7: spec.certificate.keystore.password: cannot open the PKCS#12 keystore "
                "{pki}/good.p12: wrong keystore password (or a damaged file)"
            ],
            id="wrong-password",
        ),
        pytest.param(
            "other.p12",
            P12_PASSWORD,
            [
                "{d}/east.yaml:15:7: spec.certificate.keystore.file: {pki}/other.p12 holds {other} "
                "(CN=sepm-east-01.corp.example), not the desired certificate {good}: step 4 would install the "
                "wrong certificate"
            ],
            id="keystore-with-another-certificate",
        ),
        pytest.param(
            "mismatched.pem",
            P12_PASSWORD,
            [
                "{d}/east.yaml:15:7: spec.certificate.keystore.file: the private key in {pki}/mismatched.pem does "
                "not belong to its certificate (CN=sepm-east-01.corp.example): SEPM would refuse the update"
            ],
            id="key-does-not-match-certificate",
        ),
    ],
)
def test_keystores_are_opened_and_checked_against_the_desired_certificate(
    pki: Pki,
    tmp_path: Path,
    secret_env: None,
    monkeypatch: pytest.MonkeyPatch,
    keystore: str,
    password: str,
    expected: list[str],
) -> None:
    monkeypatch.setenv("P12_PASSWORD", password)
    server = _with_keystore(pki, tmp_path, pki.path(keystore))
    lines = [
        line.replace(str(pki.root), "{pki}")
        .replace(fingerprint(pki.other.cert), "{other}")
        .replace(fingerprint(pki.good.cert), "{good}")
        for line in _lines(check_secrets(server), tmp_path)
    ]
    assert lines == expected
    assert all(password not in line for line in lines)


def test_a_jks_keystore_is_reported_with_the_conversion_command(
    pki: Pki,
    java_keystores: dict[str, Path],
    tmp_path: Path,
    secret_env: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("P12_PASSWORD", JKS_PASSWORD)
    issues = check_secrets(_with_keystore(pki, tmp_path, java_keystores["jks"]))
    assert [(i.code, i.field, i.line) for i in issues] == [
        ("keystore-jks", "spec.certificate.keystore.file", 15)
    ]
    assert "keytool -importkeystore" in issues[0].message
    assert JKS_PASSWORD not in issues[0].message


def test_no_secret_value_appears_in_any_finding(
    pki: Pki, tmp_path: Path, secret_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("P12_PASSWORD", "another-secret-value")
    server = _with_keystore(pki, tmp_path, pki.path("good.p12"))
    text = "\n".join(str(i) for i in check_secrets(server) + check_certificates(server, NOW))
    for secret in (SECRET_USER, SECRET_PASSWORD, "another-secret-value", P12_PASSWORD):
        assert secret not in text
    assert "wrong keystore password" in text  # the finding is there, without the value
