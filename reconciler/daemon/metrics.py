"""Prometheus metrics, every name prefixed ``sepm_reconciler_`` (cert-manager's style, plus the procedure's).

Two kinds:

* counters and the tick histogram live in the daemon's own registry and grow as it works;
* gauges that describe servers (phase, step, seconds in step, the code of why it holds, acknowledgement ratio,
  served notAfter, drift…) are computed at scrape time from a :class:`Snapshot` — the records in the store, each with
  the summary of its last observation — so they are never stale (right after a restart too) and nothing has to keep
  them in step.

The registry is per daemon (not the process-global default), so several daemons in one test process do not clash.
Counters and histograms have no ``*_created`` series (Unix time each label set appeared: noise for dashboards and
alerts, and a cardinality cost).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from reconciler import __version__
from reconciler.core.codes import Code
from reconciler.core.events import Event, EventKind
from reconciler.core.observation import PORT_NAMES
from reconciler.core.phase import Phase
from reconciler.core.procedure.table import STANDARD
from reconciler.core.record import RolloutRecord
from reconciler.core.status import pending_approval

__all__ = ["CONTENT_TYPE", "DaemonMetrics", "Snapshot"]

disable_created_metrics()  # type: ignore[no-untyped-call]  # prometheus_client leaves it unannotated

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
P = "sepm_reconciler_"

_TICK_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 1800, 3600)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What the per-server gauges are computed from, taken just before a scrape."""

    now: datetime
    records: Sequence[RolloutRecord] = ()
    managed: frozenset[str] = frozenset()  # servers in the specs in force
    last_tick: Mapping[str, datetime] = field(default_factory=dict)
    lease_renewed_at: datetime | None = None  # the lease's last renewal (by whoever holds it), as last read
    lease_epoch: int | None = None


def _drifted(record: RolloutRecord) -> bool:
    """The last observation shows a port presenting another certificate than desired (or none at all)."""
    if record.desired_fingerprint is None or record.observed is None:
        return record.phase is not Phase.IN_SYNC
    served = record.observed.fingerprints
    return any(served.get(port) != record.desired_fingerprint for port in PORT_NAMES)


class _ServersCollector:
    """Yields the per-server gauges from the snapshot set by :meth:`DaemonMetrics.render`."""

    def __init__(self) -> None:
        self.snapshot: Snapshot | None = None

    def collect(self) -> Iterator[Metric]:
        snap = self.snapshot
        if snap is None:
            return
        phase = _gauge("phase", "1 for the phase each server is in, 0 for the others", "phase")
        step = _gauge("step", "Procedure step 1..7, 0 outside the procedure")
        hold = _gauge(
            "hold",
            "1 for the code of each server's current reason (InSync when in sync; see docs/procedure.md)",
            "code",
        )
        seconds = _gauge("seconds_in_step", "Seconds since the server entered its current phase")
        ratio = _gauge("ack_ratio", "Clients that acknowledged the policy change / eligible clients")
        at_risk = _gauge("at_risk_clients", "Clients that would be orphaned if the certificate changed now")
        eligible = _gauge(
            "clients_eligible", "Clients waited for (seen within excludeOfflineFor), at the last observation"
        )
        acknowledged = _gauge(
            "clients_acknowledged",
            "Eligible clients that applied the policy change being waited for (steps 3-4 and 6-7)",
        )
        approval = _gauge(
            "approval_pending",
            "1 while the server waits for `sepm-reconciler approve SERVER --step STEP`",
            "step",
        )
        drift = _gauge("drift", "1 when a port presents another certificate than the spec declares")
        stalled = _gauge("stalled", "1 when the rollout needs a human")
        suspended = _gauge("suspended", "1 when suspended by an operator")
        managed = _gauge("managed", "1 when the server is in the specs in force, 0 when only in the state")
        next_check = _gauge("next_check_timestamp_seconds", "When the server is looked at next (Unix time)")
        last_tick = _gauge(
            "last_tick_timestamp_seconds", "When this daemon last finished a tick of the server"
        )
        not_after = _gauge(
            "certificate_not_after_timestamp_seconds",
            "notAfter of the certificate each port presented at the last observation (Unix time)",
            "port",
        )
        for record in snap.records:
            name = record.server
            for value in Phase:
                phase.add_metric([name, value.value], 1.0 if record.phase is value else 0.0)
            step.add_metric([name], float(record.step))
            hold.add_metric([name, Code.IN_SYNC.value if record.in_sync else record.code], 1.0)
            seconds.add_metric([name], max(0.0, (snap.now - record.entered_at).total_seconds()))
            observed = record.observed
            # the ratio while a policy change of ours is being acknowledged; who is at risk before the swap
            if record.acknowledgement_since is not None and observed and observed.ack_ratio is not None:
                ratio.add_metric([name], observed.ack_ratio)
            if (
                STANDARD.clients_at_risk(record)
                and observed is not None
                and observed.at_risk_count is not None
            ):
                at_risk.add_metric([name], float(observed.at_risk_count))
            if observed is not None and observed.eligible is not None:
                eligible.add_metric([name], float(observed.eligible))
                if record.acknowledgement_since is not None and observed.acknowledged is not None:
                    acknowledged.add_metric([name], float(observed.acknowledged))
            if (waiting := pending_approval(record)) is not None:
                approval.add_metric([name, str(waiting)], 1.0)
            drift.add_metric([name], 1.0 if _drifted(record) else 0.0)
            stalled.add_metric([name], 1.0 if record.stalled else 0.0)
            suspended.add_metric([name], 1.0 if record.suspended else 0.0)
            managed.add_metric([name], 1.0 if name in snap.managed else 0.0)
            next_check.add_metric([name], record.next_check_at.timestamp())
            for port, certificate in sorted((observed.certificates if observed else {}).items()):
                not_after.add_metric([name, port], certificate.not_after.timestamp())
        for name, moment in snap.last_tick.items():
            last_tick.add_metric([name], moment.timestamp())
        yield from (
            phase,
            step,
            hold,
            seconds,
            ratio,
            at_risk,
            eligible,
            acknowledged,
            approval,
            drift,
            stalled,
            suspended,
            managed,
            next_check,
        )
        yield from (last_tick, not_after)
        if snap.lease_renewed_at is not None:
            age = GaugeMetricFamily(
                P + "lease_age_seconds",
                "Seconds since the daemon lease was last renewed by its holder (as this daemon last read it); "
                "above the TTL the leader is gone and a standby takes over",
            )
            age.add_metric([], max(0.0, (snap.now - snap.lease_renewed_at).total_seconds()))
            yield age
        if snap.lease_epoch is not None:
            epoch = GaugeMetricFamily(
                P + "lease_epoch", "The daemon lease's epoch: how many times it changed hands (fencing token)"
            )
            epoch.add_metric([], float(snap.lease_epoch))
            yield epoch


