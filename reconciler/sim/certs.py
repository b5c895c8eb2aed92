"""Server certificates as SEPM's *Manage Server Certificate > Update* accepts them, and test certificates.

SEPM takes a JKS keystore, a PKCS#12 file, or a PEM certificate + private key. Like SEPM, the simulator refuses a
non-RSA key, a wrong password, and a key that does not match the certificate, each with a precise message
(:class:`~reconciler.sim.errors.CertificateRejected`).
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from reconciler.sim.errors import CertificateRejected

__all__ = [
    "ServerCertificate",
    "fingerprint",
    "generate_certificate",
    "load_jks",
    "load_pem",
    "load_pkcs12",
    "to_pkcs12",
]


def fingerprint(cert: x509.Certificate) -> str:
    """``sha256:`` + 64 lowercase hex digits of the DER certificate (the project-wide form)."""
    return "sha256:" + hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


@dataclass(frozen=True, slots=True)
class ServerCertificate:
    """A certificate a manager can serve: the leaf (+ chain) and its RSA private key."""

    cert: x509.Certificate
    key: rsa.RSAPrivateKey
    chain: tuple[x509.Certificate, ...] = ()

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.cert)

    @property
    def subject(self) -> str:
        return self.cert.subject.rfc4514_string()

    def cert_chain_pem(self) -> bytes:
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (self.cert, *self.chain))

    def key_pem(self) -> bytes:
        """Unencrypted PKCS#8 PEM, for the listeners' private temporary files only."""
        return self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )


def generate_certificate(
    common_name: str,
    *,
    sans: tuple[str, ...] = (),
    key_size: int = 2048,
    days: int = 825,
    key_type: str = "rsa",
    not_before: datetime | None = None,
) -> tuple[bytes, bytes]:
    """A self-signed certificate and its unencrypted PEM key: ``(cert_pem, key_pem)``.

    The default matches SEPM's own (RSA 2048, SHA-256). ``key_type="ec"`` makes a P-256 key, which SEPM (and the
    simulator) refuses — handy for tests. The common name is always in the SANs (DNS, or IP for an address).
    """
    if key_type == "rsa":
        key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey = rsa.generate_private_key(65537, key_size)
    elif key_type == "ec":
        key = ec.generate_private_key(ec.SECP256R1())
    else:
        raise ValueError("key_type is rsa or ec")
    start = (not_before or datetime.now(UTC)).replace(microsecond=0)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    alt: list[x509.GeneralName] = []
    for entry in (common_name, *sans):
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(entry)))
        except ValueError:
            alt.append(x509.DNSName(entry))
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(list(dict.fromkeys(alt))), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def _checked(cert: x509.Certificate, key: object, chain: tuple[x509.Certificate, ...]) -> ServerCertificate:
    if not isinstance(key, rsa.RSAPrivateKey):
        raise CertificateRejected(
            f"the private key is {type(key).__name__.lstrip('_').replace('PrivateKey', '')}, not RSA: "
            "SEPM accepts RSA server certificates only"
        )
    public = cert.public_key()
    if not isinstance(public, rsa.RSAPublicKey):
        raise CertificateRejected(
            "the certificate's public key is not RSA: SEPM accepts RSA certificates only"
        )
    if public.public_numbers() != key.public_key().public_numbers():
        raise CertificateRejected("the private key does not match the certificate (different public keys)")
    for number, each in enumerate((cert, *chain), 1):
        try:
            each.extensions  # noqa: B018 - parsed for its ValueError
        except ValueError:
            raise CertificateRejected(
                f"certificate number {number} has a malformed extension: SEPM (and every TLS client) would refuse it"
            ) from None
    return ServerCertificate(cert=cert, key=key, chain=chain)


def load_pem(cert_pem: bytes, key_pem: bytes, password: bytes | None = None) -> ServerCertificate:
    """A PEM certificate (leaf first, then any chain) and a PEM private key (encrypted if ``password``)."""
    try:
        certs = x509.load_pem_x509_certificates(cert_pem)
    except ValueError as exc:
        raise CertificateRejected("the certificate is not a PEM X.509 certificate") from exc
    try:
        key = serialization.load_pem_private_key(key_pem, password=password or None)
    except TypeError as exc:  # encrypted key without password, or password for a plain key
        raise CertificateRejected(f"the private key cannot be read: {exc}") from exc
    except ValueError as exc:
        if b"ENCRYPTED" in key_pem:
            raise CertificateRejected("wrong password for the encrypted private key") from exc
        raise CertificateRejected("the private key is not a PEM private key") from exc
    return _checked(certs[0], key, tuple(certs[1:]))


def load_pkcs12(data: bytes, password: bytes) -> ServerCertificate:
    """A PKCS#12 (.p12/.pfx) file with one private key and its certificate."""
    try:
        key, cert, extra = pkcs12.load_key_and_certificates(data, password or None)
    except ValueError as exc:
        raise CertificateRejected(
            "cannot open the PKCS#12 file: wrong password, or not a PKCS#12 file"
        ) from exc
    if key is None or cert is None:
        raise CertificateRejected("the PKCS#12 file holds no private key with its certificate")
    return _checked(cert, key, tuple(extra))


def load_jks(data: bytes, password: str, key_password: str | None = None) -> ServerCertificate:
    """A Java KeyStore (JKS) with one private-key entry, as in SEPM's ``tomcat\\etc\\keystore.jks``."""
    from reconciler.sim.jks import read_jks_private_key  # local import: JKS is rarely used

    der_key, der_certs = read_jks_private_key(data, password, key_password)
    try:
        key = serialization.load_der_private_key(der_key, password=None)
        certs = [x509.load_der_x509_certificate(c) for c in der_certs]
    except ValueError as exc:
        raise CertificateRejected(
            "the keystore's key entry is not a readable key and certificate chain"
        ) from exc
    if not certs:
        raise CertificateRejected("the keystore's key entry has no certificate")
    return _checked(certs[0], key, tuple(certs[1:]))


def to_pkcs12(cert: ServerCertificate, password: bytes, name: str = "sepm") -> bytes:
    """A PKCS#12 backup of ``cert`` protected by ``password`` (what *Manage Server Certificate > Back up* does)."""
    if not password:
        raise CertificateRejected("a backup needs a password")
    return pkcs12.serialize_key_and_certificates(
        name.encode(),
        cert.key,
        cert.cert,
        list(cert.chain) or None,
        serialization.BestAvailableEncryption(password),
    )
