"""Reading certificates and keystores from files: PEM, DER, PKCS#12, PEM certificate + key. JKS is recognised
and refused with the command that converts it.

Every failure is a :class:`CertificateFileError` naming the file and carrying a stable ``code``; a password never
appears in a message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from reconciler.certs._facts import malformed_extension, same_public_key
from reconciler.errors import CertificateError

__all__ = [
    "CertificateFile",
    "CertificateFileError",
    "KeystoreContents",
    "KeystoreFormat",
    "load_certificates",
    "load_keystore",
]

MAX_FILE_SIZE = 1 << 20  # 1 MiB: far more than any certificate chain or keystore

_JKS_MAGIC = {b"\xfe\xed\xfe\xed": "Java KeyStore (JKS)", b"\xce\xce\xce\xce": "Java JCEKS keystore"}
_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n.*?-----END \1-----", re.DOTALL)
_PRIVATE_KEY_LABEL = re.compile(rb"^(?:[A-Z0-9]+ )?(?:ENCRYPTED )?PRIVATE KEY$")


class CertificateFileError(CertificateError):
    """A certificate or keystore file cannot be used. ``code`` says why (stable, documented in docs/spec.md)."""

    def __init__(self, message: str, *, code: str) -> None:
        self.code = code
        super().__init__(message)


class KeystoreFormat(StrEnum):
    PKCS12 = "pkcs12"
    PEM = "pem"


@dataclass(frozen=True, slots=True)
class CertificateFile:
    """The certificates of a public certificate file, in file order (the server's own certificate first)."""

    path: Path
    certificates: tuple[x509.Certificate, ...]
    has_private_key: bool  # a private key sits in a file meant to be public (and committed)

    @property
    def leaf(self) -> x509.Certificate:
        return self.certificates[0]

    @property
    def chain_length(self) -> int:
        return len(self.certificates)


@dataclass(frozen=True, slots=True)
class KeystoreContents:
    """A private key, the certificate that goes with it (when one does) and the rest of the chain."""

    path: Path
    format: KeystoreFormat
    key: Any  # a cryptography private key (RSA, EC…)
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]

    @property
    def chain_length(self) -> int:
        return 1 + len(self.chain)


def _read(path: Path, prefix: str) -> bytes:
    try:
        size = path.stat().st_size
        if size > MAX_FILE_SIZE:
            raise CertificateFileError(
                f"{path} is {size} bytes: too large to be a certificate or keystore", code=f"{prefix}-invalid"
            )
        return path.read_bytes()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise CertificateFileError(f"cannot read {path}: {reason}", code=f"{prefix}-unreadable") from exc


def _refuse_jks(path: Path, data: bytes, prefix: str) -> None:
    kind = _JKS_MAGIC.get(data[:4])
    if kind is None:
        return
    store_type = "JCEKS" if "JCEKS" in kind else "JKS"
    raise CertificateFileError(
        f"{path} is a {kind}, which this tool cannot read (no maintained Python reader exists): convert it with "
        f"keytool -importkeystore -srckeystore {path} -srcstoretype {store_type} "
        f"-destkeystore {path.with_suffix('.p12')} -deststoretype PKCS12, then point the spec at the .p12 "
        "(SEPM accepts PKCS#12 too)",
        code=f"{prefix}-jks",
    )


def _looks_like_pkcs12(data: bytes) -> bool:
    """A DER ``PFX ::= SEQUENCE { version INTEGER (3), … }`` — a certificate starts with a nested SEQUENCE."""
    if len(data) < 8 or data[0] != 0x30:
        return False
    length_octet = data[1]
    header = 2 + (length_octet & 0x7F if length_octet & 0x80 else 0)
    return data[header : header + 3] == b"\x02\x01\x03"


def _checked(path: Path, certs: list[x509.Certificate], prefix: str) -> list[x509.Certificate]:
    """``certs``, once each one's extensions parse: a malformed one is refused here, where the file is named,
    rather than by whichever check first reads it."""
    for number, cert in enumerate(certs, 1):
        try:
            cert.extensions  # noqa: B018 - parsed for its ValueError
        except ValueError as exc:
            raise CertificateFileError(
                f"{path}: certificate number {number} has a malformed extension that TLS clients would reject "
                f"({malformed_extension(exc)}): reissue it",
                code=f"{prefix}-invalid",
            ) from exc
    return certs


def _pem_blocks(data: bytes) -> list[tuple[bytes, bytes]]:
    return [(m.group(1), m.group(0)) for m in _PEM_BLOCK.finditer(data)]


def _has_private_key(data: bytes) -> bool:
    return any(_PRIVATE_KEY_LABEL.match(label) for label, _ in _pem_blocks(data))


def _pem_certificates(path: Path, data: bytes, prefix: str) -> list[x509.Certificate]:
    certs: list[x509.Certificate] = []
    for label, block in _pem_blocks(data):
        if label not in (b"CERTIFICATE", b"X509 CERTIFICATE", b"TRUSTED CERTIFICATE"):
            continue
        try:
            certs.append(x509.load_pem_x509_certificate(block))
        except ValueError as exc:
            raise CertificateFileError(
                f"{path}: PEM certificate number {len(certs) + 1} is damaged (truncated or edited?)",
                code=f"{prefix}-invalid",
            ) from exc
    return _checked(path, certs, prefix)


