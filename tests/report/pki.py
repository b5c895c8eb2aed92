"""Certificates for the report tests: a CA and RSA leaves it signs, with the validity each test needs."""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # one key for every leaf: RSA is slow


@dataclass(frozen=True)
class Leaf:
    cert: x509.Certificate
    cert_file: Path
    key_file: Path

    @property
    def fingerprint(self) -> str:
        return "sha256:" + hashlib.sha256(self.cert.public_bytes(serialization.Encoding.DER)).hexdigest()


class Pki:
    """``Pki(directory)`` makes a CA (``ca_file`` is the spec's caBundle); ``leaf(name, days=…)`` signs a leaf for
    127.0.0.1 valid from a day ago for ``days`` days from now."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Report Test CA")])
        now = datetime.now(UTC)
        self.ca = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self._ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self._ca_key, hashes.SHA256())
        )
        self.ca_file = directory / "ca.pem"
        self.ca_file.write_bytes(self.ca.public_bytes(serialization.Encoding.PEM))

    def leaf(self, common_name: str, *, days: float = 365) -> Leaf:
        now = datetime.now(UTC)
        sans = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(self.ca.subject)
            .public_key(_KEY.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .sign(self._ca_key, hashes.SHA256())
        )
        stem = common_name.replace(" ", "-").lower()
        cert_file, key_file = self.directory / f"{stem}.crt", self.directory / f"{stem}.key"
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(
            _KEY.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        return Leaf(cert, cert_file, key_file)
