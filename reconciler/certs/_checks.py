"""The certificate checks: pure functions of a certificate (or keystore) and ``now``; each returns findings.

Codes (stable): ``key-not-rsa``, ``key-too-small``, ``cert-expired``, ``cert-not-yet-valid``, ``cert-expires-soon``,
``cert-host-mismatch``, ``cert-host-cn-only``, ``cert-weak-signature``, ``cert-is-ca``, ``cert-self-signed``,
``keystore-key-mismatch``, ``keystore-not-desired``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from cryptography import x509

from reconciler.certs._facts import describe, fingerprint, key_description, same_public_key
from reconciler.certs._findings import Finding, Severity
from reconciler.certs._hostname import HostMatch, covers_host
from reconciler.certs._load import KeystoreContents
from reconciler.core.durations import format_duration

__all__ = ["MIN_RSA_BITS", "check_certificate", "check_key", "check_keystore"]

MIN_RSA_BITS = 2048
_WEAK_HASHES = {"md5", "sha1"}


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _names(cert: x509.Certificate) -> str:
    facts = describe(cert)
    shown = ", ".join(facts.sans[:10]) + (", …" if len(facts.sans) > 10 else "")
    return f"subjectAltName {shown}" if facts.sans else f"no subjectAltName, subject {facts.subject}"


def check_key(key: Any, *, what: str = "the certificate's key") -> list[Finding]:
    """SEPM requires RSA keys of at least 2048 bits. ``key`` may be public or private."""
    key_type, bits, curve = key_description(key)
    if key_type != "RSA":
        detail = f" ({curve}, {bits} bits)" if curve else ""
        return [
            Finding(
                "key-not-rsa",
                Severity.ERROR,
                f"{what} is {key_type}{detail}: SEPM requires an RSA key of {MIN_RSA_BITS} bits or more",
            )
        ]
    if bits is not None and bits < MIN_RSA_BITS:
        return [
            Finding(
                "key-too-small",
                Severity.ERROR,
                f"{what} is RSA {bits} bits: SEPM requires at least {MIN_RSA_BITS}; reissue it with a larger key",
            )
        ]
    return []


def _validity(cert: x509.Certificate, now: datetime, expiry_warning: timedelta) -> list[Finding]:
    not_before, not_after = cert.not_valid_before_utc, cert.not_valid_after_utc
    if now >= not_after:
        return [Finding("cert-expired", Severity.ERROR, f"the certificate expired on {_when(not_after)}")]
    if now < not_before:
        return [
            Finding(
                "cert-not-yet-valid",
                Severity.ERROR,
                f"the certificate is not valid before {_when(not_before)}: clients would reject it until then",
            )
        ]
    if expiry_warning > timedelta(0) and not_after - now <= expiry_warning:
        days = (not_after - now).days
        return [
            Finding(
                "cert-expires-soon",
                Severity.WARNING,
                f"the certificate expires on {_when(not_after)}, in {days} days — within expiryWarning "
                f"({format_duration(expiry_warning)}): a rotation can take weeks, renew it first",
            )
        ]
    return []


def _host(cert: x509.Certificate, host: str) -> list[Finding]:
    match = covers_host(cert, host)
    if match is HostMatch.SAN:
        return []
    if match is HostMatch.CN_ONLY:
        return [
            Finding(
                "cert-host-cn-only",
                Severity.WARNING,
                f"the certificate covers {host} only through its subject CN; TLS clients need a subjectAltName: "
                f"reissue it with DNS:{host}",
            )
        ]
    return [
        Finding(
            "cert-host-mismatch",
            Severity.ERROR,
            f"the certificate does not cover {host}, the host of apiUrl ({_names(cert)}): the reconciler "
            "could not verify the API after step 4",
        )
    ]


def check_certificate(
    cert: x509.Certificate, *, now: datetime, host: str | None, expiry_warning: timedelta
) -> list[Finding]:
    """Every check of a desired certificate. ``now`` is timezone-aware; ``host`` is apiUrl's host (None: skip)."""
    findings = check_key(cert.public_key())
    findings += _validity(cert, now, expiry_warning)
    if host:
        findings += _host(cert, host)
    facts = describe(cert)
    if facts.signature_hash in _WEAK_HASHES:
        findings.append(
            Finding(
                "cert-weak-signature",
                Severity.WARNING,
                f"the certificate is signed with {facts.signature_hash.upper()}, which clients are dropping: "
                "reissue it with SHA-256",
            )
        )
    if facts.is_ca:
        findings.append(
            Finding(
                "cert-is-ca",
                Severity.WARNING,
                f"the first certificate ({facts.subject}) is a CA certificate: put the server's own "
                "certificate first",
            )
        )
    elif facts.self_signed:
        findings.append(
            Finding(
                "cert-self-signed",
                Severity.INFO,
                "the certificate is self-signed (as SEPM's default one): clients trust it through the "
                "communication settings SEPM pushes, which is what steps 2 to 6 protect",
            )
        )
    return findings


def check_keystore(contents: KeystoreContents, *, desired_fingerprint: str | None) -> list[Finding]:
    """The keystore's key matches its certificate, is RSA >= 2048, and its certificate is the desired one."""
    where = str(contents.path)
    findings = check_key(contents.key, what=f"the private key in {where}")
    if not same_public_key(contents.certificate.public_key(), contents.key):
        findings.append(
            Finding(
                "keystore-key-mismatch",
                Severity.ERROR,
                f"the private key in {where} does not belong to its certificate "
                f"({contents.certificate.subject.rfc4514_string()}): SEPM would refuse the update",
            )
        )
    actual = fingerprint(contents.certificate)
    if desired_fingerprint is not None and actual != desired_fingerprint:
        findings.append(
            Finding(
                "keystore-not-desired",
                Severity.ERROR,
                f"{where} holds {actual} ({contents.certificate.subject.rfc4514_string()}), not the desired "
                f"certificate {desired_fingerprint}: step 4 would install the wrong certificate",
            )
        )
    return findings
