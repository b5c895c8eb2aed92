"""A :class:`~reconciler.sepm.client.SepmClient` for a managed server of the specs."""

from __future__ import annotations

from pathlib import Path

import httpx

from reconciler.core.spec import ManagedServer
from reconciler.sepm.client import RetryPolicy, SepmClient, SepmCredentials, tls_context
from reconciler.specs import resolve_secret

__all__ = ["open_client"]


def open_client(
    server: ManagedServer,
    base_dir: Path,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    retry: RetryPolicy | None = None,
) -> SepmClient:
    """A client for ``server``: its secrets resolved now (relative ``{file:}`` paths against ``base_dir``), TLS
    verified against ``caBundle`` when the spec names one, else the system's trust store.

    Raises :class:`~reconciler.errors.SecretError` when a secret cannot be resolved, and
    :class:`~reconciler.errors.PermanentError` when the CA bundle cannot be loaded.
    """
    conn = server.spec.server
    creds = conn.credentials
    username = creds.username if isinstance(creds.username, str) else resolve_secret(creds.username, base_dir)
    password = resolve_secret(creds.password, base_dir)
    ca_bundle = None
    if conn.ca_bundle is not None:
        ca_path = Path(conn.ca_bundle)
        ca_bundle = str(ca_path if ca_path.is_absolute() else base_dir / ca_path)
    return SepmClient(
        conn.api_url,
        SepmCredentials(username=username, password=password, domain=creds.domain),
        verify=tls_context(ca_bundle),
        timeout=conn.timeout.total_seconds(),
        retry=retry,
        transport=transport,
    )
