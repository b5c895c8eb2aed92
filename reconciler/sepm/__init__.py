"""Adapter to a SEPM manager: REST client (httpx), served-certificate observer (TLS), ``observe()``.

The public surface, used by the engine, the daemon and the CLI:

* :class:`SepmClient` (one request path: auth, retries, errors; :class:`ApiError` and
  :class:`UntrustedCertificateError` are the errors of :mod:`reconciler.errors` it adds) and :func:`open_client`
  (a client from a spec);
* :func:`observe` → :class:`~reconciler.core.observation.ServerObservation`, with a :class:`ClientLedger` kept by
  the caller between ticks for incremental client scans;
* :func:`observe_ports` (TLS handshakes, any certificate);
* the actions :func:`set_secure_communications` (→ :class:`SettingResult`; a collateral change of the settings
  raises :class:`CollateralSettingsChange`) and :func:`replicate_now`; :func:`read_settings` reads a group's whole
  settings document (:class:`SettingsDocument`);
* :func:`run_probe` → :class:`ProbeReport` (the read-only checks of ``sepm-reconciler probe``), and
  :func:`rehearse` → :class:`Rehearsal` (``probe --rehearse``: the settings PATCH tried on one sacrificial group).

Errors it adds to :mod:`reconciler.errors`: :class:`ApiError`, :class:`UntrustedCertificateError`,
:class:`ThrottledError` (a temporary error with the delay the manager asks for), :class:`ScanInconsistent` (the
fleet changed under every pass of a client scan), :class:`CollateralSettingsChange`.
"""

from reconciler.sepm.actions import SettingResult, replicate_now, set_secure_communications
from reconciler.sepm.client import (
    ApiError,
    RetryPolicy,
    SepmClient,
    SepmCredentials,
    ThrottledError,
    UntrustedCertificateError,
    tls_context,
)
from reconciler.sepm.connect import open_client
from reconciler.sepm.ledger import ClientLedger, ScanInconsistent, ScanStats
from reconciler.sepm.observe import observe, reread_groups
from reconciler.sepm.probe import ProbeReport, run_probe
from reconciler.sepm.probe.rehearse import Rehearsal, rehearse
from reconciler.sepm.serials import parse_policy_serial
from reconciler.sepm.settings import CollateralSettingsChange, SettingsDocument, read_settings
from reconciler.sepm.tls import observe_port, observe_ports

__all__ = [
    "ApiError",
    "ClientLedger",
    "CollateralSettingsChange",
    "ProbeReport",
    "Rehearsal",
    "RetryPolicy",
    "ScanInconsistent",
    "ScanStats",
    "SepmClient",
    "SepmCredentials",
    "SettingResult",
    "SettingsDocument",
    "ThrottledError",
    "UntrustedCertificateError",
    "observe",
    "observe_port",
    "observe_ports",
    "open_client",
    "parse_policy_serial",
    "read_settings",
    "rehearse",
    "replicate_now",
    "reread_groups",
    "run_probe",
    "set_secure_communications",
    "tls_context",
]
