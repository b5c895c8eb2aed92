"""Session-scoped certificate fixtures shared by tests/certs and tests/specs."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from tests.certs.factory import NOW, Issued, certificate, malformed_san_certificate, pkcs12_bytes, write

HOST = "sepm-east-01.corp.example"
P12_PASSWORD = "correct horse battery staple"
JKS_PASSWORD = "jks-store-pass"


@dataclass(frozen=True)
class Pki:
    """Certificates and keystores on disk, all relative to ``root``."""

    root: Path
    ca: Issued
    good: Issued  # RSA 2048, CA-signed, SAN HOST, valid around NOW
    other: Issued  # another RSA 2048 certificate for HOST (a different key)

    def path(self, name: str) -> Path:
        return self.root / name


# tests/certs and tests/specs each register these fixtures; the cache makes them one per session.
_CACHE: dict[str, object] = {}


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    if "pki" in _CACHE:
        return _CACHE["pki"]  # type: ignore[return-value]  # stored below, always a Pki
    root = tmp_path_factory.mktemp("pki")
    ca = certificate("Test Root CA", ca=True, key_kind="rsa3072", not_after=NOW + timedelta(days=3650))
    good = certificate(HOST, sans=[HOST], issuer=ca)
    other = certificate(HOST, sans=[HOST], issuer=ca, key_kind="rsa2048b")
    bad_san = malformed_san_certificate(HOST)
    made = {
        "ca.pem": ca.pem(),
        "good.crt": good.pem(),
        "good.der": good.der(),
        "good-chain.pem": good.pem() + ca.pem(),
        "ca-first.pem": ca.pem() + good.pem(),
        "good.key": good.key_pem(),
        "good-encrypted.key": good.key_pem(P12_PASSWORD),
        "good-combined.pem": good.pem() + good.key_pem(),
        "good-encrypted-combined.pem": good.pem() + good.key_pem(P12_PASSWORD),
        "good.p12": pkcs12_bytes(good, P12_PASSWORD, chain=(ca,)),
        "good-nopass.p12": pkcs12_bytes(good, None),
        "other.p12": pkcs12_bytes(other, P12_PASSWORD),
        "other.crt": other.pem(),
        "mismatched.pem": good.pem() + other.key_pem(),
        "rsa1024.crt": certificate(HOST, sans=[HOST], key_kind="rsa1024", issuer=ca).pem(),
        "ec.crt": certificate(HOST, sans=[HOST], key_kind="ec256", issuer=ca).pem(),
        "ec.pem": certificate(HOST, sans=[HOST], key_kind="ec256", issuer=ca).pem(),
        "expired.crt": certificate(
            HOST,
            sans=[HOST],
            issuer=ca,
            not_before=NOW - timedelta(days=400),
            not_after=NOW - timedelta(days=1),
        ).pem(),
        "future.crt": certificate(
            HOST,
            sans=[HOST],
            issuer=ca,
            not_before=NOW + timedelta(days=2),
            not_after=NOW + timedelta(days=400),
        ).pem(),
        "expiring.crt": certificate(
            HOST,
            sans=[HOST],
            issuer=ca,
            not_before=NOW - timedelta(days=300),
            not_after=NOW + timedelta(days=10),
        ).pem(),
        "wrong-san.crt": certificate(
            "sepm-west-01.corp.example", sans=["sepm-west-01.corp.example"], issuer=ca
        ).pem(),
        "wildcard.crt": certificate("*.corp.example", sans=["*.corp.example"], issuer=ca).pem(),
        "cn-only.crt": certificate(HOST, issuer=ca).pem(),
        "ip-san.crt": certificate("192.0.2.10", sans=["192.0.2.10", "2001:db8::10"], issuer=ca).pem(),
        "self-signed.crt": certificate(HOST, sans=[HOST]).pem(),
        "garbage.crt": b"this is not a certificate\n",
        "empty.crt": b"",
        "key-only.pem": good.key_pem(),
        "truncated.crt": good.pem()[:200] + b"\n-----END CERTIFICATE-----\n",
        "bad-san.crt": bad_san.pem(),
        "bad-san.der": bad_san.der(),
    }
    for name, data in made.items():
        write(root / name, data)
    _CACHE["pki"] = Pki(root, ca, good, other)
    return _CACHE["pki"]  # type: ignore[return-value]  # just stored


def _keytool() -> str:
    path = shutil.which("keytool")
    if path is None:
        pytest.skip("keytool (a Java JDK/JRE) is not on PATH: cannot make a real JKS keystore to test with")
    return path


@pytest.fixture(scope="session")
def java_keystores(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Keystores made by the real keytool: ``jks``, ``jceks`` and ``pkcs12`` (password JKS_PASSWORD)."""
    keytool = _keytool()
    if "keytool" in _CACHE:
        return _CACHE["keytool"]  # type: ignore[return-value]  # stored below, always this dict
    root = tmp_path_factory.mktemp("keytool")
    env = {**os.environ, "KS_PASS": JKS_PASSWORD}
    stores = {}
    for store_type in ("JKS", "JCEKS", "PKCS12"):
        path = root / f"sepm.{store_type.lower()}"
        subprocess.run(
            [
                keytool, "-genkeypair", "-keystore", str(path), "-storetype", store_type,
                "-storepass:env", "KS_PASS", "-keypass:env", "KS_PASS", "-alias", "sepm",
                "-keyalg", "RSA", "-keysize", "2048", "-dname", f"CN={HOST}", "-ext", f"SAN=dns:{HOST}",
                "-validity", "365",
            ],
            env=env, check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        stores[store_type.lower()] = path
    _CACHE["keytool"] = stores
    return stores


@pytest.fixture(scope="session")
def sha1_certificate(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SHA-1-signed certificate for HOST, made by the openssl CLI (cryptography refuses to sign with SHA-1)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip(
            "openssl is not on PATH: cannot make a SHA-1-signed certificate (cryptography refuses to)"
        )
    root = tmp_path_factory.mktemp("sha1")
    subprocess.run(
        [
            openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(root / "sha1.key"),
            "-out", str(root / "sha1.crt"), "-sha1", "-subj", f"/CN={HOST}", "-addext", f"subjectAltName=DNS:{HOST}",
            "-days", "3650",
        ],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return root / "sha1.crt"
