"""The per-server gauges, computed at scrape time from the records (pure: a snapshot in, the exposition out)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from prometheus_client.parser import text_string_to_metric_families

from reconciler.core.observation import ServedCertificate
from reconciler.core.procedure import Phase
from reconciler.core.record import Facts, ObservedSummary, RolloutRecord, new_record
from reconciler.daemon.metrics import DaemonMetrics, Snapshot

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
OLD = "sha256:" + "a1" * 32
NEW = "sha256:" + "b2" * 32
EXPIRES = datetime(2027, 3, 1, tzinfo=UTC)


def _served(fingerprint: str) -> ServedCertificate:
    return ServedCertificate(
        fingerprint=fingerprint,
        subject="CN=sepm-east.corp.example",
        issuer="CN=Corp Root CA",
        sans=("sepm-east.corp.example",),
        serial="1a2b",
        not_before=T0 - timedelta(days=300),
        not_after=EXPIRES,
    )


def _waiting() -> RolloutRecord:
    """sepm-east in step 3 for an hour: 1,834 of 1,900 clients acknowledged, 66 at risk, the old certificate served."""
    return replace(
        new_record("sepm-east", T0 - timedelta(hours=1)),
        phase=Phase.WAITING_UNVERIFIED,
        code="SoakNotOver",
        rollout_id="r-1",
        desired_fingerprint=NEW,
        facts=Facts(verification_off_at=T0 - timedelta(hours=1)),
        next_check_at=T0 + timedelta(minutes=5),
        observed=ObservedSummary(
            observed_at=T0,
            api_reachable=True,
            fingerprints={"clients": OLD, "console": OLD, "api": OLD},
            eligible=1900,
            acknowledged=1834,
            ack_ratio=1834 / 1900,
            at_risk_count=66,
            certificates={"clients": _served(OLD), "api": _served(OLD)},
        ),
    )


def _in_sync() -> RolloutRecord:
    return replace(
        new_record("sepm-west", T0 - timedelta(days=2)),
        phase=Phase.IN_SYNC,
        desired_fingerprint=NEW,
        observed=ObservedSummary(
            observed_at=T0, api_reachable=True, fingerprints={"clients": NEW, "console": NEW, "api": NEW}
        ),
    )


def _samples(snapshot: Snapshot) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = DaemonMetrics().render(snapshot).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_server_gauges_describe_each_record_at_the_moment_of_the_scrape() -> None:
    samples = _samples(Snapshot(now=T0, records=(_waiting(), _in_sync()), managed=frozenset({"sepm-east"})))

    def value(name: str, **labels: str) -> float | None:
        return samples.get((f"sepm_reconciler_{name}", tuple(sorted(labels.items()))))

    assert value("phase", server="sepm-east", phase="waiting_unverified") == 1.0
    assert (
        sum(
            v
            for (n, labels), v in samples.items()
            if n == "sepm_reconciler_phase" and ("server", "sepm-east") in labels
        )
        == 1.0
    )
    assert value("step", server="sepm-east") == 3.0 and value("step", server="sepm-west") == 0.0
    holds = {
        dict(labels)["server"]: (dict(labels)["code"], v)
        for (n, labels), v in samples.items()
        if n == "sepm_reconciler_hold"
    }
    assert holds == {"sepm-east": ("SoakNotOver", 1.0), "sepm-west": ("InSync", 1.0)}
    assert value("seconds_in_step", server="sepm-east") == 3600.0
    assert value("ack_ratio", server="sepm-east") == 1834 / 1900
    assert value("ack_ratio", server="sepm-west") is None  # no policy change of ours is being acknowledged
    assert value("at_risk_clients", server="sepm-east") == 66.0
    assert value("drift", server="sepm-east") == 1.0 and value("drift", server="sepm-west") == 0.0
    assert value("managed", server="sepm-east") == 1.0 and value("managed", server="sepm-west") == 0.0
    assert (
        value("next_check_timestamp_seconds", server="sepm-east") == (T0 + timedelta(minutes=5)).timestamp()
    )
    not_after = {
        dict(labels)["port"]: v
        for (n, labels), v in samples.items()
        if n == "sepm_reconciler_certificate_not_after_timestamp_seconds"
    }
    assert not_after == {"clients": EXPIRES.timestamp(), "api": EXPIRES.timestamp()}


def test_without_records_only_the_daemon_counters_are_exposed() -> None:
    samples = _samples(Snapshot(now=T0))
    assert not [n for n, labels in samples if ("server", "sepm-east") in labels]
    assert samples[("sepm_reconciler_spec_reload_failures_total", ())] == 0.0


def test_the_lease_is_exposed_with_its_holder_age_and_epoch() -> None:
    metrics = DaemonMetrics()
    metrics.leader.labels("host-a:41:abc").set(1)
    snapshot = Snapshot(now=T0, lease_renewed_at=T0 - timedelta(seconds=7), lease_epoch=5)
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(metrics.render(snapshot).decode())
        for s in family.samples
    }
    assert samples[("sepm_reconciler_leader", (("holder", "host-a:41:abc"),))] == 1.0
    assert samples[("sepm_reconciler_lease_age_seconds", ())] == 7.0
    assert samples[("sepm_reconciler_lease_epoch", ())] == 5.0
    assert ("sepm_reconciler_lease_age_seconds", ()) not in _samples(Snapshot(now=T0))  # no lease read yet


def test_the_build_the_clients_and_a_pending_approval_are_exposed_without_created_series() -> None:
    waiting = replace(
        _waiting(),
        code="ApprovalMissing",
        facts=Facts(verification_off_at=T0 - timedelta(hours=1), approvals_announced=(4,)),
    )
    text = DaemonMetrics().render(Snapshot(now=T0, records=(waiting, _in_sync()))).decode()
    samples = _samples(Snapshot(now=T0, records=(waiting, _in_sync())))
    from reconciler import __version__

    assert samples[("sepm_reconciler_build_info", (("version", __version__),))] == 1.0
    assert samples[("sepm_reconciler_approval_pending", (("server", "sepm-east"), ("step", "4")))] == 1.0
    assert not any(name == "sepm_reconciler_approval_pending" and dict(labels)["server"] == "sepm-west" for name, labels in samples)  # fmt: skip
    assert samples[("sepm_reconciler_clients_eligible", (("server", "sepm-east"),))] == 1900
    assert samples[("sepm_reconciler_clients_acknowledged", (("server", "sepm-east"),))] == 1834
    assert "_created" not in text
