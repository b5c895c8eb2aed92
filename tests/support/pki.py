"""Certificates for every test, made with ``cryptography`` (independent of ``reconciler.certs.generate``).

Two levels:

* :func:`certificate` and friends build one certificate in memory (:class:`Issued`), with any validity, key, SANs or
  hash — the certificate checks use them, around the fixed moment :data:`NOW`;
* :class:`Pki` is a CA on disk and the server certificates it signs for the simulator and the tests' own TLS servers
  (:class:`Leaf`: PEM files, an optional PKCS#12 keystore, the fingerprint), valid around the real clock because real
  TLS handshakes check them. :func:`make_ca` / :func:`make_leaf` are the same without a :class:`Pki` object.

RSA keys are slow to make: they are cached per kind and shared by the certificates that need no key of their own.
"""

from __future__ import annotations

import hashlib
import ipaddress
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtensionOID, NameOID

__all__ = [
    "DER",
    "NOW",
    "PEM",
    "Issued",
    "Leaf",
    "Pki",
    "certificate",
    "key",
    "make_ca",
    "make_leaf",
    "malformed_san_certificate",
    "pkcs12_bytes",
    "write",
]

# The certificate checks take ``now``: their tests use this fixed moment and build validity periods around it.
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
PEM = serialization.Encoding.PEM
DER = serialization.Encoding.DER

_KEYS: dict[str, Any] = {}


def key(kind: str = "rsa2048") -> Any:
    """A private key, cached per kind: rsa2048 (and rsa2048b, rsa2048c… other keys of that size), rsa1024,
    rsa3072, ec256 — or ``new``: an RSA 2048 key of its own, never shared (a CA that must not be another's)."""
    if kind == "new":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if kind not in _KEYS:
        if kind.startswith("rsa"):
            bits = int(kind[3:].rstrip("abcdefghijklmnopqrstuvwxyz"))
            _KEYS[kind] = rsa.generate_private_key(public_exponent=65537, key_size=bits)
        elif kind == "ec256":
            _KEYS[kind] = ec.generate_private_key(ec.SECP256R1())
        else:  # pragma: no cover - a typo in a test
            raise ValueError(kind)
    return _KEYS[kind]


@dataclass(frozen=True)
class Issued:
    """A certificate and its private key, in memory."""

    key: Any
    cert: x509.Certificate

    def pem(self) -> bytes:
        return self.cert.public_bytes(PEM)

    def der(self) -> bytes:
        return self.cert.public_bytes(DER)

    @property
    def fingerprint(self) -> str:
        return "sha256:" + hashlib.sha256(self.der()).hexdigest()

    def key_pem(self, password: str | None = None) -> bytes:
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(password.encode())
            if password
            else serialization.NoEncryption()
        )
        return self.key.private_bytes(PEM, serialization.PrivateFormat.PKCS8, encryption)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def certificate(
    common_name: str,
    *,
    sans: list[str] | tuple[str, ...] | None = None,
    key_kind: str = "rsa2048",
    issuer: Issued | None = None,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    ca: bool = False,
    hash_algorithm: hashes.HashAlgorithm | None = None,
    path_length: int | None = None,
) -> Issued:
    """A certificate for ``common_name``; self-signed unless ``issuer`` is given. SANs: DNS names or IPs.
    Validity defaults to 30 days before :data:`NOW` until a year after it."""
    private = key(key_kind)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(issuer.cert.subject if issuer else _name(common_name))
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or NOW - timedelta(days=30))
        .not_valid_after(not_after or NOW + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=path_length), critical=True)
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
    return Issued(private, builder.sign(signer, hash_algorithm or hashes.SHA256()))


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
    truncated = x509.UnrecognizedExtension(ExtensionOID.SUBJECT_ALTERNATIVE_NAME, b"\x30\x03\x82\x01")
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=30))
        .not_valid_after(NOW + timedelta(days=365))
        .add_extension(truncated, critical=False)
        .sign(private, hashes.SHA256())
    )
    return Issued(private, cert)


