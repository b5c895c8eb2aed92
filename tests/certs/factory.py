"""Certificate fixtures made with ``cryptography`` for the tests (independent of reconciler.certs.generate)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtensionOID, NameOID

# Every check takes ``now``: the tests use this fixed moment, and build validity periods around it.
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
PEM = serialization.Encoding.PEM
DER = serialization.Encoding.DER

_KEYS: dict[str, Any] = {}


def key(kind: str = "rsa2048") -> Any:
    """A private key, cached per kind (RSA generation is slow): rsa2048, rsa2048b, rsa1024, rsa3072, ec256."""
    if kind not in _KEYS:
        if kind.startswith("rsa"):
            bits = int(kind[3:].rstrip("abc"))
            _KEYS[kind] = rsa.generate_private_key(public_exponent=65537, key_size=bits)
        elif kind == "ec256":
            _KEYS[kind] = ec.generate_private_key(ec.SECP256R1())
        else:  # pragma: no cover - a typo in a test
            raise ValueError(kind)
    return _KEYS[kind]


@dataclass(frozen=True)
class Issued:
    key: Any
    cert: x509.Certificate

    def pem(self) -> bytes:
        return self.cert.public_bytes(PEM)

    def der(self) -> bytes:
        return self.cert.public_bytes(DER)

    def key_pem(self, password: str | None = None) -> bytes:
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(password.encode())
            if password
            else serialization.NoEncryption()
        )
        return self.key.private_bytes(PEM, serialization.PrivateFormat.PKCS8, encryption)


def certificate(
    common_name: str,
    *,
    sans: list[str] | None = None,
    key_kind: str = "rsa2048",
    issuer: Issued | None = None,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    ca: bool = False,
    hash_algorithm: hashes.HashAlgorithm | None = None,
) -> Issued:
    """A certificate for ``common_name``; self-signed unless ``issuer`` is given. SANs: DNS names or IPs."""
    private = key(key_kind)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or NOW - timedelta(days=30))
        .not_valid_after(not_after or NOW + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if sans:
        names: list[x509.GeneralName] = []
        for name in sans:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(name)))
            except ValueError:
                names.append(x509.DNSName(name))
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    signer = issuer.key if issuer else private
    cert = builder.sign(signer, hash_algorithm or hashes.SHA256())
    return Issued(private, cert)


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def pkcs12_bytes(issued: Issued, password: str | None, *, chain: tuple[Issued, ...] = ()) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password.encode()) if password else serialization.NoEncryption()
    )
    return pkcs12.serialize_key_and_certificates(
        b"sepm", issued.key, issued.cert, [c.cert for c in chain] or None, encryption
    )


def malformed_san_certificate(common_name: str) -> Issued:
    """A certificate whose subjectAltName extension is truncated DER: it loads, but its extensions do not parse."""
    private = key("rsa2048")
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    truncated = x509.UnrecognizedExtension(ExtensionOID.SUBJECT_ALTERNATIVE_NAME, b"\x30\x03\x82\x01")
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=30))
        .not_valid_after(NOW + timedelta(days=365))
        .add_extension(truncated, critical=False)
        .sign(private, hashes.SHA256())
    )
    return Issued(private, cert)
