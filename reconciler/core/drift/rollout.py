"""Checks of the rollout and of what it touches: its progress or stall, the verification flag, replication, the
clients a certificate change would orphan, and the agents that cannot take the multi-server shortcut."""

from __future__ import annotations

from datetime import datetime

from reconciler.core import wording
from reconciler.core.drift.inputs import DriftInput
from reconciler.core.drift.model import Finding, Reason, Severity
from reconciler.core.observation import Basis
from reconciler.core.phase import Phase
from reconciler.core.procedure.table import STANDARD

__all__ = [
    "at_risk_clients",
    "change_pending",
    "legacy_agents",
    "replication_broken",
    "rollout_in_progress",
    "rollout_stalled",
    "suspected_orphans",
    "verification_disabled",
]

_FAILING = frozenset({"FAILED_CONNECT", "CANCELED"})
_LISTED = 10


def listing(names: tuple[str, ...], total: int, limit: int = _LISTED) -> str:
    """``"A, B, C and 1,831 more"``: the first names of a list that may itself be truncated (``total`` is the
    full count)."""
    shown = list(names[:limit])
    rest = total - len(shown)
    text = ", ".join(shown)
    if rest > 0:
        return f"{text} and {wording.count(rest)} more" if shown else f"{wording.count(rest)} clients"
    return text


def rollout_stalled(given: DriftInput) -> list[Finding]:
    """``RolloutStalled`` (error): the rollout needs a human; the reason and the remedy."""
    record = given.record
    if record is None or record.phase is not Phase.STALLED:
        return []
    stall = record.stall
    where = (
        f"step {record.step} of {STANDARD.step_count}"
        if record.step
        else record.working_phase.value.replace("_", " ")
    )
    reason = stall.reason if stall else record.reason
    text = f"stalled in {where}" + (f" since {wording.when(stall.at)}" if stall else "") + f": {reason}"
    if stall and stall.remedy:
        text += f" — remedy: {stall.remedy}"
    return [Finding(Reason.ROLLOUT_STALLED, Severity.ERROR, text, stall.at if stall else record.entered_at)]


def _soak_end(given: DriftInput) -> datetime | None:
    """When the current wait's minimum soak ends (reconciler clock), in steps 3, 4b and 6."""
    record = given.record
    if record is None or given.spec is None:
        return None
    change = record.acknowledgement_since
    phase = record.working_phase
    soak = STANDARD.stage(phase).soak if STANDARD.has(phase) else None
    if change is None or soak is None:
        return None
    return given.on_our_clock(change + soak.rules(given.spec.spec.rollout.clients).min_soak)


def rollout_in_progress(given: DriftInput) -> list[Finding]:
    """``RolloutInProgress`` (warning): step k of 7 (or rolling back), why it waits and until when."""
    record = given.record
    if record is None or record.phase is Phase.STALLED or not given.rollout_active:
        return []
    if given.rolling_back:
        where = "rolling back steps 1-3"
    else:
        where = f"step {record.step} of {STANDARD.step_count} ({record.phase.value})"
    soak_end = _soak_end(given)
    until = soak_end if soak_end is not None and soak_end > given.now else record.next_check_at
    text = f"{where} since {wording.when(record.entered_at)}: {record.reason}"
    if record.rollout_id:
        text += f" (rollout {record.rollout_id})"
    text += f"; next check {wording.when(record.next_check_at)}"
    return [Finding(Reason.ROLLOUT_IN_PROGRESS, Severity.WARNING, text, record.started_at, until)]


