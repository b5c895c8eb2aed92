"""Checks of what the ports present: reachable at all, TLS at all, the desired certificate, every port the same,
and how long the certificates presented remain valid."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from reconciler.core import wording
from reconciler.core.codes import Code
from reconciler.core.drift.inputs import DriftInput
from reconciler.core.drift.model import Finding, Reason, Severity
from reconciler.core.drift.seen import PortSeen
from reconciler.core.observation import PortOutcome, ServedCertificate
from reconciler.core.phase import Phase
from reconciler.core.procedure.gates import held_before_start
from reconciler.core.procedure.table import STANDARD
from reconciler.core.sentences import sentence

__all__ = ["PORT_SERVICES", "certificate_expiry", "handshake_failed", "served_vs_desired", "unreachable"]

PORT_SERVICES: Mapping[str, str] = MappingProxyType(
    {"clients": "semwebsrv", "console": "semsrv", "api": "semapisrv"}
)
"""The Windows service behind each port (Apache for clients; Tomcat for the console and the REST API)."""

_UNREACHED = (PortOutcome.REFUSED, PortOutcome.TIMEOUT, PortOutcome.ERROR, None)


def _port_problem(port: PortSeen) -> str:
    outcome = "not observed" if port.outcome is None else port.outcome.value.replace("_", " ")
    detail = f" ({port.error})" if port.error and port.error != outcome else ""
    return f"{port.label()} {outcome}{detail}"


def unreachable(given: DriftInput) -> list[Finding]:
    """``Unreachable`` (error): nothing could be observed, a port did not answer, or the REST API did not answer
    or could not be used (the login was refused or failed: groups, replication and clients are then unknown)."""
    seen = given.seen
    if given.spec is None:
        return []  # a server no longer in the specs is not observed: what the state remembers is shown as it is
    if seen is None:
        if given.seen_error is None:
            return []
        return [
            Finding(
                Reason.UNREACHABLE,
                Severity.ERROR,
                f"could not be observed: {given.seen_error}",
            )
        ]
    api = given.spec.spec.server.api_url
    problems = [_port_problem(p) for p in seen.ports if p.outcome in _UNREACHED]
    if not seen.api_reachable:
        why = next((e for e in seen.errors if e.startswith("api")), None)
        problems.append(f"the REST API at {api} does not answer" + (f" ({why})" if why else ""))
    findings = []
    if problems:
        remedy = (
            "check spec.server.apiUrl and spec.server.ports against the manager, that the SEPM services run, and "
            "that the network lets the reconciler reach them"
        )
        findings.append(Finding(Reason.UNREACHABLE, Severity.ERROR, f"{'; '.join(problems)}: {remedy}"))
    elif seen.api_error is not None:
        findings.append(
            Finding(
                Reason.UNREACHABLE,
                Severity.ERROR,
                f"the REST API at {api} answers but cannot be used: {seen.api_error} — until it can, "
                "certificate verification, replication and clients are unknown",
            )
        )
    return findings


def handshake_failed(given: DriftInput) -> list[Finding]:
    """``HandshakeFailed`` (error): a port accepted the connection but no TLS handshake completed."""
    seen = given.seen
    if seen is None:
        return []
    failed = [p for p in seen.ports if p.outcome is PortOutcome.HANDSHAKE_FAILED]
    if not failed:
        return []
    listed = "; ".join(_port_problem(p) for p in failed)
    return [
        Finding(
            Reason.HANDSHAKE_FAILED,
            Severity.ERROR,
            f"{listed}: the port answers but completes no TLS handshake — check that spec.server.ports names the "
            "manager's HTTPS ports (clients 443, console 8443, API 8446 by default) and that its certificate and key "
            "are installed",
        )
    ]


def _describe(cert: ServedCertificate | None, fingerprint: str) -> str:
    if cert is None:
        return wording.fingerprint(fingerprint)
    return f"{wording.fingerprint(fingerprint)} ({cert.subject}, expires {wording.when(cert.not_after)})"


def _held(given: DriftInput) -> str:
    """Why the rollout towards the desired certificate has not started (drift outside a rollout), by the gates and in
    the words ``decide`` uses."""
    record = given.record
    held = held_before_start(given.spec, record) if given.spec is not None else None
    if held is not None:
        return sentence(held) if held.code is Code.APPROVAL_MISSING else f"held: {sentence(held)}"
    if record is not None and record.phase is Phase.STALLED:
        return "held: the rollout is stalled (see RolloutStalled)"
    if record is not None and record.phase is Phase.DRIFTED:
        return f"held: {record.reason}"
    return "the next reconcile starts the rollout"


def served_vs_desired(given: DriftInput) -> list[Finding]:
    """``InSync`` (info), ``CertificateMismatch`` or ``PartialRollout`` (warnings): the presented certificates
    against the desired one. Ports that presented nothing are left to ``Unreachable``/``HandshakeFailed``."""
    seen = given.seen
    desired = given.desired
    if seen is None or desired is None:
        return []
    presented = seen.presented()
    if not presented:
        return []
    since = given.drift_began
    if given.rollout_active and given.record is not None and given.record.started_at is not None:
        since = since or given.record.started_at
    distinct = sorted(set(presented.values()))
    if len(distinct) > 1:
        return [Finding(Reason.PARTIAL_ROLLOUT, Severity.WARNING, _partial_message(given, presented), since)]
    (served,) = distinct
    every_port = len(presented) == len(seen.ports)
    if served == desired:
        if not every_port or given.rollout_active:
            return []  # the unreached ports, or the rollout in progress, tell the rest
        return [
            Finding(
                Reason.IN_SYNC,
                Severity.INFO,
                f"every port presents the desired certificate {_describe(_certificate(seen.ports, served), served)}",
            )
        ]
    where = (
        "every port presents"
        if every_port
        else wording.ports(sorted(presented), of=len(seen.ports))
        + (" presents" if len(presented) == 1 else " present")
    )
    message = (
        f"{where} {_describe(_certificate(seen.ports, served), served)}, the spec wants "
        f"{wording.fingerprint(desired)}"
    )
    if given.rollout_active and given.record is not None and given.record.stalled:
        message += f" (the rollout is stalled at step {given.step})" if given.step else ""
    elif given.rollout_active:
        message += f" (rollout under way at step {given.step}: step 4 swaps it)" if given.step else ""
    else:
        message += f"; {_held(given)}"
    return [Finding(Reason.CERTIFICATE_MISMATCH, Severity.WARNING, message, since)]


def _and(items: list[str]) -> str:
    """``"a"``, ``"a and b"``, ``"a, b and c"``."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _certificate(ports: tuple[PortSeen, ...], fingerprint: str) -> ServedCertificate | None:
    return next((p.certificate for p in ports if p.fingerprint == fingerprint and p.certificate), None)