def _gauge(name: str, documentation: str, *labels: str) -> GaugeMetricFamily:
    """A per-server gauge family ``sepm_reconciler_NAME{server, *labels}``."""
    return GaugeMetricFamily(P + name, documentation, labels=["server", *labels])


class DaemonMetrics:
    """The daemon's registry. Counters are incremented by the loop; :meth:`render` produces the exposition."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.tick_duration = Histogram(
            P + "tick_duration_seconds",
            "Duration of one tick (observe, decide, act)",
            ["server"],
            buckets=_TICK_BUCKETS,
            registry=r,
        )
        self.ticks = Counter(
            P + "ticks",
            "Ticks by outcome: ok, error, timeout, conflict, abandoned",
            ["server", "outcome"],
            registry=r,
        )
        self.errors = Counter(P + "errors", "Errors by kind", ["server", "kind"], registry=r)
        self.actions = Counter(
            P + "actions",
            "Actions (hooks and API calls) by outcome: started, succeeded, failed",
            ["server", "action", "outcome"],
            registry=r,
        )
        self.api_calls = Counter(
            P + "api_calls",
            "Calls to the managers' REST API by endpoint (ids replaced: groups/{id}/locations/{id}/settings), "
            "tries and throttled ones included: SEPM throttles at 50 a minute as shipped",
            ["server", "endpoint"],
            registry=r,
        )
        self.spec_reloads = Counter(P + "spec_reloads", "Valid spec sets loaded", registry=r)
        self.spec_reload_failures = Counter(
            P + "spec_reload_failures",
            "Spec commits refused as invalid (the previous specs stayed in force)",
            registry=r,
        )
        self.specs_valid = Gauge(P + "specs_valid", "1 when the last spec load was valid", registry=r)
        self.specs_info = Gauge(
            P + "specs_info",
            "1 for the spec revision in force (status=in_force) and, while the last reload was refused, for the "
            'refused one (status=rejected; revision="unknown" when it could not be determined)',
            ["revision", "status"],
            registry=r,
        )
        self.leader = Gauge(
            P + "leader",
            "1 when this daemon (holder: its lease holder id) holds the lease and acts, 0 on standby",
            ["holder"],
            registry=r,
        )
        self.notifications = Counter(
            P + "notifications",
            "Webhook notifications by topic and outcome",
            ["topic", "outcome"],
            registry=r,
        )
        self.build_info = Gauge(
            P + "build_info",
            "1, labelled with the version of sepm-reconciler that runs",
            ["version"],
            registry=r,
        )
        self.build_info.labels(__version__).set(1)
        self._servers = _ServersCollector()
        r.register(self._servers)

    def show_specs(self, in_force: str | None, rejected: str | None, *, valid: bool) -> None:
        """The spec gauges after a load attempt: ``in_force`` revision (None: none), ``rejected`` (the refused
        revision while the last attempt was refused, else None)."""
        self.specs_valid.set(1 if valid else 0)
        self.specs_info.clear()
        if in_force is not None:
            self.specs_info.labels(in_force, "in_force").set(1)
        if not valid:
            self.specs_info.labels(rejected or "unknown", "rejected").set(1)

    def count_event(self, event: Event) -> None:
        """Action counters from the event log (attempts are recorded there by whoever acts)."""
        action = str(event.details.get("action") or "unknown")
        if event.kind is EventKind.ATTEMPT_STARTED:
            self.actions.labels(event.server, action, "started").inc()
        elif event.kind is EventKind.ATTEMPT_FINISHED:
            outcome = "succeeded" if event.details.get("succeeded") else "failed"
            self.actions.labels(event.server, action, outcome).inc()
        elif event.kind is EventKind.ATTEMPT_FAILED:
            self.actions.labels(event.server, action, "failed").inc()

    def render(self, snapshot: Snapshot) -> bytes:
        self._servers.snapshot = snapshot
        try:
            return generate_latest(self.registry)
        finally:
            self._servers.snapshot = None
