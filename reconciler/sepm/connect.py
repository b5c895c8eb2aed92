"""A :class:`~reconciler.sepm.client.SepmClient` for a managed server of the specs."""

from __future__ import annotations

import httpx

from reconciler.core.spec import EnvRef, FileRef
from reconciler.errors import PermanentError, SecretError
from reconciler.sepm.client import RetryPolicy, SepmClient, SepmCredentials, tls_context
from reconciler.specs import LoadedServer, resolve_secret

__all__ = ["open_client"]

_CREDENTIALS = "spec.server.credentials"


def _secret(server: LoadedServer, field: str, ref: EnvRef | FileRef) -> str:
    try:
        return resolve_secret(ref, server.base_dir)
    except SecretError as exc:
        remedy = (
            f"export {ref.env} in the environment of the process that runs sepm-reconciler"
            if isinstance(ref, EnvRef)
            else "give that process a readable file whose first line is the secret"
        )
        raise SecretError(f"{exc}: {remedy}", location=str(server.locate(field)), field=field) from exc


def open_client(
    server: LoadedServer,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    retry: RetryPolicy | None = None,
) -> SepmClient:
    """A client for ``server``: its secrets resolved now (relative ``{file:}`` paths against the spec's directory),
    TLS verified against ``caBundle`` when the spec names one, else the system's trust store; the throttle window and
    budget and the answer size limit from ``spec.server.api``.

    Raises :class:`~reconciler.errors.SecretError` when a secret cannot be resolved and
    :class:`~reconciler.errors.PermanentError` when the CA bundle cannot be loaded, each located in the spec
    (``file:line:col: field: …``).
    """
    conn = server.spec.spec.server
    creds = conn.credentials
    username = (
        creds.username
        if isinstance(creds.username, str)
        else _secret(server, f"{_CREDENTIALS}.username", creds.username)
    )
    password = _secret(server, f"{_CREDENTIALS}.password", creds.password)
    try:
        verify = tls_context(conn.ca_bundle)  # the loader made a relative caBundle absolute
    except PermanentError as exc:
        raise PermanentError(f"{server.locate('spec.server.caBundle')}: {exc}") from exc
    api = conn.api
    return SepmClient(
        conn.api_url,
        SepmCredentials(username=username, password=password, domain=creds.domain),
        verify=verify,
        timeout=conn.timeout.total_seconds(),
        retry=retry
        or RetryPolicy(
            throttle_window=api.throttle_window.total_seconds(),
            throttle_budget=api.throttle_budget.total_seconds(),
        ),
        transport=transport,
        max_body=api.max_response_size,
    )
