"""The twin's certificates: a private CA, and per manager a certificate it presents now and one to rotate to.

The twin cannot have the real keys, so it gets certificates of its own with the *validity* of the real ones (the
certificate each manager presents now, the one its spec desires): what the reconciler checks against dates — a
desired certificate not valid yet at the planned swap, say — behaves as it would on the real manager. Each is issued
for ``127.0.0.1`` (where the twin listens) by a CA the twin's specs trust, with a PKCS#12 keystore for step 4.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from reconciler.certs.generate import issue_server_certificate, make_ca

__all__ = ["TwinCert", "TwinPki"]

_HOST = "127.0.0.1"


@dataclass(frozen=True, slots=True)
class TwinCert:
    cert_file: Path
    key_file: Path
    p12_file: Path
    fingerprint: str


def _private(path: Path, data: bytes) -> None:
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_bytes(data)


class TwinPki:
    """A CA in ``directory`` (``ca.pem``) and the certificates it issues; the keystores' password is in
    ``p12-password`` (mode 0600), which the twin's specs name as a ``{file: …}`` secret."""

    def __init__(self, directory: Path, now: datetime) -> None:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.directory = directory
        self.now = now
        self._key, self._cert = make_ca(now - timedelta(days=3650), 7300)
        self.ca_file = directory / "ca.pem"
        self.ca_file.write_bytes(self._cert.public_bytes(serialization.Encoding.PEM))
        self.password_file = directory / "p12-password"
        self._password = secrets.token_urlsafe(18)
        _private(self.password_file, self._password.encode() + b"\n")

    def issue(self, stem: str, valid: tuple[datetime, datetime] | None = None) -> TwinCert:
        """A certificate for the twin's address, valid over ``valid`` (default: a year from an hour ago)."""
        key, cert = issue_server_certificate(self._key, self._cert, _HOST, self.now, 365, valid=valid)
        cert_file, key_file, p12_file = (self.directory / f"{stem}{ext}" for ext in (".crt", ".key", ".p12"))
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _private(
            key_file,
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ),
        )
        _private(
            p12_file,
            pkcs12.serialize_key_and_certificates(
                stem.encode(), key, cert, None, serialization.BestAvailableEncryption(self._password.encode())
            ),
        )
        return TwinCert(cert_file, key_file, p12_file, "sha256:" + cert.fingerprint(hashes.SHA256()).hex())
