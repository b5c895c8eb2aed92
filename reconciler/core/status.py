"""The ``status --output json`` document, built from the records alone (no network): one builder, used by the
``status`` command and by the daemon's ``/api/status``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from reconciler.core._storage import iso, iso_or_none
from reconciler.core.codes import Code
from reconciler.core.observation import PORT_NAMES
from reconciler.core.observed import DOMAIN_COUNTS
from reconciler.core.procedure.canary import canary_halted
from reconciler.core.procedure.table import STANDARD
from reconciler.core.record import RolloutRecord
from reconciler.core.site import site_status

__all__ = ["domain_counts", "domains_note", "pending_approval", "server_status", "status_document"]


def server_status(record: RolloutRecord) -> dict[str, Any]:
    """The ``status --output json`` entry of one server (the documented keys first, then extras)."""
    observed = record.observed
    fingerprints = observed.fingerprints if observed else {}
    action = record.pending_action
    entry: dict[str, Any] = {
        "name": record.server,
        "phase": record.phase.value,
        "step": record.step,
        "in_sync": record.in_sync,
        "stalled": record.stalled,
        "reason": record.reason,
        "desired_fingerprint": record.desired_fingerprint,
        "observed_fingerprints": {port: fingerprints.get(port) for port in PORT_NAMES},
        "next_check_at": iso(record.next_check_at),
        "code": Code.IN_SYNC.value if record.in_sync else record.code,
        "substep": record.substep,
        # extras
        "suspended": record.suspended,
        "suspension": None if record.suspension is None else record.suspension.to_storage(),
        "remedy": record.stall.remedy if record.stall else None,
        "stalled_from": None if record.stalled_from is None else record.stalled_from.value,
        "stall_code": None if record.stall is None else record.stall.code,
        "rollout_id": record.rollout_id,
        "target_fingerprint": record.target_fingerprint,
        "spec_revision": record.spec_revision,
        "procedure_version": record.procedure_version,
        "entered_at": iso(record.entered_at),
        "updated_at": iso(record.updated_at),
        "observed_at": iso_or_none(observed.observed_at) if observed else None,
        "action": None if action is None else action.to_storage(),
        "clients": _clients(record),
        "approvals": [a.to_storage() for a in record.current_approvals()],
        "management_server_list": _lists(record),
        "abort_requested": record.abort_request is not None,
        "approval_pending": pending_approval(record),
        "domains": domain_counts(record),
        "canary": None if record.facts.canary is None else _canary(record),
    }
    site = entry.get("site")
    if isinstance(site, dict):  # the site's rollout carries its domains' counts too
        site["domains"] = entry["domains"]
    return entry


def domain_counts(record: RolloutRecord) -> dict[str, dict[str, int | None]]:
    """Per counted domain of the last observation: ``{NAME: {"eligible", "acknowledged", "at_risk"}}`` (empty before
    domains were observed). A domain the spec names that the credentials do not see is listed with ``null``
    counts."""
    observed = record.observed
    if observed is None:
        return {}
    counts = {name: dict(values) for name, values in observed.domains.items()}
    for name in observed.domains_missing:
        counts.setdefault(name, dict.fromkeys(DOMAIN_COUNTS))
    return counts


def domains_note(counts: dict[str, dict[str, int | None]]) -> str | None:
    """``"clients by domain: Default: 1,498/1,500 acknowledged, 2 at risk; Branch: …"`` — for several domains, or one
    the credentials do not see; None otherwise (one domain says nothing the totals do not)."""
    if len(counts) < 2 and all(c.get("eligible") is not None for c in counts.values()):
        return None
    parts = []
    for name, c in counts.items():
        eligible, acked, at_risk = c.get("eligible"), c.get("acknowledged"), c.get("at_risk")
        if eligible is None or acked is None:
            parts.append(f"{name}: not visible to the credentials (DomainNotVisible)")
        else:
            parts.append(f"{name}: {acked:,}/{eligible:,} acknowledged, {at_risk or 0:,} at risk")
    return "clients by domain: " + "; ".join(parts)


def _canary(record: RolloutRecord) -> dict[str, Any]:
    canary = record.facts.canary
    assert canary is not None  # noqa: S101 - the caller checked
    return {
        "passed": canary.passed,
        "halted": canary_halted(record),
        "cohort": canary.cohort,
        "returned": canary.returned,
        "silent": canary.silent,
        "silent_names": list(canary.silent_names),
        "min_return_ratio": canary.min_ratio,
        "judged_at": iso(canary.judged_at),
    }


def pending_approval(record: RolloutRecord) -> int | None:
    """The step whose approval ``record`` waits for now (its code is ``ApprovalMissing``), or None."""
    if record.code != Code.APPROVAL_MISSING.value:
        return None
    approved = {a.step for a in record.current_approvals()}
    waiting = [s for s in record.facts.approvals_announced if s > record.step and s not in approved]
    return min(waiting) if waiting else None


def _clients(record: RolloutRecord) -> dict[str, Any] | None:
    """The clients of the last observation. Acknowledgement counts only while a change of ours is being
    acknowledged (steps 3-4, 6-7; else ``acknowledged`` and ``ack_ratio`` are null), and clients are at risk only
    while a certificate change is ahead or its fetch awaited (steps 1-4b): an in-sync server has none."""
    observed = record.observed
    if observed is None or observed.eligible is None:
        return None
    counting = STANDARD.acknowledgement_since(record) is not None
    at_risk = STANDARD.clients_at_risk(record)
    return {
        "eligible": observed.eligible,
        "acknowledged": observed.acknowledged if counting else None,
        "ack_ratio": observed.ack_ratio if counting else None,
        "at_risk_count": observed.at_risk_count if at_risk else 0,
        "at_risk_names": list(observed.at_risk_names) if at_risk else [],
    }


def _lists(record: RolloutRecord) -> dict[str, Any] | None:
    """How steps 2a and 5b were seen done in this rollout (their evidence), when either began."""
    facts = record.facts
    if facts.list_switch is None and facts.list_restore is None:
        return None
    return {
        "switch": None if facts.list_switch is None else facts.list_switch.value,
        "restore": None if facts.list_restore is None else facts.list_restore.value,
    }


def status_document(
    records: Iterable[RolloutRecord], sites: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """``{"servers": [...]}`` in the order given (the store's: by server name). ``sites`` maps server names to
    their ``spec.server.site`` (from the specs in force): each entry then gets ``"site"`` — the site's rollout id,
    phase and step, its lead and each server's own 4a state (:func:`~reconciler.core.site.site_status`) — else
    ``"site": null``."""
    listed = list(records)
    known = sites or {}
    by_site: dict[str, list[RolloutRecord]] = {}
    for record in listed:
        if record.server in known:
            by_site.setdefault(known[record.server], []).append(record)
    blocks = {site: site_status(site, members) for site, members in by_site.items()}
    servers = []
    for record in listed:
        entry = server_status(record)
        site = known.get(record.server)
        entry["site"] = blocks[site] if site is not None else None
        servers.append(entry)
    return {"servers": servers}
