"""The user's specs, pointed at the twin: same rollout policy, the twin's address, account and certificates.

Everything that shapes the rollout is kept as written — the clients policy (groups, ``minAckRatio``,
``excludeOfflineFor``, soaks), approvals, the maintenance window, which steps are hooks and which are manual, the
management server lists, the replication partners. What points at the real manager is replaced: ``apiUrl`` and the
ports (the twin's), ``caBundle`` (the twin's CA), the credentials (the twin's own account, from a file), the
desired certificate and its keystore (the twin's, with the real one's validity). A hook's command is never run —
the twin's console operations do what it would — so it is replaced by this Python interpreter (a program that is
sure to exist, for the checks that look for it). ``mode: report`` is forecast as ``enforce``: the point is to
rehearse the rollout (the output says so).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.core.spec import CommandAction, Credentials, FileRef, Keystore, Mode, Ports
from reconciler.forecast.pki import TwinCert
from reconciler.forecast.twin import ADMIN_USER
from reconciler.specs import LoadedServer, SpecSet

__all__ = ["TwinAccess", "twin_specs"]

_NEVER_RUN = (sys.executable, "-c", "raise SystemExit('the forecast replaces hooks by console operations')")


@dataclass(frozen=True, slots=True)
class TwinAccess:
    """Where the twin of one server answers: its ports file entry, the CA, the account's password file."""

    api_url: str
    ports: Mapping[str, int]
    ca_file: Path
    password_file: Path
    keystore_password_file: Path
    domain: str


def _actions(actions: Any) -> Any:
    """The same actions, each command replaced by one that is never run (see the module docstring)."""
    changed = {
        name: value.model_copy(update={"command": list(_NEVER_RUN)})
        for name, value in actions
        if isinstance(value, CommandAction)
    }
    return actions.model_copy(update=changed)


def _twin_server(
    server: LoadedServer, access: TwinAccess, desired: TwinCert, directory: Path
) -> LoadedServer:
    spec = server.spec.spec
    connection = spec.server.model_copy(
        update={
            "api_url": access.api_url,
            "ports": Ports(**{k: int(v) for k, v in access.ports.items()}),
            "ca_bundle": str(access.ca_file),
            "credentials": Credentials(
                username=ADMIN_USER, password=FileRef(file=str(access.password_file)), domain=access.domain
            ),
        }
    )
    certificate = spec.certificate.model_copy(
        update={
            "file": str(desired.cert_file),
            "fingerprint": None,
            "keystore": Keystore(
                file=str(desired.p12_file), password=FileRef(file=str(access.keystore_password_file))
            ),
        }
    )
    rollout = spec.rollout.model_copy(
        update={"mode": Mode.ENFORCE, "actions": _actions(spec.rollout.actions)}
    )
    twin_spec = spec.model_copy(update={"server": connection, "certificate": certificate, "rollout": rollout})
    return LoadedServer(
        spec=server.spec.model_copy(update={"spec": twin_spec}),
        source=server.source,
        line=server.line,
        base_dir=directory,
        file=server.file,
    )


def twin_specs(
    spec_set: SpecSet,
    access: Mapping[str, TwinAccess],
    desired: Mapping[str, TwinCert],
    directory: Path,
) -> SpecSet:
    """The spec set of the servers in ``access``, pointed at their twins."""
    servers = {
        name: _twin_server(spec_set.servers[name], access[name], desired[name], directory)
        for name in sorted(access)
    }
    return SpecSet(path=directory, servers=servers, issues=[], revision=spec_set.revision, files=())
