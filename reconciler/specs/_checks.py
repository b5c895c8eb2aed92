"""Checks of a loaded server's files: the desired certificate, the CA bundle, secrets and the keystore.

The glue between :mod:`reconciler.certs` (which knows nothing of specs) and the loader's located issues. Offline:
nothing here opens a network connection. ``now`` is always a parameter.
"""

from __future__ import annotations

import os
import stat
from datetime import datetime
from pathlib import Path

from reconciler.certs import (
    CertificateFileError,
    Finding,
    Severity,
    check_certificate,
    check_keystore,
    fingerprint,
    load_certificates,
    load_keystore,
)
from reconciler.core.spec import EnvRef, FileRef
from reconciler.errors import CertificateError, SecretError
from reconciler.specs._issues import SpecIssue
from reconciler.specs._model import LoadedServer
from reconciler.specs._secrets import resolve_secret, secret_file_path

__all__ = ["check_certificates", "check_procedure", "check_secrets", "desired_fingerprint"]

_CERT_FIELD = "spec.certificate.file"
_CA_FIELD = "spec.server.caBundle"
_KEYSTORE_FIELD = "spec.certificate.keystore.file"
_KEYSTORE_PASSWORD_FIELD = "spec.certificate.keystore.password"  # noqa: S105 - a field name, not a password


def desired_fingerprint(server: LoadedServer) -> str:
    """The fingerprint the server must present: ``certificate.fingerprint``, or that of ``certificate.file``'s
    first certificate. Raises :class:`~reconciler.errors.CertificateError` when the file cannot be used."""
    desired = server.spec.spec.certificate
    if desired.fingerprint is not None:
        return desired.fingerprint
    assert desired.file is not None  # noqa: S101 - the model guarantees exactly one of file/fingerprint
    return fingerprint(load_certificates(Path(desired.file)).leaf)


def _as_written(server: LoadedServer, field: str, message: str) -> str:
    """Show the path as the user wrote it (relative to the spec's directory) rather than resolved."""
    written = server.written.get(field)
    if written is None or Path(written).is_absolute():
        return message
    resolved = os.path.normpath(server.base_dir / written)
    return message.replace(resolved, written, 1)


def _from_error(
    server: LoadedServer, field: str, exc: CertificateFileError, code: str | None = None
) -> SpecIssue:
    message = _as_written(server, field, str(exc))
    written = server.written.get(field)
    if exc.code.endswith("-unreadable") and written and not Path(written).is_absolute():
        message += f" (relative paths start from the spec file's directory, {server.base_dir})"
    return server.issue(field, message, code=code or exc.code)


def _from_findings(server: LoadedServer, field: str, findings: list[Finding]) -> list[SpecIssue]:
    return [
        server.issue(field, _as_written(server, field, f.message), code=f.code, severity=f.severity)
        for f in findings
    ]


def check_certificates(server: LoadedServer, now: datetime) -> list[SpecIssue]:
    """The desired certificate file (readable, RSA >= 2048, valid at ``now``, not expiring within
    ``expiryWarning``, covering apiUrl's host, no private key beside it) and the CA bundle (readable)."""
    issues: list[SpecIssue] = []
    conn = server.spec.spec.server
    if conn.ca_bundle is not None:
        try:
            bundle = load_certificates(Path(conn.ca_bundle))
        except CertificateFileError as exc:
            code = "ca-bundle-unreadable" if exc.code.endswith("-unreadable") else "ca-bundle-invalid"
            issues.append(_from_error(server, _CA_FIELD, exc, code))
        else:
            if bundle.has_private_key:
                issues.append(
                    server.issue(_CA_FIELD, _private_key_message(conn.ca_bundle), code="private-key-in-spec")
                )
    desired = server.spec.spec.certificate
    if desired.file is None:
        return issues
    try:
        cert_file = load_certificates(Path(desired.file))
    except CertificateFileError as exc:
        return [*issues, _from_error(server, _CERT_FIELD, exc)]
    if cert_file.has_private_key:
        issues.append(
            server.issue(
                _CERT_FIELD,
                _as_written(server, _CERT_FIELD, _private_key_message(desired.file)),
                code="private-key-in-spec",
            )
        )
    findings = check_certificate(
        cert_file.leaf, now=now, host=conn.host, expiry_warning=desired.expiry_warning
    )
    return issues + _from_findings(server, _CERT_FIELD, findings)


