"""The public surface of reconciler.specs and reconciler.certs is exactly what other layers use."""

from __future__ import annotations

import reconciler.certs as certs
import reconciler.specs as specs


def test_specs_exports_the_loader_api_and_nothing_else() -> None:
    assert set(specs.__all__) == {
        "LoadedServer",
        "Location",
        "Severity",
        "SpecIssue",
        "SpecSet",
        "check_certificates",
        "check_procedure",
        "check_secrets",
        "check_trust",
        "desired_fingerprint",
        "load_specs",
        "new_certificate_trust",
        "resolve_secret",
    }
    assert all(hasattr(specs, name) for name in specs.__all__)


def test_certs_exports_the_inspection_api_and_nothing_else() -> None:
    assert set(certs.__all__) == {
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
    }
    assert all(hasattr(certs, name) for name in certs.__all__)
