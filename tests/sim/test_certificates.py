"""Certificate updates in every form SEPM accepts (JKS, PKCS#12, PEM), and the ones it refuses."""

from __future__ import annotations

import base64
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from reconciler.sim import CertificateRejected, generate_certificate
from reconciler.sim.admin import decode_certificate
from reconciler.sim.certs import load_jks, load_pem, to_pkcs12

DATA = Path(__file__).parent / "data"
KEYTOOL_FINGERPRINT = (
    "sha256:84fd0a1cac352272433ffd7afdd9439a1d692516201485db598f3a310d7ef5f1"  # keytool -list -v
)


def fixture(name: str) -> bytes:
    return base64.b64decode((DATA / name).read_text())


def test_a_keytool_jks_keystore_is_read() -> None:
    cert = load_jks(fixture("keytool-rsa.jks.b64"), "store-pass")
    assert cert.fingerprint == KEYTOOL_FINGERPRINT
    assert cert.subject == "CN=jks.corp.example"


@pytest.mark.parametrize(
    ("name", "password", "key_password", "fragment"),
    [
        ("keytool-rsa.jks.b64", "wrong", None, "password is incorrect"),
        ("keytool-rsa.jks.b64", "store-pass", "wrong", "wrong key password"),
        ("keytool-ec.jks.b64", "store-pass", None, "not RSA"),
    ],
    ids=["wrong-store-password", "wrong-key-password", "ec-key"],
)
def test_a_jks_keystore_sepm_would_refuse_is_refused(
    name: str, password: str, key_password: str | None, fragment: str
) -> None:
    with pytest.raises(CertificateRejected, match=fragment):
        load_jks(fixture(name), password, key_password)


@pytest.mark.parametrize(
    ("data", "fragment"),
    [(b"\xce\xce\xce\xce" + b"\0" * 40, "JCEKS"), (b"not a keystore at all, really", "FEEDFEED")],
    ids=["jceks", "garbage"],
)
def test_other_keystore_formats_are_named(data: bytes, fragment: str) -> None:
    with pytest.raises(CertificateRejected, match=fragment):
        load_jks(data, "x")


def test_a_truncated_jks_keystore_is_refused() -> None:
    data = fixture("keytool-rsa.jks.b64")
    with pytest.raises(CertificateRejected):
        load_jks(data[: len(data) // 2], "store-pass")


@pytest.mark.skipif(shutil.which("keytool") is None, reason="keytool (a JDK) is not installed")
@pytest.mark.parametrize("store_type", ["JKS", "PKCS12"], ids=["jks", "pkcs12-named-jks"])
def test_a_keystore_made_by_keytool_now_is_accepted(tmp_path: Path, store_type: str) -> None:
    store = tmp_path / "keystore.jks"
    subprocess.run(
        ["keytool", "-genkeypair", "-alias", "sepm", "-keyalg", "RSA", "-keysize", "2048", "-dname", "CN=now.example",
         "-validity", "30", "-storetype", store_type, "-keystore", str(store), "-storepass", "pass-word",
         "-keypass", "pass-word"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    body = {"jks_b64": base64.b64encode(store.read_bytes()).decode(), "password": "pass-word"}
    assert decode_certificate(body).subject == "CN=now.example"


def test_an_encrypted_pem_key_needs_its_password() -> None:
    cert_pem, key_pem = generate_certificate("pem.example")
    key = serialization.load_pem_private_key(key_pem, None)
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pem-pass"),
    )
    assert load_pem(cert_pem, encrypted, b"pem-pass").fingerprint.startswith("sha256:")
    with pytest.raises(CertificateRejected, match="wrong password"):
        load_pem(cert_pem, encrypted, b"nope")


def test_a_pkcs12_backup_round_trips() -> None:
    cert_pem, key_pem = generate_certificate("p12.example", sans=("127.0.0.1", "alt.example"))
    original = load_pem(cert_pem, key_pem)
    blob = to_pkcs12(original, b"p12-pass")
    body = {"pkcs12_b64": base64.b64encode(blob).decode(), "password": "p12-pass"}
    assert decode_certificate(body).fingerprint == original.fingerprint
    sans = x509.load_pem_x509_certificate(cert_pem).extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    )
    assert [str(n.value) for n in sans.value] == ["p12.example", "127.0.0.1", "alt.example"]
