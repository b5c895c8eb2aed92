"""Reading certificates and keystores: every supported format, and a precise error for everything else."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.certs import (
    CertificateFileError,
    KeystoreFormat,
    fingerprint,
    load_certificates,
    load_keystore,
)
from reconciler.errors import CertificateError
from tests.certs.fixtures import JKS_PASSWORD, P12_PASSWORD, Pki


@pytest.mark.parametrize(
    ("name", "chain_length", "has_key"),
    [
        pytest.param("good.crt", 1, False, id="pem"),
        pytest.param("good.der", 1, False, id="der"),
        pytest.param("good-chain.pem", 2, False, id="pem-chain-leaf-first"),
        pytest.param("good-combined.pem", 1, True, id="pem-with-private-key"),
    ],
)
def test_certificate_files_load_in_pem_and_der(pki: Pki, name: str, chain_length: int, has_key: bool) -> None:
    loaded = load_certificates(pki.path(name))
    assert fingerprint(loaded.leaf) == fingerprint(pki.good.cert)
    assert loaded.chain_length == chain_length
    assert loaded.has_private_key is has_key


@pytest.mark.parametrize(
    ("name", "code", "message"),
    [
        pytest.param(
            "missing.crt", "cert-unreadable", "cannot read {path}: No such file or directory", id="missing"
        ),
        pytest.param(".", "cert-unreadable", "cannot read {path}: Is a directory", id="directory"),
        pytest.param(
            "garbage.crt",
            "cert-invalid",
            "{path} is neither a PEM nor a DER certificate (expected -----BEGIN CERTIFICATE----- text or DER bytes)",
            id="garbage",
        ),
        pytest.param(
            "empty.crt",
            "cert-invalid",
            "{path} is neither a PEM nor a DER certificate (expected -----BEGIN CERTIFICATE----- text or DER bytes)",
            id="empty-file",
        ),
        pytest.param(
            "key-only.pem",
            "cert-invalid",
            "{path} holds no PEM certificate (no -----BEGIN CERTIFICATE----- block)",
            id="pem-key-but-no-certificate",
        ),
        pytest.param(
            "truncated.crt",
            "cert-invalid",
            "{path}: PEM certificate number 1 is damaged (truncated or edited?)",
            id="truncated-pem",
        ),
        pytest.param(
            "bad-san.crt",
            "cert-invalid",
            "{path}: certificate number 1 has a malformed extension that TLS clients would reject "
            "(subject_alternative_name): reissue it",
            id="malformed-extension-pem",
        ),
        pytest.param(
            "bad-san.der",
            "cert-invalid",
            "{path}: certificate number 1 has a malformed extension that TLS clients would reject "
            "(subject_alternative_name): reissue it",
            id="malformed-extension-der",
        ),
        pytest.param(
            "good.p12",
            "cert-is-keystore",
            "{path} is a PKCS#12 keystore, not a public certificate: extract the certificate with openssl pkcs12 "
            "-in {path} -clcerts -nokeys -out {stem}.crt and commit only that",
            id="pkcs12-given-as-certificate",
        ),
    ],
)
def test_unusable_certificate_files_raise_a_coded_error_naming_the_file(
    pki: Pki, name: str, code: str, message: str
) -> None:
    path = pki.path(name)
    with pytest.raises(CertificateFileError) as caught:
        load_certificates(path)
    assert caught.value.code == code
    expected = message.format(path=path, stem=path.with_suffix(""))
    assert str(caught.value) == expected
    assert isinstance(caught.value, CertificateError)


@pytest.mark.parametrize(
    ("name", "password", "key_file", "fmt", "chain_length"),
    [
        pytest.param("good.p12", P12_PASSWORD, None, KeystoreFormat.PKCS12, 2, id="pkcs12-with-password"),
        pytest.param("good-nopass.p12", None, None, KeystoreFormat.PKCS12, 1, id="pkcs12-without-password"),
        pytest.param("good-combined.pem", None, None, KeystoreFormat.PEM, 1, id="pem-cert-and-key-one-file"),
        pytest.param("good-chain.pem", None, "good.key", KeystoreFormat.PEM, 2, id="pem-cert-and-key-pair"),
        pytest.param(
            "good-encrypted-combined.pem", P12_PASSWORD, None, KeystoreFormat.PEM, 1, id="pem-encrypted-key"
        ),
        pytest.param(
            "good.crt", P12_PASSWORD, "good-encrypted.key", KeystoreFormat.PEM, 1, id="pem-pair-encrypted"
        ),
    ],
)
def test_keystores_open_with_their_password(
    pki: Pki, name: str, password: str | None, key_file: str | None, fmt: KeystoreFormat, chain_length: int
) -> None:
    contents = load_keystore(pki.path(name), password, key_file=pki.path(key_file) if key_file else None)
    assert contents.format is fmt
    assert fingerprint(contents.certificate) == fingerprint(pki.good.cert)
    assert contents.chain_length == chain_length


@pytest.mark.parametrize(
    ("name", "password", "code", "message"),
    [
        pytest.param(
            "good.p12",
            "not the password",
            "keystore-wrong-password",
            "cannot open the PKCS#12 keystore {path}: wrong keystore password (or a damaged file)",
            id="pkcs12-wrong-password",
        ),
        pytest.param(
            "good.p12",
            None,
            "keystore-password-required",
            "cannot open the PKCS#12 keystore {path} without a password: give keystore.password",
            id="pkcs12-password-missing",
        ),
        pytest.param(
            "good-encrypted-combined.pem",
            "not the password",
            "keystore-wrong-password",
            "cannot decrypt the private key in {path}: wrong keystore password (or a damaged key)",
            id="pem-wrong-password",
        ),
        pytest.param(
            "good-encrypted-combined.pem",
            None,
            "keystore-password-required",
            "the private key in {path} is encrypted: give keystore.password",
            id="pem-password-missing",
        ),
        pytest.param(
            "good.crt",
            None,
            "keystore-no-key",
            "{path} holds no PEM private key (-----BEGIN PRIVATE KEY----- block)",
            id="pem-without-key",
        ),
        pytest.param(
            "key-only.pem",
            None,
            "keystore-no-certificate",
            "{path} holds a private key but no certificate",
            id="pem-key-only",
        ),
        pytest.param(
            "garbage.crt",
            None,
            "keystore-invalid",
            "{path} is not a keystore this tool reads: expected PKCS#12 (.p12/.pfx) or PEM certificate + key",
            id="garbage",
        ),
        pytest.param(
            "missing.p12",
            "x",
            "keystore-unreadable",
            "cannot read {path}: No such file or directory",
            id="missing",
        ),
    ],
)
def test_unusable_keystores_raise_a_coded_error_without_the_password(
    pki: Pki, name: str, password: str | None, code: str, message: str
) -> None:
    path = pki.path(name)
    with pytest.raises(CertificateFileError) as caught:
        load_keystore(path, password)
    assert caught.value.code == code
    assert str(caught.value) == message.format(path=path)
    if password:
        assert password not in str(caught.value)
        assert password not in repr(caught.value.__cause__ or "")


@pytest.mark.parametrize("store_type", ["jks", "jceks"])
def test_java_keystores_are_refused_with_the_keytool_command_that_converts_them(
    java_keystores: dict[str, Path], store_type: str
) -> None:
    path = java_keystores[store_type]
    with pytest.raises(CertificateFileError) as caught:
        load_keystore(path, JKS_PASSWORD)
    assert caught.value.code == "keystore-jks"
    kind = "Java KeyStore (JKS)" if store_type == "jks" else "Java JCEKS keystore"
    assert str(caught.value) == (
        f"{path} is a {kind}, which this tool cannot read (no maintained Python reader exists): convert it with "
        f"keytool -importkeystore -srckeystore {path} -srcstoretype {store_type.upper()} "
        f"-destkeystore {path.with_suffix('.p12')} -deststoretype PKCS12, then point the spec at the .p12 "
        "(SEPM accepts PKCS#12 too)"
    )
    with pytest.raises(CertificateFileError) as as_certificate:
        load_certificates(path)
    assert as_certificate.value.code == "cert-jks"


def test_a_pkcs12_made_by_keytool_opens_with_its_password(java_keystores: dict[str, Path]) -> None:
    contents = load_keystore(java_keystores["pkcs12"], JKS_PASSWORD)
    assert contents.format is KeystoreFormat.PKCS12
    assert contents.certificate.subject.rfc4514_string() == "CN=sepm-east-01.corp.example"


def test_a_keystore_whose_key_matches_none_of_its_certificates_still_loads_for_the_checks(pki: Pki) -> None:
    contents = load_keystore(pki.path("mismatched.pem"), None)
    assert fingerprint(contents.certificate) == fingerprint(pki.good.cert)
    assert contents.chain == ()


def test_oversized_files_are_refused_before_reading(tmp_path: Path) -> None:
    big = tmp_path / "big.crt"
    big.write_bytes(b"0" * (1024 * 1024 + 1))
    with pytest.raises(CertificateFileError) as caught:
        load_certificates(big)
    assert caught.value.code == "cert-invalid"
    assert str(caught.value) == f"{big} is 1048577 bytes: too large to be a certificate or keystore"
