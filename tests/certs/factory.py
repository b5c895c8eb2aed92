"""Kept for the tests that import it: the certificate builders live in :mod:`tests.support.pki`."""

from tests.support.pki import (
    DER,
    NOW,
    PEM,
    Issued,
    certificate,
    key,
    malformed_san_certificate,
    pkcs12_bytes,
    write,
)

__all__ = [
    "DER",
    "NOW",
    "PEM",
    "Issued",
    "certificate",
    "key",
    "malformed_san_certificate",
    "pkcs12_bytes",
    "write",
]
