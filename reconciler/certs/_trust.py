"""Will a certificate be trusted for a host once a server presents it? Its chain is verified against trust anchors
(a CA bundle, or the system's trust store) for that host at a given time — what the reconciler's own TLS client will
do on the API port after the swap, checked before the swap.

The anchors are what :func:`reconciler.sepm.tls_context` loads: the ``caBundle`` file, or the system's default
verify paths. Like OpenSSL, a certificate that is itself one of the anchors (a self-signed certificate put in the
bundle) is trusted as such; its names and dates still count.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import ssl
import warnings
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from reconciler.certs._hostname import HostMatch, covers_host
from reconciler.certs._load import CertificateFileError, load_certificates

__all__ = ["TrustAnchors", "load_anchors", "trust_problem"]


class TrustAnchors:
    """The certificates a TLS client trusts, and where they come from (``where``: for messages)."""

    def __init__(
        self, certificates: Sequence[x509.Certificate], where: str, problem: str | None = None
    ) -> None:
        self.certificates = tuple(certificates)
        self.where = where
        self.problem = problem


def _pem_certificates(data: bytes) -> list[x509.Certificate]:
    """Every certificate of a PEM bundle; a system store may hold old CAs that ``cryptography`` warns about (a
    negative serial number): they are read all the same, quietly, as OpenSSL does."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        return x509.load_pem_x509_certificates(data)


@functools.lru_cache(maxsize=4)
def _system_store(cafile: str | None, capath: str | None, stamp: float) -> TrustAnchors:
    """The system's anchors (``stamp``: the store's modification time, so a changed store is read again)."""
    where = "the system trust store"
    found: list[x509.Certificate] = []
    if cafile:
        with contextlib.suppress(OSError, ValueError):
            found += _pem_certificates(Path(cafile).read_bytes())
        where = f"the system trust store ({cafile})"
    elif capath:
        for entry in sorted(Path(capath).iterdir()):
            if entry.is_file():
                try:
                    found += _pem_certificates(entry.read_bytes())
                except (OSError, ValueError):
                    continue  # the directory also holds links, CRLs…
        where = f"the system trust store ({capath})"
    if not found:
        return TrustAnchors((), where, f"no CA certificate could be read from {where}")
    return TrustAnchors(found, where)


def _system() -> TrustAnchors:
    paths = ssl.get_default_verify_paths()
    cafile = paths.cafile if paths.cafile and Path(paths.cafile).is_file() else None
    capath = paths.capath if not cafile and paths.capath and Path(paths.capath).is_dir() else None
    where = cafile or capath
    try:
        stamp = Path(where).stat().st_mtime if where else 0.0
    except OSError:
        stamp = 0.0
    return _system_store(cafile, capath, stamp)


def load_anchors(ca_file: str | None) -> TrustAnchors:
    """The anchors of ``ca_file`` (PEM or DER; a spec's ``caBundle``), or of the system when it is None."""
    if ca_file is None:
        return _system()
    where = f"caBundle {ca_file}"
    try:
        bundle = load_certificates(Path(ca_file))
    except CertificateFileError as exc:
        return TrustAnchors((), where, str(exc))
    return TrustAnchors(bundle.certificates, where)


def _subject(host: str) -> x509.DNSName | x509.IPAddress:
    try:
        return x509.IPAddress(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return x509.DNSName(host)


def _dates(cert: x509.Certificate, at: datetime) -> str | None:
    if at < cert.not_valid_before_utc:
        return f"it is not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC"
    if at > cert.not_valid_after_utc:
        return f"it expired on {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC"
    return None


def trust_problem(
    chain: Sequence[x509.Certificate], host: str, *, anchors: TrustAnchors, at: datetime
) -> str | None:
    """None when ``chain`` (the certificate first, then what the server would send with it) verifies for ``host``
    against ``anchors`` at ``at``; otherwise why not, in one sentence."""
    if anchors.problem is not None:
        return anchors.problem
    leaf = chain[0]
    der = leaf.public_bytes(Encoding.DER)
    if any(a.public_bytes(Encoding.DER) == der for a in anchors.certificates):
        if covers_host(leaf, host) is not HostMatch.SAN:
            return f"it is in {anchors.where} but does not name {host} in its subject alternative names"
        return _dates(leaf, at)
    # OpenSSL's rules rather than the Web PKI profile (which would refuse, say, a CA without a key identifier that
    # the reconciler's own TLS client accepts): a CA must say it is one, the server certificate must carry a SAN
    verifier = (
        PolicyBuilder()
        .store(Store(list(anchors.certificates)))
        .time(at)
        .extension_policies(
            ca_policy=ExtensionPolicy.permit_all().require_present(
                x509.BasicConstraints, Criticality.AGNOSTIC, None
            ),
            ee_policy=ExtensionPolicy.permit_all().require_present(
                x509.SubjectAlternativeName, Criticality.AGNOSTIC, None
            ),
        )
        .build_server_verifier(_subject(host))
    )
    try:
        verifier.verify(leaf, list(chain[1:]))
    except VerificationError as exc:
        if (dated := _dates(leaf, at)) is not None:
            return dated
        if covers_host(leaf, host) is not HostMatch.SAN:
            return f"it does not name {host} in its subject alternative names"
        return f"it does not chain to {anchors.where} ({exc})"
    except ValueError as exc:
        return f"it cannot be verified against {anchors.where}: {exc}"
    return None
