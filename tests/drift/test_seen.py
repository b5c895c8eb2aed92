"""What the checks see: a live observation and the record's summary of it (``--offline``) read the same way,
the summary knowing less."""

from __future__ import annotations

from datetime import timedelta

from reconciler.core._storage import Reader
from reconciler.core.checks import summarize
from reconciler.core.drift import Seen
from reconciler.core.observation import (
    ClientAcknowledgement,
    GroupObservation,
    PortObservation,
    PortOutcome,
    ReplicationObservation,
    ReplicationPartner,
    ServerObservation,
)
from reconciler.core.record import ObservedSummary
from tests.drift.builders import NEW, NOW, OLD, SKEW, certificate, make_spec


def _group(gid: str, path: str, flag: bool | None, days_ago: float) -> GroupObservation:
    return GroupObservation(
        id=gid,
        full_path_name=path,
        inherits=False,
        managed=True,
        secure_communications=flag,
        policy_serial=None,
        policy_time=NOW + SKEW - timedelta(days=days_ago),
    )


OBSERVATION = ServerObservation(
    server="sepm-east",
    observed_at=NOW,
    api_reachable=True,
    api_version="14.3.9816.7000",
    manager_time=NOW + SKEW,
    ports={
        "clients": PortObservation("clients", 443, PortOutcome.PRESENTED, certificate(NEW)),
        "console": PortObservation("console", 8443, PortOutcome.PRESENTED, certificate(OLD)),
        "api": PortObservation("api", 8446, PortOutcome.REFUSED, error="connection refused"),
    },
    replication=ReplicationObservation(
        "Site East", True, (ReplicationPartner("Site West", "FAILED_CONNECT"),)
    ),
    groups=(
        _group("g1", "My Company", True, 40),
        _group("g2", "My Company\\Laptops", False, 3),
        _group("g3", "My Company\\Kiosks", False, 9),
    ),
    clients=ClientAcknowledgement(
        change_time=None,
        total=120,
        eligible=100,
        acknowledged=0,
        pending_online=90,
        pending_offline=10,
        excluded_offline=20,
        at_risk_count=120,
        at_risk_names=("PC-1", "PC-2"),
        legacy_agents=4,
        longest_unseen=timedelta(days=9),
        stopped_checking_in=("PC-9",),
        stopped_checking_in_count=7,
    ),
    errors=("clients: 2 clients carry a profileSerialNo not in the vendor's format",),
)


def test_a_live_observation_keeps_every_fact_the_checks_use() -> None:
    seen = Seen.from_observation(OBSERVATION, make_spec())
    assert seen.live
    assert [(p.name, p.port, p.outcome, p.fingerprint) for p in seen.ports] == [
        ("clients", 443, PortOutcome.PRESENTED, NEW),
        ("console", 8443, PortOutcome.PRESENTED, OLD),
        ("api", 8446, PortOutcome.REFUSED, None),
    ]
    assert seen.presented() == {"clients": NEW, "console": OLD}
    clients_port = seen.port("clients")
    assert clients_port is not None and clients_port.certificate == certificate(NEW)
    assert (seen.verification_on, seen.verification_off) == (1, 2)
    assert seen.groups_off == ("My Company\\Laptops", "My Company\\Kiosks")
    assert seen.off_unchanged_since == NOW + SKEW - timedelta(days=9)
    assert seen.partners == {"Site West": "FAILED_CONNECT"}
    assert seen.clients is not None
    assert (seen.clients.at_risk_count, seen.clients.legacy_agents, seen.clients.stopped_checking_in) == (
        120,
        4,
        7,
    )
    assert seen.clients.total == 120
    assert seen.errors == OBSERVATION.errors


def test_the_records_summary_reads_back_with_fingerprints_and_certificate_facts() -> None:
    seen = Seen.from_summary(summarize(OBSERVATION), make_spec())
    assert not seen.live
    assert seen.presented() == {"clients": NEW, "console": OLD}
    assert [p.certificate for p in seen.ports] == [
        OBSERVATION.ports["clients"].certificate,
        OBSERVATION.ports["console"].certificate,
        None,  # refused: nothing presented
    ]
    api_port = seen.port("api")
    assert api_port is not None and api_port.outcome is PortOutcome.REFUSED
    assert (seen.verification_on, seen.verification_off) == (1, 2)
    assert seen.groups_off == ()  # the summary keeps counts, not names
    assert seen.partners == {"Site West": "FAILED_CONNECT"}
    assert seen.clients is not None
    assert (seen.clients.eligible, seen.clients.at_risk_count, seen.clients.legacy_agents) == (100, 120, 4)


def test_a_summary_stored_before_certificate_facts_were_kept_reads_back_without_them() -> None:
    stored = summarize(OBSERVATION).to_storage()
    del stored["certificates"], stored["legacy_agents"]
    old = ObservedSummary.from_storage(Reader(stored, "observed"))
    seen = Seen.from_summary(old, make_spec())
    assert seen.presented() == {"clients": NEW, "console": OLD}
    assert [p.certificate for p in seen.ports] == [None, None, None]
    assert seen.clients is not None and seen.clients.legacy_agents is None


def test_a_port_missing_from_the_observation_is_not_observed_rather_than_guessed() -> None:
    partial = ServerObservation(
        server="sepm-east",
        observed_at=NOW,
        api_reachable=False,
        ports={"clients": PortObservation("clients", 443, PortOutcome.PRESENTED, certificate(NEW))},
    )
    seen = Seen.from_observation(partial, make_spec())
    assert [(p.name, p.port, p.outcome, p.error) for p in seen.ports] == [
        ("clients", 443, PortOutcome.PRESENTED, None),
        ("console", 8443, None, "not observed"),
        ("api", 8446, None, "not observed"),
    ]
    assert seen.partners is None and seen.clients is None and seen.verification_off is None
    summary = Seen.from_summary(summarize(partial), make_spec())
    assert summary.partners is None and summary.clients is None
    assert [p.outcome for p in summary.ports] == [PortOutcome.PRESENTED, None, None]


def test_without_a_spec_the_ports_keep_the_observed_names_in_the_usual_order() -> None:
    seen = Seen.from_summary(summarize(OBSERVATION))
    assert [(p.name, p.port) for p in seen.ports] == [("clients", None), ("console", None), ("api", None)]


def test_a_refused_login_is_read_the_same_live_and_offline() -> None:
    refused = ServerObservation(
        server="sepm-east",
        observed_at=NOW,
        api_reachable=True,  # GET version answers without a token
        api_version="14.3.9816.7000",
        ports=OBSERVATION.ports,
        errors=(
            "api version: HTTP 503",
            "api: the manager refused the credentials of user 'admin' (HTTP 401); check the account",
        ),
    )
    expected = "the manager refused the credentials of user 'admin' (HTTP 401); check the account"
    assert Seen.from_observation(refused, make_spec()).api_error == expected
    assert Seen.from_summary(summarize(refused), make_spec()).api_error == expected
    assert Seen.from_observation(OBSERVATION, make_spec()).api_error is None  # other parts' errors are not it