def load_certificates(path: Path) -> CertificateFile:
    """Read a public certificate file: PEM (one or more certificates, server certificate first) or DER.

    Codes: ``cert-unreadable``, ``cert-invalid``, ``cert-jks``, ``cert-is-keystore``.
    """
    data = _read(path, "cert")
    _refuse_jks(path, data, "cert")
    if b"-----BEGIN" in data:
        certs = _pem_certificates(path, data, "cert")
        if not certs:
            raise CertificateFileError(
                f"{path} holds no PEM certificate (no -----BEGIN CERTIFICATE----- block)", code="cert-invalid"
            )
        return CertificateFile(path, tuple(certs), _has_private_key(data))
    if _looks_like_pkcs12(data):
        raise CertificateFileError(
            f"{path} is a PKCS#12 keystore, not a public certificate: extract the certificate with "
            f"openssl pkcs12 -in {path} -clcerts -nokeys -out {path.with_suffix('.crt')} and commit only that",
            code="cert-is-keystore",
        )
    try:
        cert = x509.load_der_x509_certificate(data)
    except ValueError as exc:
        raise CertificateFileError(
            f"{path} is neither a PEM nor a DER certificate (expected -----BEGIN CERTIFICATE----- text or DER bytes)",
            code="cert-invalid",
        ) from exc
    return CertificateFile(path, tuple(_checked(path, [cert], "cert")), False)


def _password_bytes(password: str | None) -> bytes | None:
    return None if password is None else password.encode("utf-8")


def _arrange(path: Path, fmt: KeystoreFormat, key: Any, certs: list[x509.Certificate]) -> KeystoreContents:
    """Put the certificate that matches the key first (or the first one when none matches: a finding, not here)."""
    if not certs:
        raise CertificateFileError(
            f"{path} holds a private key but no certificate", code="keystore-no-certificate"
        )
    leaf = next((c for c in certs if same_public_key(c.public_key(), key)), certs[0])
    chain = tuple(c for c in certs if c is not leaf)
    return KeystoreContents(path, fmt, key, leaf, chain)


def _load_pem_key(path: Path, block: bytes, password: str | None) -> Any:
    try:
        return serialization.load_pem_private_key(block, password=None)
    except TypeError:
        pass  # encrypted: needs the password
    except ValueError as exc:
        raise CertificateFileError(
            f"{path}: the private key is damaged: {exc}", code="keystore-invalid"
        ) from exc
    if password is None:
        raise CertificateFileError(
            f"the private key in {path} is encrypted: give keystore.password",
            code="keystore-password-required",
        )
    try:
        return serialization.load_pem_private_key(block, password=_password_bytes(password))
    except (ValueError, TypeError) as exc:
        raise CertificateFileError(
            f"cannot decrypt the private key in {path}: wrong keystore password (or a damaged key)",
            code="keystore-wrong-password",
        ) from exc


def _load_pem(path: Path, data: bytes, key_data: bytes | None, password: str | None) -> KeystoreContents:
    key_source = key_data if key_data is not None else data
    key_blocks = [block for label, block in _pem_blocks(key_source) if _PRIVATE_KEY_LABEL.match(label)]
    if not key_blocks:
        where = "the key file" if key_data is not None else str(path)
        raise CertificateFileError(
            f"{where} holds no PEM private key (-----BEGIN PRIVATE KEY----- block)", code="keystore-no-key"
        )
    if len(key_blocks) > 1:
        raise CertificateFileError(
            f"{path} holds {len(key_blocks)} private keys: keep exactly one", code="keystore-invalid"
        )
    key = _load_pem_key(path, key_blocks[0], password)
    return _arrange(path, KeystoreFormat.PEM, key, _pem_certificates(path, data, "keystore"))


def _load_pkcs12(path: Path, data: bytes, password: str | None) -> KeystoreContents:
    try:
        key, cert, additional = pkcs12.load_key_and_certificates(data, _password_bytes(password))
    except ValueError as exc:
        if password is None:
            raise CertificateFileError(
                f"cannot open the PKCS#12 keystore {path} without a password: give keystore.password",
                code="keystore-password-required",
            ) from exc
        raise CertificateFileError(
            f"cannot open the PKCS#12 keystore {path}: wrong keystore password (or a damaged file)",
            code="keystore-wrong-password",
        ) from exc
    if key is None:
        raise CertificateFileError(
            f"the PKCS#12 keystore {path} holds no private key", code="keystore-no-key"
        )
    certs = ([cert] if cert is not None else []) + list(additional)
    return _arrange(path, KeystoreFormat.PKCS12, key, _checked(path, certs, "keystore"))


def load_keystore(path: Path, password: str | None, *, key_file: Path | None = None) -> KeystoreContents:
    """Open a keystore: PKCS#12 (with ``password``), or PEM certificate(s) + private key in one file or in
    ``path`` + ``key_file`` (``password`` decrypts an encrypted key). JKS is refused with a keytool hint.

    Codes: ``keystore-unreadable``, ``keystore-invalid``, ``keystore-jks``, ``keystore-password-required``,
    ``keystore-wrong-password``, ``keystore-no-key``, ``keystore-no-certificate``.
    """
    data = _read(path, "keystore")
    _refuse_jks(path, data, "keystore")
    if key_file is not None:
        key_data = _read(key_file, "keystore")
        if b"-----BEGIN" not in data or b"-----BEGIN" not in key_data:
            raise CertificateFileError(
                f"a keystore given as file + keyFile must be PEM: {path} and {key_file}",
                code="keystore-invalid",
            )
        return _load_pem(path, data, key_data, password)
    if b"-----BEGIN" in data:
        return _load_pem(path, data, None, password)
    if _looks_like_pkcs12(data):
        return _load_pkcs12(path, data, password)
    raise CertificateFileError(
        f"{path} is not a keystore this tool reads: expected PKCS#12 (.p12/.pfx) or PEM certificate + key",
        code="keystore-invalid",
    )
