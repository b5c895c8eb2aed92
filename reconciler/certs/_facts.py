"""Facts of a certificate: fingerprint, names, validity, key. Pure functions of the certificate."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa, x448, x25519
from cryptography.x509.oid import NameOID

from reconciler.core.observation import ServedCertificate
from reconciler.errors import CertificateError

__all__ = [
    "CertificateFacts",
    "describe",
    "fingerprint",
    "key_description",
    "malformed_extension",
    "same_public_key",
    "served_certificate",
    "subject_alt_names",
]


def fingerprint(cert: x509.Certificate) -> str:
    """``sha256:`` + 64 lowercase hex digits of the DER encoding: the fingerprint used everywhere."""
    return "sha256:" + hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def malformed_extension(exc: ValueError) -> str:
    """Which extension ``cryptography`` could not parse, from its error: ``subject_alternative_name``…"""
    found = re.search(r'location: \["([A-Za-z_]+)"', str(exc))
    return found.group(1) if found else str(exc)[:120]


def _extensions(cert: x509.Certificate) -> x509.Extensions:
    try:
        return cert.extensions
    except ValueError as exc:
        raise CertificateError(
            f"the certificate has a malformed extension ({malformed_extension(exc)})"
        ) from exc


def subject_alt_names(cert: x509.Certificate) -> tuple[str, ...]:
    """DNS names and IP addresses of the subjectAltName extension, in certificate order ('' entries skipped).

    Raises :class:`~reconciler.errors.CertificateError` when the certificate's extensions are malformed."""
    try:
        san = _extensions(cert).get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return ()
    names: list[str] = []
    for general_name in san:
        if isinstance(general_name, x509.DNSName):
            names.append(general_name.value)
        elif isinstance(general_name, x509.IPAddress):
            names.append(str(general_name.value))
    return tuple(names)


def common_names(cert: x509.Certificate) -> tuple[str, ...]:
    return tuple(str(attr.value) for attr in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME))


def key_description(key: Any) -> tuple[str, int | None, str | None]:
    """``(type, bits, curve)`` of a public or private key: ``("RSA", 2048, None)``, ``("EC", 256, "secp256r1")``."""
    if isinstance(key, rsa.RSAPublicKey | rsa.RSAPrivateKey):
        return ("RSA", key.key_size, None)
    if isinstance(key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey):
        return ("EC", key.curve.key_size, key.curve.name)
    if isinstance(key, dsa.DSAPublicKey | dsa.DSAPrivateKey):
        return ("DSA", key.key_size, None)
    if isinstance(key, ed25519.Ed25519PublicKey | ed25519.Ed25519PrivateKey):
        return ("Ed25519", 256, None)
    if isinstance(key, ed448.Ed448PublicKey | ed448.Ed448PrivateKey):
        return ("Ed448", 456, None)
    if isinstance(key, x25519.X25519PublicKey | x448.X448PublicKey):
        return ("X25519" if isinstance(key, x25519.X25519PublicKey) else "X448", None, None)
    return (type(key).__name__, None, None)


def same_public_key(a: Any, b: Any) -> bool:
    """Whether two keys (public or private, any type) share the same public key."""
    pub_a = a.public_key() if hasattr(a, "private_bytes") else a
    pub_b = b.public_key() if hasattr(b, "private_bytes") else b
    fmt = serialization.PublicFormat.SubjectPublicKeyInfo
    return bool(
        pub_a.public_bytes(serialization.Encoding.DER, fmt)
        == pub_b.public_bytes(serialization.Encoding.DER, fmt)
    )


@dataclass(frozen=True, slots=True)
class CertificateFacts:
    """What ``validate`` reports about a certificate. Times are timezone-aware UTC."""

    fingerprint: str
    subject: str
    issuer: str
    sans: tuple[str, ...]
    serial: str
    not_before: datetime
    not_after: datetime
    key_type: str
    key_size: int | None
    curve: str | None
    signature_hash: str | None
    is_ca: bool
    self_signed: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint,
            "subject": self.subject,
            "issuer": self.issuer,
            "sans": list(self.sans),
            "serial": self.serial,
            "not_before": self.not_before.isoformat(),
            "not_after": self.not_after.isoformat(),
            "key_type": self.key_type,
            "key_size": self.key_size,
            "curve": self.curve,
            "signature_hash": self.signature_hash,
            "is_ca": self.is_ca,
            "self_signed": self.self_signed,
        }


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(_extensions(cert).get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def describe(cert: x509.Certificate) -> CertificateFacts:
    """The facts of ``cert``. Raises :class:`~reconciler.errors.CertificateError` for malformed extensions."""
    key_type, key_size, curve = key_description(cert.public_key())
    hash_algorithm = cert.signature_hash_algorithm
    return CertificateFacts(
        fingerprint=fingerprint(cert),
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        sans=subject_alt_names(cert),
        serial=f"{cert.serial_number:x}",
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        key_type=key_type,
        key_size=key_size,
        curve=curve,
        signature_hash=hash_algorithm.name if hash_algorithm is not None else None,
        is_ca=_is_ca(cert),
        self_signed=cert.subject == cert.issuer,
    )


def served_certificate(der: bytes) -> ServedCertificate:
    """The :class:`ServedCertificate` of a DER certificate seen in a TLS handshake (trusted or not).

    Raises :class:`~reconciler.errors.CertificateError` when ``der`` is not a certificate.
    """
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError as exc:
        raise CertificateError(
            f"the server presented something that is not a DER certificate: {exc}"
        ) from exc
    facts = describe(cert)
    return ServedCertificate(
        fingerprint=facts.fingerprint,
        subject=facts.subject,
        issuer=facts.issuer,
        sans=facts.sans,
        serial=facts.serial,
        not_before=facts.not_before,
        not_after=facts.not_after,
    )
