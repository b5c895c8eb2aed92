"""Does a certificate cover a host? RFC 6125 rules, as TLS clients apply them.

* An IP address host matches only an IP address subjectAltName (never a DNS name or the CN).
* A DNS host matches a DNS subjectAltName exactly (case-insensitive, trailing dot ignored), or a wildcard whose
  ``*`` is the whole left-most label and stands for exactly one non-empty label (``*.corp.example`` covers
  ``a.corp.example``, not ``corp.example`` nor ``a.b.corp.example``); a wildcard needs at least two labels after
  it (``*.example`` covers nothing) and partial wildcards (``sepm*.corp.example``) are not honoured.
* The subject CN is consulted only when the certificate has no DNS subjectAltName at all (legacy behaviour that
  modern clients dropped: :func:`covers_host` reports it apart so that it can be warned about).
"""

from __future__ import annotations

import ipaddress
from enum import StrEnum

from cryptography import x509

from reconciler.certs._facts import common_names, subject_alt_names

__all__ = ["HostMatch", "covers_host", "dns_name_matches"]


class HostMatch(StrEnum):
    SAN = "san"  # a subjectAltName covers the host
    CN_ONLY = "cn_only"  # only the legacy subject CN covers it
    NONE = "none"


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def dns_name_matches(pattern: str, host: str) -> bool:
    """Whether the presented DNS identifier ``pattern`` (possibly ``*.domain``) matches ``host``."""
    pattern = pattern.strip().lower().rstrip(".")
    host = host.strip().lower().rstrip(".")
    if not pattern or not host:
        return False
    if "*" not in pattern:
        return pattern == host
    labels = pattern.split(".")
    host_labels = host.split(".")
    if labels[0] != "*" or any("*" in label for label in labels[1:]) or len(labels) < 3:
        return False
    return bool(host_labels[0]) and host_labels[1:] == labels[1:]  # so exactly one label stands for *


def covers_host(cert: x509.Certificate, host: str) -> HostMatch:
    """How ``cert`` covers ``host`` (a DNS name or an IP address, IPv6 with or without brackets)."""
    sans = subject_alt_names(cert)
    address = _ip(host)
    if address is not None:
        return HostMatch.SAN if any(_ip(name) == address for name in sans) else HostMatch.NONE
    dns_sans = [name for name in sans if _ip(name) is None]
    if any(dns_name_matches(name, host) for name in dns_sans):
        return HostMatch.SAN
    if not dns_sans and any(dns_name_matches(cn, host) for cn in common_names(cert)):
        return HostMatch.CN_ONLY
    return HostMatch.NONE
