"""Adapter to a SEPM manager: REST client (httpx), served-certificate observer (TLS), ``observe()``.

The public surface, used by the engine, the daemon and the CLI:

* :class:`SepmClient` (one request path: auth, retries, errors; :class:`ApiError` and
  :class:`UntrustedCertificateError` are the errors of :mod:`reconciler.errors` it adds) and :func:`open_client`
  (a client from a spec);
* :func:`observe` → :class:`~reconciler.core.observation.ServerObservation`, with a :class:`ClientLedger` kept by
  the caller between ticks for incremental client scans;
* :func:`observe_ports` (TLS handshakes, any certificate);
* the actions :func:`set_secure_communications` (→ :class:`SettingResult`) and :func:`replicate_now`;
* :func:`run_probe` → :class:`ProbeReport` (the read-only checks of ``sepm-reconciler probe``).
"""

from reconciler.sepm.actions import SettingResult, replicate_now, set_secure_communications
from reconciler.sepm.client import (
    ApiError,
    RetryPolicy,
    SepmClient,
    SepmCredentials,
    UntrustedCertificateError,
    tls_context,
)
from reconciler.sepm.connect import open_client
from reconciler.sepm.ledger import ClientLedger, ScanStats
from reconciler.sepm.observe import observe, reread_groups
from reconciler.sepm.probe import ProbeReport, run_probe
from reconciler.sepm.serials import parse_policy_serial
from reconciler.sepm.tls import observe_port, observe_ports

__all__ = [
    "ApiError",
    "ClientLedger",
    "ProbeReport",
    "RetryPolicy",
    "ScanStats",
    "SepmClient",
    "SepmCredentials",
    "SettingResult",
    "UntrustedCertificateError",
    "observe",
    "observe_port",
    "observe_ports",
    "open_client",
    "parse_policy_serial",
    "replicate_now",
    "reread_groups",
    "run_probe",
    "set_secure_communications",
    "tls_context",
]