def verification_disabled(given: DriftInput) -> list[Finding]:
    """``VerificationDisabled``: managed groups whose clients do not verify the server certificate, and for how
    long. Info while the rollout keeps it off (steps 2b-5a, rolling back), warning otherwise."""
    seen = given.seen
    if seen is None or not seen.verification_off:
        return []
    record = given.record
    expected = (
        record is not None
        and given.rollout_active
        and STANDARD.has(record.working_phase)
        and STANDARD.stage(record.working_phase).verification_off
    )
    total = (seen.verification_on or 0) + seen.verification_off
    groups = f"{seen.verification_off} of {total} managed group{'s' if total != 1 else ''}"
    if seen.groups_off:
        groups += f" ({wording.names(list(seen.groups_off))})"
    off_at = record.facts.verification_off_at if record is not None and given.rollout_active else None
    since: datetime | None = None
    if off_at is not None:
        how_long = f"since {wording.when(off_at)} (manager time)"
        since = off_at
    elif seen.off_unchanged_since is not None:
        how_long = f"unchanged since {wording.when(seen.off_unchanged_since)} (manager time)"
        since = seen.off_unchanged_since
    else:
        how_long = "since when is not known"
    if since is not None and seen.manager_time is not None and seen.manager_time >= since:
        how_long += f", for {'' if off_at else 'at least '}{wording.span(seen.manager_time - since)}"
    text = f"certificate verification is off on {groups}, {how_long}: their clients do not check the server certificate"
    if expected:
        text += " — the rollout turned it off (step 2) and turns it back on in step 5"
        severity = Severity.INFO
    else:
        text += (
            " — no rollout needs it off: turn 'Enable secure communications … by using digital certificates' back on "
            "in Clients > Policies > General Settings > Security Settings"
        )
        severity = Severity.WARNING
    return [
        Finding(
            Reason.VERIFICATION_DISABLED,
            severity,
            text,
            given.on_our_clock(since) if since is not None else None,
        )
    ]


def replication_broken(given: DriftInput) -> list[Finding]:
    """``ReplicationBroken``: a declared partner no longer replicates, or a partnership fails. Info while the
    rollout keeps it broken (steps 1-7, rolling back), warning otherwise."""
    seen, spec = given.seen, given.spec
    if seen is None or spec is None or seen.partners is None:
        return []
    site = spec.spec.server.site
    findings = []
    missing = [p for p in spec.spec.replication.partners if p not in seen.partners]
    if missing:
        names = wording.names(missing)
        text = f"{site} does not replicate with {names}, declared in spec.replication.partners"
        if given.rollout_active:
            text += ": broken by the rollout (step 1) and restored in step 7"
            severity = Severity.INFO
        else:
            text += (
                ": add the partnership again (Admin > Servers > Local Site > Replication Partners > Add Existing "
                "Replication Partner), or remove the partner from the spec"
            )
            severity = Severity.WARNING
        findings.append(Finding(Reason.REPLICATION_BROKEN, severity, text))
    failing = {p: code for p, code in sorted(seen.partners.items()) if code in _FAILING}
    if failing:
        listed = ", ".join(f"{p} ({code})" for p, code in failing.items())
        text = (
            f"replication of {site} with {listed} fails: check that both sites trust each other's current "
            "certificate and reach each other on the console port (8443)"
        )
        waiting = given.record is not None and given.record.working_phase is Phase.RESTORING_REPLICATION
        if waiting:
            text += "; step 7 waits for it to succeed"
        findings.append(
            Finding(Reason.REPLICATION_BROKEN, Severity.INFO if waiting else Severity.WARNING, text)
        )
    return findings


def change_pending(given: DriftInput) -> bool:
    """A certificate change is still ahead: drift on the clients port, or a rollout not yet past step 4."""
    if given.swapped or given.rolling_back:
        return False
    if given.rollout_active:
        return True
    seen = given.seen
    port = seen.port("clients") if seen is not None else None
    return (
        given.desired is not None
        and port is not None
        and port.presented
        and port.fingerprint != given.desired
    )


