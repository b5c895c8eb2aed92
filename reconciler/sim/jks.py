"""A reader for Java KeyStore (JKS) files, the format of SEPM's ``tomcat\\etc\\keystore.jks``.

No maintained Python library reads JKS (pyjks is unmaintained), and the format is small and documented, so the
simulator reads it itself. Layout (big-endian): magic ``FEEDFEED``, version (1 or 2), entry count, then entries —
tag 1 (private key: alias, timestamp, ``EncryptedPrivateKeyInfo``, certificate chain) or tag 2 (trusted
certificate) — and a SHA-1 integrity digest over ``UTF-16BE(password) + "Mighty Aphrodite" + everything before``.
Private keys use Sun's proprietary *KeyProtector* (OID 1.3.6.1.4.1.42.2.17.1.1): a SHA-1 keystream XORed over the
PKCS#8 key, with a 20-byte salt before it and a SHA-1 check after it.
"""

from __future__ import annotations

import hashlib
import hmac
import struct

from reconciler.sim.errors import CertificateRejected

__all__ = ["JKS_MAGIC", "read_jks_private_key"]

JKS_MAGIC = 0xFEEDFEED
_JCEKS_MAGIC = 0xCECECECE
_KEY_PROTECTOR_OID = bytes.fromhex("2b060104012a02110101")  # 1.3.6.1.4.1.42.2.17.1.1, DER content octets


class _Buffer:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise CertificateRejected("the keystore is truncated or corrupt")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def u16(self) -> int:
        value: int = struct.unpack(">H", self.take(2))[0]
        return value

    def u32(self) -> int:
        value: int = struct.unpack(">I", self.take(4))[0]
        return value

    def utf(self) -> str:
        return self.take(self.u16()).decode("utf-8", errors="replace")


def _der_tlv(data: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, start of content, end of content) of the DER element at ``pos``."""
    if pos + 2 > len(data):
        raise CertificateRejected("the keystore's key entry is not valid DER")
    tag, length = data[pos], data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or pos + count > len(data):
            raise CertificateRejected("the keystore's key entry is not valid DER")
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    if pos + length > len(data):
        raise CertificateRejected("the keystore's key entry is not valid DER")
    return tag, pos, pos + length


def _protected_key(encrypted_info: bytes) -> bytes:
    """The ``encryptedData`` of an ``EncryptedPrivateKeyInfo`` protected with Sun's KeyProtector."""
    tag, start, end = _der_tlv(encrypted_info, 0)
    if tag != 0x30:
        raise CertificateRejected("the keystore's key entry is not an EncryptedPrivateKeyInfo")
    tag, alg_start, alg_end = _der_tlv(encrypted_info, start)
    oid_tag, oid_start, oid_end = _der_tlv(encrypted_info, alg_start)
    if tag != 0x30 or oid_tag != 0x06:
        raise CertificateRejected("the keystore's key entry is not an EncryptedPrivateKeyInfo")
    if encrypted_info[oid_start:oid_end] != _KEY_PROTECTOR_OID:
        raise CertificateRejected("the keystore's key is protected with an algorithm other than JKS's own")
    tag, data_start, data_end = _der_tlv(encrypted_info, alg_end)
    if tag != 0x04 or data_end > end:
        raise CertificateRejected("the keystore's key entry is not an EncryptedPrivateKeyInfo")
    return encrypted_info[data_start:data_end]


def _unprotect(protected: bytes, password: str) -> bytes:
    if len(protected) < 41:
        raise CertificateRejected("the keystore's key entry is truncated")
    salt, body, check = protected[:20], protected[20:-20], protected[-20:]
    secret = password.encode("utf-16-be")
    stream = bytearray()
    digest = salt
    while len(stream) < len(body):
        digest = hashlib.sha1(secret + digest).digest()  # noqa: S324 - SHA-1 is what the JKS format uses
        stream.extend(digest)
    plain = bytes(b ^ s for b, s in zip(body, stream, strict=False))
    if not hmac.compare_digest(hashlib.sha1(secret + plain).digest(), check):  # noqa: S324 - the JKS format
        raise CertificateRejected("wrong key password for the keystore's private key")
    return plain


def read_jks_private_key(
    data: bytes, password: str, key_password: str | None = None
) -> tuple[bytes, list[bytes]]:
    """The PKCS#8 DER key and the DER certificate chain of the keystore's single private-key entry.

    The store password checks the integrity digest (a wrong one is refused as keytool does); the key password
    defaults to the store password.
    """
    buf = _Buffer(data)
    magic = buf.u32() if len(data) >= 4 else 0
    if magic == _JCEKS_MAGIC:
        raise CertificateRejected("this is a JCEKS keystore; export it as JKS or PKCS#12")
    if magic != JKS_MAGIC:
        raise CertificateRejected("not a JKS keystore (no FEEDFEED magic number)")
    if len(data) < 32:
        raise CertificateRejected("the keystore is truncated or corrupt")
    body, digest = data[:-20], data[-20:]
    expected = hashlib.sha1(password.encode("utf-16-be") + b"Mighty Aphrodite" + body).digest()  # noqa: S324
    if not hmac.compare_digest(expected, digest):
        raise CertificateRejected("keystore was tampered with, or the password is incorrect")
    version = buf.u32()
    if version not in (1, 2):
        raise CertificateRejected(f"unsupported JKS version {version}")
    keys: list[tuple[bytes, list[bytes]]] = []
    for _ in range(buf.u32()):
        tag = buf.u32()
        buf.utf()  # alias
        buf.take(8)  # creation time
        if tag == 1:
            encrypted = buf.take(buf.u32())
            chain = []
            for _ in range(buf.u32()):
                if version == 2:
                    cert_type = buf.utf()
                    if cert_type != "X.509":
                        raise CertificateRejected(
                            f"unsupported certificate type {cert_type!r} in the keystore"
                        )
                chain.append(buf.take(buf.u32()))
            keys.append((encrypted, chain))
        elif tag == 2:
            if version == 2:
                buf.utf()
            buf.take(buf.u32())
        else:
            raise CertificateRejected(f"unknown keystore entry type {tag}")
    if buf.pos != len(body):
        raise CertificateRejected("the keystore is corrupt (trailing bytes)")
    if len(keys) != 1:
        raise CertificateRejected(
            f"the keystore must hold exactly one private key entry, it holds {len(keys)}"
        )
    encrypted, chain = keys[0]
    return _unprotect(_protected_key(encrypted), key_password or password), chain
