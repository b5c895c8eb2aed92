"""Before the runs: read every server (read-only, concurrently), then make the twin — its certificates, its fleet,
the files its specs name — in one directory."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from reconciler.certs import CertificateFileError, load_certificates
from reconciler.errors import Error
from reconciler.forecast.pki import TwinCert, TwinPki
from reconciler.forecast.reading import ServerReading, read_only_client, read_server
from reconciler.forecast.twin import ADMIN_PASSWORD, Twin, build_twin, partner_sites, standin_name
from reconciler.specs import LoadedServer, SpecSet

__all__ = ["Prepared", "prepare_twin", "read_all", "write_fleet"]


@dataclass(frozen=True, slots=True)
class Prepared:
    """The twin and what its runs need (all under ``directory``)."""

    readings: Mapping[str, ServerReading]
    twin: Twin
    desired: Mapping[str, TwinCert]
    ca_file: Path
    admin_password_file: Path
    keystore_password_file: Path
    directory: Path


async def read_all(
    spec_set: SpecSet, names: Sequence[str], *, now: datetime, within: timedelta
) -> tuple[dict[str, ServerReading], dict[str, str]]:
    """Every server of ``names`` read (each ``within`` that time); the ones that could not be, with why."""

    async def one(name: str) -> ServerReading:
        server = spec_set.servers[name]
        async with asyncio.timeout(within.total_seconds()):
            return await read_server(server, read_only_client(server), now=now)

    results = await asyncio.gather(*(one(n) for n in names), return_exceptions=True)
    readings: dict[str, ServerReading] = {}
    errors: dict[str, str] = {}
    for name, result in zip(names, results, strict=True):
        if isinstance(result, ServerReading):
            readings[name] = result
        elif isinstance(result, TimeoutError):
            errors[name] = f"not read within {within} (--timeout)"
        elif isinstance(result, Error):
            errors[name] = str(result)
        else:
            raise result
    return readings, errors


def _desired_validity(server: LoadedServer) -> tuple[datetime, datetime] | None:
    path = server.spec.spec.certificate.file
    if path is None:
        return None
    try:
        leaf = load_certificates(Path(path)).leaf
    except CertificateFileError:
        return None
    return leaf.not_valid_before_utc, leaf.not_valid_after_utc


def _current_validity(reading: ServerReading) -> tuple[datetime, datetime] | None:
    for cert in reading.served.values():
        if cert is not None:
            return cert.not_before, cert.not_after
    return None


def _private(path: Path, text: str) -> Path:
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(text + "\n", encoding="utf-8")
    return path


def prepare_twin(
    spec_set: SpecSet, readings: Mapping[str, ServerReading], directory: Path, *, sample: int
) -> Prepared:
    """Certificates (with the real ones' validity), the twin fleet, and the secrets files its specs name."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    start = max(r.manager_time for r in readings.values())
    pki = TwinPki(directory / "pki", start)
    servers = {name: spec_set.servers[name] for name in readings}
    current: dict[str, TwinCert] = {}
    desired: dict[str, TwinCert] = {}
    for name, reading in sorted(readings.items()):
        current[name] = pki.issue(f"{name}-current", _current_validity(reading))
        desired[name] = pki.issue(f"{name}-desired", _desired_validity(servers[name]))
    for site in partner_sites(readings, servers):
        standin = standin_name(site)
        current[standin] = pki.issue(f"{standin}-current")
    twin = build_twin(readings, servers, current, sample=sample)
    return Prepared(
        readings=readings,
        twin=twin,
        desired=desired,
        ca_file=pki.ca_file,
        admin_password_file=_private(directory / "admin-password", ADMIN_PASSWORD),
        keystore_password_file=pki.password_file,
        directory=directory,
    )


def write_fleet(twin: Twin, path: Path, *, seed: int) -> Path:
    """The twin as a fleet file ``sepm-reconciler simulate --fleet`` runs (clock frozen: move it with sim-admin)."""
    document: dict[str, Any] = twin.for_run(seed)
    header = (
        "# The twin fleet made by sepm-reconciler forecast: counts and ages as read (no client names), strict\n"
        "# behaviours wherever nothing was read. Run it: sepm-reconciler simulate --fleet THIS-FILE\n"
    )
    path.write_text(
        header + yaml.safe_dump(document, sort_keys=False, allow_unicode=True, default_flow_style=None),
        encoding="utf-8",
    )
    return path
