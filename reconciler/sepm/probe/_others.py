"""Probe checks of replication, of the certificates the ports present, and of the desired certificate's trust."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from cryptography import x509

from reconciler.certs import load_anchors, trust_problem
from reconciler.core.observation import PortObservation, PortOutcome
from reconciler.core.spec import ManagedServer
from reconciler.errors import ProtocolError
from reconciler.sepm.client import SepmClient
from reconciler.sepm.probe._model import Checks, Status
from reconciler.sepm.replication import replication_status, status_shape

__all__ = ["desired_trusted", "ports", "replication"]


async def replication(checks: Checks, client: SepmClient, server: ManagedServer) -> None:
    async def flag() -> None:
        value = await client.get_json("replication/is_replicated")
        checks.add(
            "replication.is_replicated",
            Status.PASS if isinstance(value, bool) else Status.FAIL,
            repr(value)[:80],
        )

    async def status() -> None:
        data = await client.get_json("replication/status")
        shape = status_shape(data)
        try:
            body = replication_status(data)
        except ProtocolError as exc:
            checks.add("replication.status_shape", Status.FAIL, f"{shape}: {exc}", shape=shape)
            checks.add("replication.status", Status.FAIL, "no partner list")
            return
        checks.add(
            "replication.status_shape",
            Status.PASS,
            f"replicationStatus is {'an object' if shape == 'object' else 'an ' + shape}: read either way",
            shape=shape,
        )
        partners = body.get("replicationPartnerStatusList")
        if partners is None:
            partners = []
        if not isinstance(partners, list):
            checks.add("replication.status", Status.FAIL, "replicationPartnerStatusList is not a list")
            return
        named = {p.get("name"): p.get("status_code") for p in partners if isinstance(p, dict)}
        expected = set(server.spec.replication.partners)
        seen = ", ".join(f"{n} ({c})" for n, c in named.items()) or "no partners"
        if expected - set(named):
            seen += f"; the spec lists {sorted(expected - set(named))}, not replicating now"
        checks.add(
            "replication.status", Status.PASS, f"site {body.get('siteName')!r}: {seen}", partners=named
        )

    await checks.attempt("replication.is_replicated", flag)
    await checks.attempt("replication.status", status)


def _describe_port(obs: PortObservation) -> str:
    if obs.certificate is None:
        return f"{obs.outcome.value}: {obs.error}"
    cert = obs.certificate
    return f"{cert.fingerprint[:23]}… {cert.subject}, expires {cert.not_after:%Y-%m-%d}"


def ports(checks: Checks, observed: dict[str, PortObservation], desired: str | None) -> None:
    for name, obs in observed.items():
        checks.add(
            f"port.{name}",
            Status.PASS if obs.outcome is PortOutcome.PRESENTED else Status.FAIL,
            _describe_port(obs),
            outcome=obs.outcome.value,
            fingerprint=obs.fingerprint,
            presents_desired=(obs.fingerprint == desired) if desired and obs.fingerprint else None,
        )
    prints = {name: obs.fingerprint for name, obs in observed.items()}
    if any(fp is None for fp in prints.values()):
        checks.add("ports.same_certificate", Status.UNKNOWN, "not every port presented a certificate")
    elif len(set(prints.values())) == 1:
        checks.add("ports.same_certificate", Status.PASS, "one certificate on all ports", fingerprints=prints)
    else:
        seen = ", ".join(f"{n}: {fp[:23]}…" for n, fp in prints.items() if fp)
        checks.add(
            "ports.same_certificate", Status.FAIL, f"different certificates: {seen}", fingerprints=prints
        )


def desired_trusted(
    checks: Checks, server: ManagedServer, chain: Sequence[x509.Certificate] | None, now: datetime
) -> None:
    """``certificate.trusted``: the certificate the spec asks for will be trusted for the API host once served."""
    conn = server.spec.server
    if chain is None or not chain:
        checks.add(
            "certificate.trusted",
            Status.UNKNOWN,
            "the spec names the desired certificate by fingerprint only (or its file cannot be read): nothing to "
            "verify; name the certificate file in spec.certificate.file to have it checked",
        )
        return
    problem = trust_problem(chain, conn.host, anchors=load_anchors(conn.ca_bundle), at=now)
    remedy = (
        "; add the CA that issues it to spec.server.caBundle (or the system store) before the rollout, or the "
        "reconciler will not trust the API port after step 4"
    )
    checks.add(
        "certificate.trusted",
        Status.FAIL if problem else Status.PASS,
        (problem + remedy)
        if problem
        else f"it chains to {'caBundle' if conn.ca_bundle else 'the system trust store'} and names {conn.host}",
    )
