"""Will the reconciler trust the desired certificate on the API port once it is served? The glue between the spec
(``certificate.file`` or the keystore, ``server.caBundle``, the host of ``apiUrl``) and
:func:`reconciler.certs.trust_problem`. Offline; ``now`` is a parameter."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from cryptography import x509

from reconciler.certs import (
    CertificateFileError,
    Severity,
    fingerprint,
    load_anchors,
    load_certificates,
    load_keystore,
    trust_problem,
)
from reconciler.core.trust import NewCertificateTrust
from reconciler.errors import SecretError
from reconciler.specs._issues import SpecIssue
from reconciler.specs._model import LoadedServer
from reconciler.specs._secrets import resolve_secret

__all__ = ["check_trust", "new_certificate_trust"]

_CERT_FIELD = "spec.certificate.file"
_KEYSTORE_FIELD = "spec.certificate.keystore.file"
CODE = "new-certificate-untrusted"


def _from_keystore(server: LoadedServer) -> tuple[x509.Certificate, ...] | str:
    """The desired certificate and its chain from the keystore step 4 installs (a spec that gives only a
    fingerprint), or why they cannot be read."""
    certificate = server.spec.spec.certificate
    keystore = certificate.keystore
    hint = "add spec.certificate.file (its public certificate) so that it can be checked"
    if keystore is None:
        return (
            f"the desired certificate is given only by its fingerprint: its trust cannot be checked; {hint}"
        )
    if keystore.file.lower().endswith(".jks"):
        return f"the desired certificate is in a JKS keystore, which is not inspected; {hint}"
    try:
        password = resolve_secret(keystore.password, server.base_dir) if keystore.password else None
        contents = load_keystore(
            Path(keystore.file), password, key_file=Path(keystore.key_file) if keystore.key_file else None
        )
    except (SecretError, CertificateFileError) as exc:
        return f"the keystore cannot be read to check the desired certificate ({exc}); {hint}"
    if fingerprint(contents.certificate) != certificate.fingerprint:
        return f"the keystore does not hold the desired certificate {certificate.fingerprint}"
    return (contents.certificate, *contents.chain)


def new_certificate_trust(server: LoadedServer, now: datetime) -> NewCertificateTrust:
    """Whether the desired certificate verifies for the host of ``apiUrl`` against ``caBundle`` (or the system
    store) at ``now``; its validity dates are carried for the check at the planned swap."""
    conn = server.spec.spec.server
    anchors = load_anchors(conn.ca_bundle)
    chain: tuple[x509.Certificate, ...] | str
    if server.spec.spec.certificate.file is not None:
        try:
            chain = load_certificates(Path(server.spec.spec.certificate.file)).certificates
        except CertificateFileError as exc:
            chain = str(exc)
    else:
        chain = _from_keystore(server)
    if isinstance(chain, str):
        return NewCertificateTrust(conn.host, anchors.where, problem=chain)
    leaf = chain[0]
    # its own dates are judged apart (at the planned swap, by the procedure; cert-expired… by validate): the chain
    # and the name are checked at a moment the certificate itself is valid
    at = min(max(now, leaf.not_valid_before_utc), leaf.not_valid_after_utc)
    return NewCertificateTrust(
        conn.host,
        anchors.where,
        problem=trust_problem(chain, conn.host, anchors=anchors, at=at),
        issuer=leaf.issuer.rfc4514_string(),
        not_before=leaf.not_valid_before_utc,
        not_after=leaf.not_valid_after_utc,
    )


def check_trust(server: LoadedServer, now: datetime, *, secrets: bool) -> list[SpecIssue]:
    """``validate``'s finding ``new-certificate-untrusted``: the desired certificate would not be trusted on the API
    port after the swap. Only from ``certificate.file`` unless ``secrets`` (then the keystore may be opened); a file
    that cannot be read is reported by :func:`~reconciler.specs.check_certificates`."""
    spec = server.spec.spec
    if spec.certificate.file is None and not secrets:
        return []
    trust = new_certificate_trust(server, now)
    if trust.problem is None:
        return []
    field = _CERT_FIELD if spec.certificate.file is not None else _KEYSTORE_FIELD
    if spec.certificate.file is not None:
        try:
            load_certificates(Path(spec.certificate.file))
        except CertificateFileError:
            return []
    issuer = f" (issued by {trust.issuer})" if trust.issuer else ""
    message = (
        f"the new certificate{issuer} would not be trusted on the API port ({trust.host}): {trust.problem}; the "
        f"rollout would not start. Add the certificate of the CA that issued it to {trust.anchors}, or use a "
        "certificate that chains to it and names that host"
    )
    return [server.issue(field, message, code=CODE, severity=Severity.ERROR)]