# --- on disk: a CA and the server certificates it signs ------------------------------------------------------------


@dataclass(frozen=True)
class Leaf:
    """A certificate on disk: PEM certificate and key, a PKCS#12 keystore when one was asked for."""

    issued: Issued
    cert_file: Path
    key_file: Path
    p12_file: Path | None = None

    @property
    def cert(self) -> x509.Certificate:
        return self.issued.cert

    @property
    def key(self) -> Any:
        return self.issued.key

    @property
    def der(self) -> bytes:
        return self.issued.der()

    @property
    def fingerprint(self) -> str:
        return self.issued.fingerprint

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


def _on_disk(issued: Issued, directory: Path, stem: str, p12_password: str | None = None) -> Leaf:
    directory.mkdir(parents=True, exist_ok=True)
    cert_file = write(directory / f"{stem}.crt", issued.pem())
    key_file = write(directory / f"{stem}.key", issued.key_pem())
    p12_file = None
    if p12_password is not None:
        p12_file = write(directory / f"{stem}.p12", pkcs12_bytes(issued, p12_password))
    return Leaf(issued, cert_file, key_file, p12_file)


def _stem(common_name: str) -> str:
    return common_name.replace(" ", "-").lower()


SIMULATED_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
"""Before every simulated start the suite uses (its fleets start on 2026-12-01, on a clock the tests move): the
certificates made on disk are valid from then — or from a day ago, if earlier — so that a reconciler whose clock is
the simulator's finds them valid, as it checks the new certificate's validity at the planned swap."""


def _valid_from(now: datetime) -> datetime:
    return min(now - timedelta(days=1), SIMULATED_EPOCH)


def make_ca(directory: Path, common_name: str = "Test Root CA", *, days: float = 3650) -> Leaf:
    """A CA on disk (``<name>.crt``/``.key``), valid from :data:`SIMULATED_EPOCH` (real clock)."""
    now = datetime.now(UTC)
    issued = certificate(
        common_name,
        key_kind="new",
        ca=True,
        not_before=_valid_from(now),
        not_after=now + timedelta(days=days),
    )
    return _on_disk(issued, directory, _stem(common_name))


def make_leaf(
    directory: Path,
    common_name: str,
    *,
    issuer: Leaf | Issued | None = None,
    dns: tuple[str, ...] = ("localhost",),
    ips: tuple[str, ...] = ("127.0.0.1",),
    days: float = 90,
    stem: str | None = None,
    p12_password: str | None = None,
    key_kind: str = "rsa2048",
) -> Leaf:
    """A server certificate for ``common_name`` (SANs ``dns`` and ``ips``), signed by ``issuer`` (self-signed when
    None), valid from :data:`SIMULATED_EPOCH` until ``days`` days from now (real clock)."""
    now = datetime.now(UTC)
    signer = issuer.issued if isinstance(issuer, Leaf) else issuer
    issued = certificate(
        common_name,
        sans=(*dns, *ips),
        key_kind=key_kind,
        issuer=signer,
        not_before=_valid_from(now),
        not_after=now + timedelta(days=days),
    )
    return _on_disk(issued, directory, stem or _stem(common_name), p12_password)


class Pki:
    """``Pki(directory)`` makes a CA (``ca_file`` is the specs' ``caBundle``); ``leaf(name)`` signs a server
    certificate for localhost / 127.0.0.1 with it."""

    def __init__(
        self, directory: Path, name: str = "Test Root CA", *, p12_password: str | None = None
    ) -> None:
        self.directory = directory
        self.authority = make_ca(directory, name)
        self.ca_file = self.authority.cert_file
        self.ca = self.authority.cert
        self.p12_password = p12_password

    def leaf(
        self, stem: str, *, common_name: str | None = None, days: float = 365, key_kind: str = "rsa2048"
    ) -> Leaf:
        return make_leaf(
            self.directory,
            common_name or stem,
            issuer=self.authority,
            days=days,
            stem=_stem(stem),
            p12_password=self.p12_password,
            key_kind=key_kind,
        )
