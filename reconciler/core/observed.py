"""The last observation of a manager, reduced to what ``status`` and ``report --offline`` show without network;
kept in the rollout record (``observed``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from reconciler.core._storage import Reader, iso, iso_or_none
from reconciler.core.observation import AtRiskClient, ServedCertificate

__all__ = ["DOMAIN_COUNTS", "SAMPLES_KEPT", "AckSample", "ObservedSummary", "thin"]

SAMPLES_KEPT = 240
"""At most this many acknowledgement samples are kept per record (older ones are thinned out, never the newest)."""


@dataclass(frozen=True, slots=True)
class AckSample:
    """Clients that had acknowledged the change of ``change`` (manager clock) at ``at`` (manager clock)."""

    change: datetime
    at: datetime
    acknowledged: int
    eligible: int

    @property
    def ratio(self) -> float:
        return 1.0 if self.eligible == 0 else self.acknowledged / self.eligible


@dataclass(frozen=True, slots=True)
class ObservedSummary:
    """The last observation, reduced to what ``status`` shows without network. ``None`` means unknown."""

    observed_at: datetime
    api_reachable: bool
    manager_time: datetime | None = None
    fingerprints: Mapping[str, str | None] = field(default_factory=dict)  # clients / console / api
    port_outcomes: Mapping[str, str] = field(default_factory=dict)
    verification_on: int | None = None  # managed groups reading true
    verification_off: int | None = None  # managed groups reading false
    replicated: bool | None = None
    partner_status: Mapping[str, str | None] = field(default_factory=dict)
    eligible: int | None = None
    acknowledged: int | None = None
    ack_ratio: float | None = None
    at_risk_count: int | None = None
    at_risk_names: tuple[str, ...] = ()
    pending_offline: int | None = None
    excluded_offline: int | None = None
    stopped_checking_in: int | None = None
    legacy_agents: int | None = None  # clients on 14.2 / 14.2.1
    suspected_orphans: int | None = None  # after a swap: clients silent since it (probably orphaned)
    suspected_names: tuple[str, ...] = ()  # the first 100
    certificates: Mapping[str, ServedCertificate] = field(default_factory=dict)  # per port, when presented
    errors: tuple[str, ...] = ()
    at_risk_clients: tuple[AtRiskClient, ...] = ()  # by name with their last check-in (see AT_RISK_LISTED)
    acknowledgements: tuple[AckSample, ...] = ()  # over time, for the changes of the rollout (oldest first)

    @property
    def at_risk_listed(self) -> bool:
        """Every client at risk is listed in ``at_risk_clients``."""
        return self.at_risk_count is not None and len(self.at_risk_clients) == self.at_risk_count

    group_lists: Mapping[str, str | None] = field(
        default_factory=dict
    )  # managed group → its list (None: not shown)
    # per counted domain: {"eligible", "acknowledged", "at_risk"} (values None: not counted this time)
    domains: Mapping[str, Mapping[str, int | None]] = field(default_factory=dict)
    domains_missing: tuple[str, ...] = ()  # named by rollout.clients.domains, not visible to the credentials

    def to_storage(self) -> dict[str, Any]:
        return {
            "observed_at": iso(self.observed_at),
            "api_reachable": self.api_reachable,
            "manager_time": iso_or_none(self.manager_time),
            "fingerprints": dict(self.fingerprints),
            "port_outcomes": dict(self.port_outcomes),
            "verification_on": self.verification_on,
            "verification_off": self.verification_off,
            "replicated": self.replicated,
            "partner_status": dict(self.partner_status),
            "eligible": self.eligible,
            "acknowledged": self.acknowledged,
            "ack_ratio": self.ack_ratio,
            "at_risk_count": self.at_risk_count,
            "at_risk_names": list(self.at_risk_names),
            "pending_offline": self.pending_offline,
            "excluded_offline": self.excluded_offline,
            "stopped_checking_in": self.stopped_checking_in,
            "legacy_agents": self.legacy_agents,
            "suspected_orphans": self.suspected_orphans,
            "suspected_names": list(self.suspected_names),
            "certificates": {port: _certificate_out(c) for port, c in self.certificates.items()},
            "errors": list(self.errors),
            "at_risk_clients": [[c.name, iso_or_none(c.last_seen), c.online] for c in self.at_risk_clients],
            "acknowledgements": [
                [iso(a.change), iso(a.at), a.acknowledged, a.eligible] for a in self.acknowledgements
            ],
            "group_lists": dict(self.group_lists),
            "domains": {name: dict(counts) for name, counts in self.domains.items()},
            "domains_missing": list(self.domains_missing),
        }

    @classmethod
    def from_storage(cls, r: Reader) -> ObservedSummary:
        outcomes = r.optional_texts("port_outcomes")
        return cls(
            observed_at=r.moment("observed_at"),
            api_reachable=r.flag("api_reachable"),
            manager_time=r.opt_moment("manager_time"),
            fingerprints=r.optional_texts("fingerprints"),
            port_outcomes={k: v for k, v in outcomes.items() if v is not None},
            verification_on=r.opt_integer("verification_on"),
            verification_off=r.opt_integer("verification_off"),
            replicated=r.opt_flag("replicated"),
            partner_status=r.optional_texts("partner_status"),
            eligible=r.opt_integer("eligible"),
            acknowledged=r.opt_integer("acknowledged"),
            ack_ratio=r.opt_number("ack_ratio"),
            at_risk_count=r.opt_integer("at_risk_count"),
            at_risk_names=r.texts("at_risk_names"),
            pending_offline=r.opt_integer("pending_offline"),
            excluded_offline=r.opt_integer("excluded_offline"),
            stopped_checking_in=r.opt_integer("stopped_checking_in"),
            legacy_agents=r.opt_integer("legacy_agents"),
            suspected_orphans=r.opt_integer("suspected_orphans"),
            suspected_names=r.texts("suspected_names") if r.has("suspected_names") else (),
            certificates=_certificates_in(r),
            errors=r.texts("errors"),
            at_risk_clients=_at_risk_in(r),
            acknowledgements=_samples_in(r),
            group_lists=r.optional_texts("group_lists"),
            domains=_domains_in(r),  # absent in records written before domains were counted: empty
            domains_missing=r.texts("domains_missing") if r.has("domains_missing") else (),
        )


DOMAIN_COUNTS = ("eligible", "acknowledged", "at_risk")


def _domains_in(r: Reader) -> dict[str, dict[str, int | None]]:
    if not r.has("domains"):
        return {}
    outer = r.child("domains")
    out: dict[str, dict[str, int | None]] = {}
    for name in r.mapping("domains"):
        c = outer.child(name)
        out[name] = {key: c.opt_integer(key) for key in DOMAIN_COUNTS}
    return out


def _certificate_out(cert: ServedCertificate) -> dict[str, Any]:
    return {
        "fingerprint": cert.fingerprint,
        "subject": cert.subject,
        "issuer": cert.issuer,
        "sans": list(cert.sans),
        "serial": cert.serial,
        "not_before": iso(cert.not_before),
        "not_after": iso(cert.not_after),
    }


def _certificates_in(r: Reader) -> dict[str, ServedCertificate]:
    """Served-certificate facts per port (absent in records written before they were kept: empty)."""
    if not r.has("certificates"):
        return {}
    out: dict[str, ServedCertificate] = {}
    outer = r.child("certificates")
    for port in r.mapping("certificates"):
        c = outer.child(port)
        out[port] = ServedCertificate(
            fingerprint=c.text("fingerprint"),
            subject=c.text("subject"),
            issuer=c.text("issuer"),
            sans=c.texts("sans"),
            serial=c.text("serial"),
            not_before=c.moment("not_before"),
            not_after=c.moment("not_after"),
        )
    return out


def _rows(r: Reader, key: str, width: int) -> list[list[Any]]:
    """A list of fixed-width rows (absent in records written before it was kept: empty)."""
    if not r.has(key):
        return []
    rows = r.items(key)
    if not all(isinstance(row, list) and len(row) == width for row in rows):
        raise r.fail(key, f"a list of {width}-item rows")
    return rows


def _moment(r: Reader, key: str, value: Any) -> datetime:
    moment = Reader({"v": value}, f"{r.where}.{key}").opt_moment("v")
    if moment is None:
        raise r.fail(key, "rows with times")
    return moment


def _at_risk_in(r: Reader) -> tuple[AtRiskClient, ...]:
    out = []
    for name, seen, online in _rows(r, "at_risk_clients", 3):
        if not isinstance(name, str) or not isinstance(online, bool | None):
            raise r.fail("at_risk_clients", "[name, last seen, online] rows")
        out.append(AtRiskClient(name, None if seen is None else _moment(r, "at_risk_clients", seen), online))
    return tuple(out)


def _samples_in(r: Reader) -> tuple[AckSample, ...]:
    out = []
    for change, at, acknowledged, eligible in _rows(r, "acknowledgements", 4):
        if not isinstance(acknowledged, int) or not isinstance(eligible, int):
            raise r.fail("acknowledgements", "[change, at, acknowledged, eligible] rows")
        key = "acknowledgements"
        out.append(AckSample(_moment(r, key, change), _moment(r, key, at), acknowledged, eligible))
    return tuple(out)


def thin(samples: tuple[AckSample, ...], limit: int = SAMPLES_KEPT) -> tuple[AckSample, ...]:
    """At most ``limit`` samples: the older half is thinned to every other one until they fit (the newest are
    kept as they are, the first of each change too)."""
    kept = list(samples)
    while len(kept) > limit:
        half = len(kept) // 2
        older = [s for i, s in enumerate(kept[:half]) if i % 2 == 0 or _first_of_change(kept, i)]
        if len(older) == half:  # nothing more to drop (every one starts a change): drop the oldest
            older = older[1:]
        kept = older + kept[half:]
    return tuple(kept)


def _first_of_change(samples: list[AckSample], index: int) -> bool:
    return index == 0 or samples[index - 1].change != samples[index].change