def _private_key_message(path: str) -> str:
    return (
        f"{path} holds a PRIVATE KEY next to the certificate: spec files are committed to Git, so keep only the "
        "public certificate here (if the key was ever committed, treat it as compromised and reissue)"
    )


def _secret_fields(server: LoadedServer) -> list[tuple[str, EnvRef | FileRef]]:
    spec = server.spec.spec
    refs: list[tuple[str, EnvRef | FileRef]] = []
    if not isinstance(spec.server.credentials.username, str):
        refs.append(("spec.server.credentials.username", spec.server.credentials.username))
    refs.append(("spec.server.credentials.password", spec.server.credentials.password))
    keystore = spec.certificate.keystore
    if keystore is not None and keystore.password is not None:
        refs.append((_KEYSTORE_PASSWORD_FIELD, keystore.password))
    return refs


def _permission_issue(server: LoadedServer, field: str, ref: FileRef) -> SpecIssue | None:
    path = secret_file_path(ref, server.base_dir)
    try:
        mode = path.stat().st_mode
    except OSError:
        return None
    if os.name != "posix" or not mode & (stat.S_IRGRP | stat.S_IROTH):
        return None
    return server.issue(
        field,
        f"secret file {path} is readable by other users (mode {stat.filemode(mode)}): chmod 600 it",
        code="secret-file-permissions",
        severity=Severity.WARNING,
    )


def check_secrets(server: LoadedServer) -> list[SpecIssue]:
    """Resolve every secret reference (never reporting a value) and, when a keystore is declared, open it with its
    password and check it: key matches certificate, RSA >= 2048, and it holds the desired certificate."""
    issues: list[SpecIssue] = []
    resolved: dict[str, str] = {}
    for field, ref in _secret_fields(server):
        try:
            resolved[field] = resolve_secret(ref, server.base_dir)
        except SecretError as exc:
            issues.append(server.issue(field, str(exc), code="secret-unresolvable"))
            continue
        if isinstance(ref, FileRef):
            problem = _permission_issue(server, field, ref)
            if problem is not None:
                issues.append(problem)
    keystore = server.spec.spec.certificate.keystore
    if keystore is None:
        return issues
    if keystore.password is not None and _KEYSTORE_PASSWORD_FIELD not in resolved:
        return issues  # already reported: cannot open the keystore without its password
    try:
        contents = load_keystore(
            Path(keystore.file),
            resolved.get(_KEYSTORE_PASSWORD_FIELD),
            key_file=Path(keystore.key_file) if keystore.key_file else None,
        )
    except CertificateFileError as exc:
        issue = _from_error(server, _KEYSTORE_FIELD, exc)
        if exc.code == "keystore-wrong-password" and keystore.password is not None:
            issue = server.issue(_KEYSTORE_PASSWORD_FIELD, issue.message, code=exc.code)
        issues.append(issue)
        return issues
    try:
        desired: str | None = desired_fingerprint(server)
    except CertificateError:
        desired = None  # the certificate file's own problem is reported by check_certificates
    return issues + _from_findings(
        server, _KEYSTORE_FIELD, check_keystore(contents, desired_fingerprint=desired)
    )


def check_procedure(server: LoadedServer) -> list[SpecIssue]:
    """What the procedure needs that the spec may leave out: ``management-server-list-missing`` (W) — on SEPM 14
    and later (known only once the manager answers) the rollout does not start without
    ``rollout.managementServerList``."""
    if server.spec.spec.rollout.management_server_list is not None:
        return []
    return [
        server.issue(
            "spec.rollout",
            "managementServerList is not set: a manager on SEPM 14 or later (the vendor's procedure, KB 187099, moves "
            "the clients to an HTTP management server list around the swap) will not start its rollout; set "
            "managementServerList: {http: NAME, original: NAME}, or {skip: true, reason: WHY}",
            code="management-server-list-missing",
            severity=Severity.WARNING,
        )
    ]