def at_risk_clients(given: DriftInput) -> list[Finding]:
    """``AtRiskClients`` (warning): before the swap, who would be orphaned if the certificate changed now; while
    clients fetch the new certificate (4b, 5a, 5b), who has not checked in since the swap; after it (steps 6-7), who
    has not checked in since verification came back and may be orphaned when they return."""
    seen = given.seen
    clients = seen.clients if seen is not None else None
    if clients is None:
        return []
    record = given.record
    if change_pending(given):
        if clients.at_risk_count == 0:
            return []
        names = listing(clients.at_risk_names, clients.at_risk_count)
        change = None
        if record is not None and (acknowledging := STANDARD.acknowledging(record)) is not None:
            change = None if acknowledging.verifying else record.acknowledgement_since
        if change is None:
            why = "certificate verification has not been turned off for them by a rollout yet"
        else:
            why = f"they have not applied the policy of {wording.when(change)} (manager time) that turns verification off"
        counts = []
        if clients.pending_online is not None:
            counts.append(f"{wording.count(clients.pending_online)} online")
        if clients.pending_offline is not None:
            offline = f"{wording.count(clients.pending_offline)} offline"
            if clients.longest_unseen is not None:
                offline += f" (longest unseen {wording.span(clients.longest_unseen)})"
            counts.append(offline)
        if clients.excluded_offline:
            counts.append(
                f"{wording.count(clients.excluded_offline)} unseen beyond excludeOfflineFor, not waited for"
            )
        detail = f" — {', '.join(counts)}" if counts else ""
        return [
            Finding(
                Reason.AT_RISK_CLIENTS,
                Severity.WARNING,
                f"{wording.count(clients.at_risk_count)} client{'s' if clients.at_risk_count != 1 else ''} would be "
                f"orphaned if the certificate changed now: {why}{detail}: {names}",
            )
        ]
    stopped = clients.stopped_checking_in or 0
    acknowledging = STANDARD.acknowledging(record) if record is not None else None
    if acknowledging is not None and acknowledging.basis is Basis.CHECKIN and clients.at_risk_count:
        count = clients.at_risk_count
        served = record.facts.certificate_served_at if record is not None else None
        since = (
            f"since {wording.when(served)} (manager time), when the new certificate was first served"
            if served
            else "since the swap"
        )
        return [
            Finding(
                Reason.AT_RISK_CLIENTS,
                Severity.WARNING,
                f"{wording.count(count)} {'clients have' if count != 1 else 'client has'} not checked in {since}: "
                "they have not received the new certificate, and are orphaned when verification comes back (step "
                f"5a) unless they check in first: {listing(clients.at_risk_names, count)}",
            )
        ]
    if acknowledging is not None and acknowledging.verifying and stopped and record is not None:
        change = record.facts.verification_on_at
        after = f"since {wording.when(change)} (manager time)" if change else "since the swap"
        return [
            Finding(
                Reason.AT_RISK_CLIENTS,
                Severity.WARNING,
                f"{wording.count(stopped)} {'clients have' if stopped != 1 else 'client has'} not checked in {after}: if they "
                f"still trust only the old certificate they are orphaned when they return (re-home them with a "
                f"Communication Update Package): {listing(clients.stopped_names, stopped)}",
            )
        ]
    return []


def suspected_orphans(given: DriftInput) -> list[Finding]:
    """``SuspectedOrphans`` (warning): after the swap, clients seen within a heartbeat before it that have not
    checked in since (see :mod:`reconciler.core.orphans`): probably orphaned; the rollout does not complete."""
    seen = given.seen
    clients = seen.clients if seen is not None else None
    silent = clients.suspected_orphans if clients is not None else None
    if clients is None or not silent:
        return []
    return [
        Finding(
            Reason.SUSPECTED_ORPHANS,
            Severity.WARNING,
            f"{wording.count(silent)} {'clients' if silent != 1 else 'client'} seen within a heartbeat before the "
            "certificate swap have not checked in since: probably orphaned (they still verified the old "
            "certificate); the rollout does not complete until they return or a person accepts them "
            f"(approve --accept-at-risk): {listing(clients.suspected_names, silent)}",
        )
    ]


def legacy_agents(given: DriftInput) -> list[Finding]:
    """``LegacyAgents`` (info): 14.2 / 14.2.1 clients on a multi-server site (replication partners or several managed
    servers). Per KB 187099 they cannot use the multi-server failover method; the procedure followed here (the
    single-server one: HTTP list, verification off, clients fetch the certificate, verification on) handles them like
    every other client, so there is nothing to do about them."""
    seen, spec = given.seen, given.spec
    if seen is None or spec is None or seen.clients is None or not seen.clients.legacy_agents:
        return []
    partners = sorted({*spec.spec.replication.partners, *(seen.partners or {})})
    peers = [*partners, *given.site_peers]
    if not peers:
        return []
    count = seen.clients.legacy_agents
    return [
        Finding(
            Reason.LEGACY_AGENTS,
            Severity.INFO,
            f"{wording.count(count)} {'clients run' if count != 1 else 'client runs'} 14.2 / 14.2.1 agents on site "
            f"{spec.spec.server.site}, which spans several servers ({wording.names(peers)}): per KB 187099 these "
            "agents cannot use the multi-server failover method; the single-server procedure the reconciler follows "
            "(HTTP list, verification off, clients fetch the new certificate, verification on) handles them like "
            "the others",
        )
    ]
