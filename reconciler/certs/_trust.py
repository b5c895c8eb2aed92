"""Will a certificate be trusted for a host? The chain it comes with is verified against a CA bundle (or the system's
trust store) for that host name or address, at a given time — what a TLS client will do once the certificate is
served, checked before it is.
"""

from __future__ import annotations

import ipaddress
import ssl
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.x509 import DNSName, IPAddress
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from reconciler.certs._hostname import HostMatch, covers_host

__all__ = ["trust_problem"]


def _anchors(ca_file: str | None) -> tuple[list[x509.Certificate], str]:
    """The trust anchors: the CA bundle's certificates, or those of the system's default CA file."""
    if ca_file is not None:
        where = f"caBundle {ca_file}"
        path = Path(ca_file)
    else:
        default: str | None = ssl.get_default_verify_paths().cafile
        if not default:
            return [], "the system trust store (no CA file found)"
        where = f"the system trust store ({default})"
        path = Path(default)
    try:
        return x509.load_pem_x509_certificates(path.read_bytes()), where
    except (OSError, ValueError):
        return [], where


def trust_problem(
    chain: Sequence[x509.Certificate], host: str, *, ca_file: str | None, at: datetime
) -> str | None:
    """None when ``chain`` (leaf first, then intermediates) verifies for ``host`` against ``ca_file`` (or the
    system's trust store) at ``at``; otherwise why not, in a sentence."""
    anchors, where = _anchors(ca_file)
    if not anchors:
        return f"no CA certificate could be read from {where}"
    leaf = chain[0]
    if (
        leaf in anchors
    ):  # trusted as itself (a self-signed certificate in caBundle): its names and dates remain
        if covers_host(leaf, host) is not HostMatch.SAN:
            return f"it is in {where} but does not name {host} in its subject alternative names"
        if not leaf.not_valid_before_utc <= at <= leaf.not_valid_after_utc:
            return f"it is in {where} but is not valid on {at:%Y-%m-%d %H:%M} UTC"
        return None
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        subject: DNSName | IPAddress = DNSName(host)
    else:
        subject = IPAddress(address)
    # as lenient about extensions as OpenSSL, which makes the API connection (the Web PKI profile would refuse,
    # say, a certificate without an authority key identifier that every TLS client here accepts)
    ca_policy = ExtensionPolicy.permit_all().require_present(
        x509.BasicConstraints, Criticality.AGNOSTIC, None
    )
    verifier = (
        PolicyBuilder()
        .store(Store(anchors))
        .time(at)
        .extension_policies(
            ca_policy=ca_policy,
            ee_policy=ExtensionPolicy.permit_all().require_present(
                x509.SubjectAlternativeName, Criticality.AGNOSTIC, None
            ),
        )
        .build_server_verifier(subject)
    )
    try:
        verifier.verify(leaf, list(chain[1:]))
    except VerificationError as exc:
        return f"it does not verify for {host} against {where}: {exc}"
    except ValueError as exc:  # a certificate the verifier cannot even read as a chain
        return f"it cannot be verified against {where}: {exc}"
    return None
