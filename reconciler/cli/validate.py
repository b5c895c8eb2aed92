"""``sepm-reconciler validate``: check specs and their certificates offline, with located findings."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from reconciler.certs import CertificateFileError, Severity, describe, load_certificates
from reconciler.cli._live import specs_option
from reconciler.cli._options import output_option
from reconciler.errors import CertificateError
from reconciler.hooks import check_hooks
from reconciler.specs import (
    LoadedServer,
    SpecIssue,
    SpecSet,
    check_certificates,
    check_procedure,
    check_secrets,
    check_trust,
    desired_fingerprint,
    load_specs,
)

__all__ = ["run_validation", "validate"]
EXIT_VALID = 0
EXIT_INVALID = 1


def run_validation(path: Path, *, check_secrets_too: bool, now: datetime) -> tuple[SpecSet, list[SpecIssue]]:
    """Load the specs and run every offline check; returns the set and all its findings, sorted by place."""
    spec_set = load_specs(path)
    issues = list(spec_set.issues)
    for server in spec_set.servers.values():
        issues += check_certificates(server, now)
        issues += check_hooks(server, here=check_secrets_too)
        issues += check_trust(server, now, secrets=check_secrets_too)
        issues += check_procedure(server)
        if check_secrets_too:
            issues += check_secrets(server)
    unique = {(str(i), i.code): i for i in issues}
    return spec_set, sorted(unique.values(), key=SpecIssue.sort_key)


def _server_json(server: LoadedServer) -> dict[str, Any]:
    spec = server.spec.spec
    try:
        fingerprint: str | None = desired_fingerprint(server)
    except CertificateError:
        fingerprint = None
    certificate: dict[str, Any] | None = None
    if spec.certificate.file is not None:
        try:
            cert_file = load_certificates(Path(spec.certificate.file))
        except CertificateFileError:
            certificate = None
        else:
            certificate = {**describe(cert_file.leaf).to_json(), "chain_length": cert_file.chain_length}
    return {
        "name": server.name,
        "file": server.file,
        "line": server.line,
        "site": spec.server.site,
        "api_url": spec.server.api_url,
        "mode": str(spec.rollout.mode),
        "partners": list(spec.replication.partners),
        "desired_fingerprint": fingerprint,
        "certificate": certificate,
    }


def _count(issues: list[SpecIssue], severity: Severity) -> int:
    return sum(1 for i in issues if i.severity is severity)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


@click.command("validate")
@specs_option
@click.option(
    "--check-secrets",
    is_flag=True,
    help="Check what depends on the machine that runs the reconciler — run it there: resolve every {env: …}/"
    "{file: …} reference, open each keystore with its password (values are never printed), and require each "
    "hook program on PATH (without it, a program missing from this machine's PATH is a warning).",
)
@output_option(
    "text",
    "json",
    help="text: one located line per finding and a summary; json: the shape documented in docs/spec.md.",
)
def validate(specs_path: Path, check_secrets: bool, output: str) -> int:
    """Check specs and their certificates without touching any server (no network access).

    Every finding names the file, line and column, the field and what to do, e.g.

    \b
      specs/east.yaml:14:7: spec.rollout.clients.minAckRatio: must be between 0 and 1, got 1.5

    All problems of all files are reported in one run: YAML syntax, unknown or missing fields, wrong types,
    duplicate keys and server names, plain-text secrets, and the desired certificates (readable, RSA >= 2048,
    not expired, not expiring within certificate.expiryWarning, covering the host of apiUrl, trusted on the API
    port once served: chaining to server.caBundle or the system store). With
    --check-secrets, secret references are resolved and keystores opened and checked against the desired
    certificate.

    \b
    Examples:
      sepm-reconciler validate                          # ./specs, or $SEPM_RECONCILER_SPECS
      sepm-reconciler validate --specs specs/east.yaml --check-secrets
      sepm-reconciler validate --output json | jq '.findings[] | select(.severity == "error")'

    \b
    Exit codes: 0 valid (warnings allowed), 1 invalid, 64 usage error.
    """
    now = datetime.now(UTC)
    spec_set, issues = run_validation(specs_path, check_secrets_too=check_secrets, now=now)
    errors = _count(issues, Severity.ERROR)
    valid = errors == 0
    if output == "json":
        document = {
            "valid": valid,
            "revision": spec_set.revision,
            "specs": str(specs_path),
            "checked_secrets": check_secrets,
            "servers": [_server_json(s) for s in spec_set.servers.values()],
            "findings": [i.to_json() for i in issues],
        }
        click.echo(json.dumps(document, indent=2))
        return EXIT_VALID if valid else EXIT_INVALID
    for issue in issues:
        click.echo(str(issue))
    counts = (
        f"{_plural(len(spec_set.servers), 'server')} in {_plural(len(spec_set.files), 'file')}, "
        f"{_plural(errors, 'error')}, {_plural(_count(issues, Severity.WARNING), 'warning')}"
    )
    if valid:
        secrets = "; secrets resolved" if check_secrets else "; secrets not checked (--check-secrets)"
        click.echo(f"{specs_path}: valid — {counts}{secrets}; revision {spec_set.revision}")
        return EXIT_VALID
    click.echo(f"{specs_path}: invalid — {counts}; fix the errors above (nothing was changed anywhere)")
    return EXIT_INVALID
