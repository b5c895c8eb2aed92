"""Certificate facts as the report's JSON shows them: the desired certificate (from the spec) and what each port
presented (or how the look at it ended). Keys are stable; a fact that is not known is ``null``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reconciler.certs import CertificateFacts, CertificateFileError, describe, load_certificates
from reconciler.core._storage import iso
from reconciler.core.drift import PortSeen
from reconciler.core.observation import ServedCertificate
from reconciler.specs import LoadedServer

__all__ = ["desired_facts", "port_facts"]

_EMPTY_CERTIFICATE: dict[str, Any] = {
    "subject": None,
    "issuer": None,
    "sans": None,
    "serial": None,
    "notBefore": None,
    "notAfter": None,
}


def _certificate(cert: ServedCertificate | CertificateFacts) -> dict[str, Any]:
    return {
        "subject": cert.subject,
        "issuer": cert.issuer,
        "sans": list(cert.sans),
        "serial": cert.serial,
        "notBefore": iso(cert.not_before),
        "notAfter": iso(cert.not_after),
    }


def desired_facts(server: LoadedServer | None, desired: str | None, error: str | None) -> dict[str, Any]:
    """``{"fingerprint", "source", "file", "subject", …, "error"}`` of the certificate the spec asks for."""
    facts: dict[str, Any] = {"fingerprint": desired, "source": None, "file": None, **_EMPTY_CERTIFICATE}
    facts["error"] = error
    if server is None:
        return facts
    wanted = server.spec.spec.certificate
    if wanted.fingerprint is not None:
        facts["source"] = "fingerprint"
        return facts
    facts["source"] = "file"
    facts["file"] = server.written.get("spec.certificate.file", wanted.file)
    if wanted.file is None or error is not None:
        return facts
    try:
        leaf = load_certificates(Path(wanted.file)).leaf
    except CertificateFileError as exc:  # changed since the fingerprint was read
        facts["error"] = str(exc)
        return facts
    facts.update(_certificate(describe(leaf)))
    return facts


def port_facts(port: PortSeen, desired: str | None) -> dict[str, Any]:
    """``{"port", "outcome", "fingerprint", "matchesDesired", "subject", …, "error"}`` of one port."""
    facts: dict[str, Any] = {
        "port": port.port,
        "outcome": port.outcome.value if port.outcome is not None else "unknown",
        "fingerprint": port.fingerprint,
        "matchesDesired": None
        if port.fingerprint is None or desired is None
        else port.fingerprint == desired,
        **(_certificate(port.certificate) if port.certificate is not None else _EMPTY_CERTIFICATE),
        "error": port.error,
    }
    return facts
