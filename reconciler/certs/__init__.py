"""Certificate and keystore inspection (``cryptography``): facts and named findings.

Reading: :func:`load_certificates` (PEM/DER public certificates), :func:`load_keystore` (PKCS#12, PEM certificate +
key; JKS refused with a keytool hint). Facts: :func:`fingerprint`, :func:`describe`, :func:`served_certificate`.
Checks (pure; ``now`` is a parameter): :func:`check_certificate`, :func:`check_keystore`, :func:`check_key`,
:func:`covers_host`; :func:`trust_problem` (will a certificate verify for a host against :func:`load_anchors`). This layer knows nothing of specs (see :mod:`reconciler.specs` for the glue).
"""

from reconciler.certs._checks import MIN_RSA_BITS, check_certificate, check_key, check_keystore
from reconciler.certs._facts import CertificateFacts, describe, fingerprint, served_certificate
from reconciler.certs._findings import Finding, Severity
from reconciler.certs._hostname import HostMatch, covers_host
from reconciler.certs._load import (
    CertificateFile,
    CertificateFileError,
    KeystoreContents,
    KeystoreFormat,
    load_certificates,
    load_keystore,
)
from reconciler.certs._trust import TrustAnchors, load_anchors, trust_problem

__all__ = [
    "MIN_RSA_BITS",
    "CertificateFacts",
    "CertificateFile",
    "CertificateFileError",
    "Finding",
    "HostMatch",
    "KeystoreContents",
    "KeystoreFormat",
    "Severity",
    "TrustAnchors",
    "check_certificate",
    "check_key",
    "check_keystore",
    "covers_host",
    "describe",
    "fingerprint",
    "load_anchors",
    "load_certificates",
    "load_keystore",
    "served_certificate",
    "trust_problem",
]