def _partial_message(given: DriftInput, presented: dict[str, str]) -> str:
    desired = given.desired
    by_fp: dict[str, list[str]] = {}
    for name, fp in presented.items():
        by_fp.setdefault(fp, []).append(name)
    parts = []
    for fp, names in sorted(by_fp.items(), key=lambda item: (item[0] != desired, item[1])):
        verb = "presents" if len(names) == 1 else "present"
        mark = " (the desired certificate)" if fp == desired else ""
        parts.append(f"{' and '.join(names)} {verb} {wording.fingerprint(fp)}{mark}")
    stale = [name for name, fp in presented.items() if fp != desired]
    if desired in by_fp:
        services = _and([PORT_SERVICES.get(name, name) for name in stale])
        remedy = (
            f"a service restart was missed: restart {services} so every port presents the desired certificate"
        )
    else:
        remedy = (
            "none presents the desired certificate: install it and restart semsrv, semwebsrv and semapisrv"
        )
    text = f"the ports disagree: {'; '.join(parts)} — {remedy}"
    if given.record is not None and given.record.working_phase is STANDARD.point_of_no_return.phase:
        text += (
            f" (step {STANDARD.point_of_no_return.step} is under way: expected while the services restart)"
        )
    return text


def certificate_expiry(given: DriftInput) -> list[Finding]:
    """``Expired`` (error) and ``ExpiringSoon`` (warning, within ``spec.certificate.expiryWarning``) for each
    certificate a port presents. Needs certificate facts: silent offline."""
    seen = given.seen
    if seen is None:
        return []
    by_fp: dict[str, tuple[ServedCertificate, list[str]]] = {}
    for port in seen.ports:
        if port.presented and port.certificate is not None and port.fingerprint is not None:
            by_fp.setdefault(port.fingerprint, (port.certificate, []))[1].append(port.name)
    findings = []
    for fp, (cert, names) in sorted(by_fp.items(), key=lambda item: item[1][0].not_after):
        where = wording.ports(names, of=len(seen.ports))
        what = f"the certificate on {where} ({wording.fingerprint(fp)}, {cert.subject})"
        replaced = given.desired is not None and fp != given.desired
        todo = (
            "the rollout to the desired certificate replaces it"
            if replaced
            else "commit a new certificate to spec.certificate and let the reconciler roll it out"
        )
        left = cert.not_after - given.now
        if left.total_seconds() <= 0:
            findings.append(
                Finding(
                    Reason.EXPIRED,
                    Severity.ERROR,
                    f"{what} expired on {wording.when(cert.not_after)}, {wording.span(left)} ago: {todo}",
                    cert.not_after,
                )
            )
        elif left <= given.expiry_warning:
            findings.append(
                Finding(
                    Reason.EXPIRING_SOON,
                    Severity.WARNING,
                    f"{what} expires on {wording.when(cert.not_after)}, in {wording.span(left)} "
                    f"(expiryWarning {wording.span(given.expiry_warning)}): {todo}",
                    until=cert.not_after,
                )
            )
    return findings
