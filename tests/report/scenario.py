"""A fixed fleet for the golden tests: every kind of finding, at a fixed ``now``, with nothing random.

Built from the same pieces ``collect`` uses — ``Source`` per server and :func:`assemble` — so the goldens show
exactly what the command prints for such a fleet. The spec set is made by hand (no files, no Git revision) so the
output does not depend on the checkout.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from reconciler.certs import served_certificate
from reconciler.core.checks import summarize
from reconciler.core.drift import ClientsSeen, PortSeen, Seen
from reconciler.core.events import Event, EventKind
from reconciler.core.observation import PortObservation, PortOutcome, ServedCertificate, ServerObservation
from reconciler.core.procedure import Phase
from reconciler.core.record import Facts, RolloutRecord, Stall
from reconciler.core.spec import ManagedServer
from reconciler.report import Report
from reconciler.report.assemble import Source, assemble
from reconciler.specs import LoadedServer, SpecIssue, SpecSet

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
SKEW = timedelta(minutes=3)
DATA = Path(__file__).parent / "data"
EAST_PEM = DATA / "east-2027.pem"
OLD = "sha256:" + "a1" * 32
NEW = "sha256:" + "b2" * 32
PORTS = {"clients": 443, "console": 8443, "api": 8446}
HOSTILE = 'CN=<script>alert("x")</script> | *bold* _u_ [l](http://evil.example)'


def _east_certificate() -> ServedCertificate:
    cert = x509.load_pem_x509_certificate(EAST_PEM.read_bytes())
    return served_certificate(cert.public_bytes(serialization.Encoding.DER))


def _cert(fingerprint: str, cn: str, expires_in: timedelta, subject: str | None = None) -> ServedCertificate:
    return ServedCertificate(
        fingerprint=fingerprint,
        subject=subject or f"CN={cn}.corp.example",
        issuer="CN=Corp Issuing CA 1",
        sans=(f"{cn}.corp.example",),
        serial="7f3a",
        not_before=NOW - timedelta(days=700),
        not_after=NOW + expires_in,
    )


def _spec(
    name: str, site: str, *, partners: tuple[str, ...] = (), certificate: dict[str, object], **rollout: object
) -> ManagedServer:
    return ManagedServer.model_validate(
        {
            "apiVersion": "sepm-reconciler/v1",
            "kind": "ManagedServer",
            "metadata": {"name": name},
            "spec": {
                "server": {
                    "apiUrl": f"https://{name}.corp.example:8446/sepm/api/v1",
                    "site": site,
                    "credentials": {"username": "admin", "password": {"env": "SEPM_PASSWORD"}},
                },
                "certificate": certificate,
                "replication": {"partners": list(partners)},
                "rollout": rollout,
            },
        }
    )


def _loaded(spec: ManagedServer, line: int = 1, written: dict[str, str] | None = None) -> LoadedServer:
    file = f"specs/{spec.name}.yaml"
    return LoadedServer(
        spec, Path("/srv/specs") / f"{spec.name}.yaml", line, Path("/srv/specs"), file, written or {}
    )


def _ports(**certificates: ServedCertificate | PortOutcome) -> tuple[PortSeen, ...]:
    ports = []
    for name, number in PORTS.items():
        value = certificates[name]
        if isinstance(value, PortOutcome):
            ports.append(PortSeen(name, number, value, error=f"connection {value.value}"))
        else:
            ports.append(PortSeen(name, number, PortOutcome.PRESENTED, value.fingerprint, value))
    return tuple(ports)


def _clients(**values: object) -> ClientsSeen:
    base: dict[str, object] = {
        "change_time": None,
        "eligible": 1900,
        "acknowledged": 0,
        "at_risk_count": 1950,
        "at_risk_names": tuple(f"WEST-PC{n:06d}" for n in range(1, 13)),
        "pending_online": 1834,
        "pending_offline": 66,
        "excluded_offline": 50,
        "legacy_agents": 0,
        "stopped_checking_in": 0,
        "longest_unseen": timedelta(days=3, hours=4),
    }
    base.update(values)
    return ClientsSeen(**base)


def _seen(ports: tuple[PortSeen, ...], **values: object) -> Seen:
    base: dict[str, object] = {
        "observed_at": NOW,
        "live": True,
        "api_reachable": True,
        "api_version": "14.3.9816.7000",
        "manager_time": NOW + SKEW,
        "ports": ports,
        "verification_on": 2,
        "verification_off": 0,
        "partners": {},
        "clients": _clients(),
    }
    base.update(values)
    return Seen(**base)


def _record(name: str, phase: Phase, **values: object) -> RolloutRecord:
    base: dict[str, object] = {
        "server": name,
        "phase": phase,
        "entered_at": NOW - timedelta(hours=6),
        "updated_at": NOW - timedelta(minutes=4),
        "next_check_at": NOW + timedelta(minutes=1),
        "reason": "in sync",
        "version": 12,
    }
    base.update(values)
    return RolloutRecord(**base)


def _event(
    event_id: int,
    server: str,
    hours_ago: float,
    kind: EventKind,
    reason: str,
    source: Phase,
    dest: Phase,
    actor: str = "reconciler",
) -> Event:
    return Event(
        NOW - timedelta(hours=hours_ago),
        server,
        kind,
        reason,
        actor=actor,
        rollout_id=None if dest in (Phase.IN_SYNC, Phase.DRIFTED) else "r-20261128T0800Z-5c1e2d3f",
        from_phase=source,
        to_phase=dest,
        details={"step": 0},
        id=event_id,
    )


def fleet() -> tuple[SpecSet, list[Source], dict[str, list[Event]]]:
    east_cert = _east_certificate()
    east = _loaded(
        _spec("sepm-east", "Site East", partners=("Site West",), certificate={"file": str(EAST_PEM)}),
        written={"spec.certificate.file": "certs/east-2027.pem"},
    )
    west = _loaded(
        _spec(
            "sepm-west",
            "Site West",
            partners=("Site East",),
            certificate={"fingerprint": NEW},
            approvals=[1, 4],
        )
    )
    north = _loaded(
        _spec("sepm-north", "Site North", partners=("Site East",), certificate={"fingerprint": NEW})
    )
    south = _loaded(_spec("sepm-south", "Site South", certificate={"fingerprint": NEW}))
    lab = _loaded(_spec("sepm-lab", "Site Lab", certificate={"fingerprint": NEW}))
    half = _loaded(_spec("sepm-half", "Site Half", certificate={"fingerprint": NEW}))
    spec_set = SpecSet(
        path=Path("specs"),
        servers={s.name: s for s in (east, west, north, south, lab, half)},
        issues=[
            SpecIssue(
                "specs/sepm-broken.yaml",
                7,
                12,
                "spec.server.apiUrl",
                "must be an https:// URL such as https://sepm-east-01.corp.example:8446/sepm/api/v1, got 'http://x'",
                code="invalid-url",
            )
        ],
        revision="3f2a9b1c0d4e5f60718293a4b5c6d7e8f9a0b1c2",
    )
    old_west = _cert(OLD, "sepm-west", timedelta(days=20))
    new_cert = _cert(NEW, "sepm-2027", timedelta(days=700))
    off_at = NOW + SKEW - timedelta(hours=30)
    sources = [
        Source(
            "sepm-east",
            east,
            east_cert.fingerprint,
            seen=_seen(
                _ports(clients=east_cert, console=east_cert, api=east_cert),
                partners={"Site West": "SUCCEEDED"},
                clients=_clients(acknowledged=0, at_risk_count=2000, legacy_agents=3),
            ),
            record=_record(
                "sepm-east", Phase.IN_SYNC, reason="in sync: every port presents the desired certificate"
            ),
        ),
        Source(
            "sepm-west",
            west,
            NEW,
            seen=_seen(
                _ports(clients=old_west, console=old_west, api=old_west), partners={"Site East": "SUCCEEDED"}
            ),
            record=_record(
                "sepm-west",
                Phase.DRIFTED,
                entered_at=NOW - timedelta(days=3),
                rollout_id="r-20261128T0800Z-77aa88bb",
                target_fingerprint=NEW,
                reason="drift: all ports present sha256:a1a1a1a1a1a1…, the spec wants sha256:b2b2b2b2b2b2…; step 1 needs "
                "an approval: sepm-reconciler approve sepm-west --step 1 --by YOU --reason WHY",
            ),
        ),
        Source(
            "sepm-north",
            north,
            NEW,
            seen=_seen(
                _ports(clients=old_west, console=old_west, api=old_west),
                verification_on=0,
                verification_off=2,
                groups_off=("My Company", "My Company\\Laptops"),
                clients=_clients(
                    change_time=off_at,
                    acknowledged=1840,
                    at_risk_count=110,
                    at_risk_names=("NORTH-PC000017", "NORTH-PC000023", "NORTH-PC000101"),
                    pending_online=12,
                    pending_offline=48,
                    excluded_offline=50,
                ),
            ),
            record=_record(
                "sepm-north",
                Phase.WAITING_UNVERIFIED,
                entered_at=NOW - timedelta(hours=30),
                started_at=NOW - timedelta(hours=32),
                rollout_id="r-20261128T0800Z-5c1e2d3f",
                target_fingerprint=NEW,
                procedure_version=1,
                next_check_at=NOW + timedelta(minutes=5),
                facts=Facts(partners=("Site East",), verification_off_at=off_at),
                reason="step 3: waiting for clients: 1,840 / 1,900 eligible have the policy (96.8%, need 100%); "
                "minimum soak over since 2026-12-01 05:03 UTC (manager time); 48 offline, longest unseen 3 days 4 h",
            ),
        ),
        Source(
            "sepm-south",
            south,
            NEW,
            seen=_seen(
                _ports(clients=PortOutcome.REFUSED, console=PortOutcome.REFUSED, api=PortOutcome.TIMEOUT),
                api_reachable=False,
                api_version=None,
                manager_time=None,
                verification_on=None,
                verification_off=None,
                partners=None,
                clients=None,
                errors=("api: authentication failed: connection refused",),
            ),
            record=None,
        ),
        Source(
            "sepm-lab",
            lab,
            NEW,
            seen=_seen(_ports(clients=new_cert, console=new_cert, api=new_cert)),
            record=_record(
                "sepm-lab",
                Phase.STALLED,
                stalled_from=Phase.WAITING_VERIFIED,
                rollout_id="r-20261115T0800Z-0badf00d",
                target_fingerprint=NEW,
                stall=Stall(
                    "MaxSoakExceeded",
                    "step 6: clients did not acknowledge the change within maxSoak (14 days)",
                    "raise spec.rollout.clients.maxSoak and commit, or sepm-reconciler approve sepm-lab --step 7 "
                    "--accept-at-risk --by YOU --reason WHY, then run: sepm-reconciler resume sepm-lab",
                    NOW - timedelta(days=1),
                ),
            ),
        ),
        Source(
            "sepm-half",
            half,
            NEW,
            seen=_seen(
                _ports(
                    clients=new_cert,
                    console=_cert(OLD, "sepm-half", timedelta(days=200), subject=HOSTILE),
                    api=_cert(OLD, "sepm-half", timedelta(days=200), subject=HOSTILE),
                )
            ),
            record=_record("sepm-half", Phase.DRIFTED, reason="drift: report mode"),
        ),
        Source(
            "sepm-old",
            None,
            seen=Seen.from_summary(
                summarize(
                    ServerObservation(
                        "sepm-old",
                        NOW - timedelta(days=2),
                        True,
                        ports={
                            name: PortObservation(
                                name,
                                number,
                                PortOutcome.PRESENTED,
                                _cert(OLD, "sepm-old", timedelta(days=90)),
                            )
                            for name, number in PORTS.items()
                        },
                    )
                )
            ),
            record=_record("sepm-old", Phase.IN_SYNC, updated_at=NOW - timedelta(days=2)),
        ),
    ]
    events = {
        "sepm-west": [
            _event(
                101,
                "sepm-west",
                80,
                EventKind.TRANSITION,
                "in sync: every port presents sha256:a1a1a1a1a1a1…",
                Phase.NEW,
                Phase.IN_SYNC,
            ),
            _event(
                140,
                "sepm-west",
                72,
                EventKind.TRANSITION,
                "drift: all ports present sha256:a1a1a1a1a1a1…, the spec wants sha256:b2b2b2b2b2b2…; step 1 needs an approval",
                Phase.IN_SYNC,
                Phase.DRIFTED,
            ),
            replace(
                _event(
                    141,
                    "sepm-west",
                    72,
                    EventKind.APPROVAL_NEEDED,
                    "step 1 needs an approval: sepm-reconciler approve sepm-west --step 1 --by YOU --reason WHY",
                    Phase.DRIFTED,
                    Phase.DRIFTED,
                ),
                details={"step": 1},
            ),
        ],
        "sepm-north": [
            _event(
                120,
                "sepm-north",
                200,
                EventKind.TRANSITION,
                "in sync: every port presents sha256:a1a1a1a1a1a1…",
                Phase.NEW,
                Phase.IN_SYNC,
            ),
            _event(
                150,
                "sepm-north",
                32,
                EventKind.TRANSITION,
                "drift: starting rollout r-20261128T0800Z-5c1e2d3f with step 1 (break replication)",
                Phase.IN_SYNC,
                Phase.BREAKING_REPLICATION,
            ),
            _event(
                151,
                "sepm-north",
                31,
                EventKind.TRANSITION,
                "replication with Site East is broken (observed): disabling certificate verification next",
                Phase.BREAKING_REPLICATION,
                Phase.DISABLING_VERIFICATION,
            ),
            _event(
                152,
                "sepm-north",
                30,
                EventKind.TRANSITION,
                "certificate verification reads off for all 2 managed groups (read back)",
                Phase.DISABLING_VERIFICATION,
                Phase.WAITING_UNVERIFIED,
            ),
        ],
    }
    return spec_set, sources, events


def fleet_report(*, since: bool = True) -> Report:
    spec_set, sources, events = fleet()
    return assemble(
        spec_set,
        sources,
        now=NOW,
        live=True,
        state_url="sqlite:///var/lib/sepm-reconciler/state.db",
        since=NOW - timedelta(days=7) if since else None,
        events=events,
    )


def in_sync_report() -> Report:
    """One server, in sync, nothing else to say: the exit-0 report."""
    spec_set, sources, _ = fleet()
    east = sources[0]
    only = SpecSet(
        path=spec_set.path,
        servers={"sepm-east": spec_set.servers["sepm-east"]},
        issues=[],
        revision="3f2a9b1c0d4e",
    )
    quiet = replace(
        east,
        seen=replace(east.seen, clients=replace(east.seen.clients, legacy_agents=0))
        if east.seen and east.seen.clients
        else None,
    )
    return assemble(only, [quiet], now=NOW, live=True, state_url=None)


def offline_report() -> Report:
    """Read back from the state three hours after the last observation: the drifted server, and a server that is
    no longer in the specs."""
    spec_set, sources, _ = fleet()
    west, old = sources[1], sources[-1]
    assert west.record is not None and west.server is not None
    observation = ServerObservation(
        "sepm-west",
        NOW - timedelta(hours=3),
        True,
        "14.3.9816.7000",
        NOW - timedelta(hours=3) + SKEW,
        ports={
            name: PortObservation(
                name, number, PortOutcome.PRESENTED, _cert(OLD, "sepm-west", timedelta(days=20))
            )
            for name, number in PORTS.items()
        },
    )
    summary = summarize(observation)
    only = SpecSet(
        path=spec_set.path,
        servers={"sepm-west": spec_set.servers["sepm-west"]},
        issues=[],
        revision="3f2a9b1c0d4e",
    )
    remembered = replace(
        west,
        seen=Seen.from_summary(summary, west.server.spec),
        record=replace(west.record, observed=summary),
    )
    return assemble(
        only,
        [remembered, old],
        now=NOW,
        live=False,
        state_url="sqlite:///var/lib/sepm-reconciler/state.db",
        notes=[
            "offline: read from the state only (no network); the observations are between 3 h and 2 days old"
        ],
    )
