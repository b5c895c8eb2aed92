"""The named checks of the procedure's stages: what each one waits for (its *done* check), what sends it back (its
*reverts*), and what it notes before judging (a port that changed, a new target). Every check is a pure function of
one :class:`~reconciler.core.procedure.given.Given`; the table (:mod:`reconciler.core.procedure.table`) says which
stage uses which."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from reconciler.core.actions import ActionKind
from reconciler.core.checks import GroupFlags
from reconciler.core.codes import Code
from reconciler.core.events import EventKind
from reconciler.core.observation import Basis, ReplicationPartner
from reconciler.core.phase import PROCEDURE_VERSION, Phase
from reconciler.core.procedure import work
from reconciler.core.procedure.gates import (
    aborted_here,
    at_risk_accepted,
    enforcing,
    not_suspended,
    observation_detail,
    partners_through,
)
from reconciler.core.procedure.given import Given
from reconciler.core.procedure.lists import restore_list_in_rollback
from reconciler.core.procedure.verdicts import (
    Change,
    Check,
    Emit,
    Failed,
    Note,
    Passed,
    Stuck,
    Unknown,
    Verdict,
)
from reconciler.core.record import AttemptOutcome, Facts
from reconciler.core.said import Said
from reconciler.core.sentences import sentence
from reconciler.core.spec import ClientPolicy, ClientRules

__all__ = [
    "SOAK_FETCHED",
    "SOAK_UNVERIFIED",
    "SOAK_VERIFIED",
    "SoakPolicy",
    "certificate_changed",
    "certificate_served",
    "clients_acknowledged",
    "open_rollout",
    "replication_broken",
    "replication_rejoined",
    "replication_restored",
    "retarget",
    "rolled_back",
    "served_differs",
    "served_is_desired",
    "served_seen",
    "spec_reverted",
    "start_clock",
    "target_differs",
    "target_is_desired",
    "unexpected_certificate",
    "verification_back_before_swap",
    "verification_off_after_rejoin",
    "verification_reads",
    "verification_went_back",
]


def _named(name: str, check: Check) -> Check:
    check.__name__ = check.__qualname__ = name
    return check


def unknown(what: str, given: Given, **facts: Any) -> Unknown:
    """Hold: ``what`` is unknown. The observation's own errors say why, when it has any."""
    return Unknown(Said(Code.OBSERVATION_UNKNOWN, {"what": what, **facts, **observation_detail(given)}))


def _step(given: Given, phase: Phase) -> int:
    return given.procedure.number_of(phase)


# --- what the ports present ----------------------------------------------------------------------------------------


def _holding(given: Given) -> Said | None:
    """Why a rollout would not start now although nothing is wrong (suspension, report mode)."""
    for gate in (not_suspended, enforcing):
        verdict = gate.check(given)
        if not isinstance(verdict, Passed):
            return verdict.said
    return None


def drift_said(given: Given) -> Said:
    fingerprints = given.served().fingerprints
    differing = tuple(name for name, fp in fingerprints.items() if fp != given.desired)
    shown = {fingerprints[name] for name in differing}
    return Said(
        Code.DRIFT_DETECTED,
        {
            "ports": differing,
            "of": len(fingerprints),
            "presented": next(iter(shown)) if len(shown) == 1 else None,
            "desired": given.desired,
        },
    )


def served_seen(given: Given) -> Verdict:
    """Every configured port was seen presenting a certificate: what it is decides the move."""
    now_served = given.served()
    if not now_served.complete:
        if given.record.phase is Phase.IN_SYNC:
            return Unknown(Said(Code.IN_SYNC, {"incomplete": now_served.sentence()}))
        return unknown("ports", given, problems=now_served.sentence())
    if now_served.all_are(given.desired):
        return Passed(Said(Code.IN_SYNC, {"fingerprint": given.desired, "holding": _holding(given)}))
    return Passed(drift_said(given))


def served_is_desired(given: Given) -> Verdict:
    said = Said(Code.CONVERGED, {"fingerprint": given.desired})
    return (
        Passed(said, Change(fields={"aborted": None}))
        if given.served().all_are(given.desired)
        else Failed(said)
    )


def served_differs(given: Given) -> Verdict:
    now_served = given.served()
    if not now_served.complete:
        return unknown("ports", given, problems=now_served.sentence())
    return Failed(Said(Code.IN_SYNC)) if now_served.all_are(given.desired) else Passed(drift_said(given))


def _rollout_id(given: Given) -> str:
    digest = hashlib.sha256(f"{given.name}\n{given.desired}\n{given.revision}".encode()).hexdigest()[:8]
    return f"r-{given.now:%Y%m%dT%H%M%SZ}-{digest}"


def _open(given: Given) -> Change:
    """A rollout is due: give it an id, a target, the spec revision and procedure version it starts with."""
    record = given.record
    events: tuple[Emit, ...] = ()
    if record.target_fingerprint is not None and record.target_fingerprint != given.desired:
        said = Said(
            Code.RETARGETED, {"old": record.target_fingerprint, "new": given.desired, "started": False}
        )
        events = (Emit(EventKind.RETARGET, said, {"old": record.target_fingerprint, "new": given.desired}),)
    return Change(
        fields={
            "rollout_id": _rollout_id(given),
            "target_fingerprint": given.desired,
            "started_revision": given.revision,
            "procedure_version": PROCEDURE_VERSION,
            "started_at": given.now,
            "facts": Facts(original_fingerprints=given.served().fingerprints),
            "attempts": (),
            "approvals": (),
        },
        events=events,
    )


def open_rollout(given: Given) -> Change:
    """Drift is seen: a rollout opens (held or not) — once in ``drifted``, where it stays open; an abort made for
    another certificate or spec revision no longer holds it."""
    if given.observation is None:
        return Change()
    if not isinstance(served_differs(given), Passed) and not isinstance(end_state_missing(given), Passed):
        return Change()
    record = given.record
    change = Change()
    if record.phase is Phase.DRIFTED and record.aborted is not None and not aborted_here(given):
        change = Change(fields={"aborted": None})
    if (
        record.phase is not Phase.DRIFTED
        or record.rollout_id is None
        or record.target_fingerprint != given.desired
    ):
        change = change.then(_open(given))
    return change


def start_rollout(given: Given) -> Verdict:
    """The start of step 1: the declared partners are recorded (they are broken in step 1, restored in step 7)."""
    drift = served_differs(given)
    said = Said(Code.ROLLOUT_STARTED, {"drift": drift.said, "rollout_id": given.record.rollout_id})
    return Passed(said, Change(facts={"partners": tuple(given.spec.spec.replication.partners)}))


# --- the end state: observed, not remembered -----------------------------------------------------------------------


def _end_said(given: Given, **facts: Any) -> Said:
    return Said(Code.END_STATE_DRIFT, {"fingerprint": given.desired, **facts})


def groups_verify(given: Given) -> Verdict:
    """End state: every managed group verifies the server certificate."""
    flags = given.flags()
    if flags.unknown:
        return unknown("end_state", given, parts="the client groups")
    if undetermined := flags.undetermined():
        return unknown("flags", given, groups=GroupFlags.names(undetermined))
    off = flags.not_reading(True)
    said = _end_said(given, groups=GroupFlags.names(off) if off else "")
    return Failed(said) if off else Passed(said)


def partners_replicate(given: Given) -> Verdict:
    """End state: every declared replication partner is a partner of the manager."""
    replication = given.obs.replication
    if replication is None:
        return unknown("end_state", given, parts="the replication status")
    missing = tuple(p for p in given.spec.spec.replication.partners if p not in replication.partner_names)
    said = _end_said(given, partners=missing)
    return Failed(said) if missing else Passed(said)


def _negated(name: str, check: Check) -> Check:
    """Passes where ``check`` fails (unknown stays unknown): the exits that resolve what it found missing."""

    def negation(given: Given) -> Verdict:
        verdict = check(given)
        if isinstance(verdict, Failed):
            return Passed(verdict.said)
        if isinstance(verdict, Passed):
            return Failed(verdict.said)
        return verdict

    return _named(name, negation)


groups_not_verifying = _negated("groups_not_verifying", groups_verify)
partners_not_replicating = _negated("partners_not_replicating", partners_replicate)


def end_state_checks() -> tuple[Check, ...]:
    """What "in sync" means besides the served certificate. [vendor-procedure] adds "every managed group is on
    the original management server list" here (and its resolving exit in the table)."""
    return (groups_verify, partners_replicate)


def end_state_missing(given: Given) -> Verdict:
    """The served certificate is the desired one, but the end state is not observed: drift to resolve."""
    if not isinstance(served_is_desired(given), Passed):
        return Failed(_end_said(given))
    facts: dict[str, Any] = {}
    missing = False
    for check in end_state_checks():
        verdict = check(given)
        if isinstance(verdict, Unknown | Stuck):
            return Unknown(verdict.said)
        facts |= {k: v for k, v in verdict.said.facts.items() if v}
        missing = missing or isinstance(verdict, Failed)
    said = _end_said(given, **facts)
    return Passed(said) if missing else Failed(said)


def open_recovery(given: Given) -> Verdict:
    """The rollout resolving end-state drift records the declared partners (restored in step 7) and that it was
    opened from observation alone; the manager's time restarts the step's clock."""
    return Passed(
        end_state_missing(given).said,
        Change(
            facts={
                "partners": tuple(given.spec.spec.replication.partners),
                "recovery": True,
                "step_started_manager_time": None,
            }
        ),
    )


def certificate_already_served(given: Given) -> Verdict:
    """Steps 1-3 of an older state (a restored backup): every port already presents the target, which is not what
    they presented at the start — the swap happened. On to step 4's checks (forward, never back)."""
    record = given.record
    target = record.target_fingerprint
    said = Said(Code.SWAP_OBSERVED, {"target": target, "step": record.step})
    original = set(record.facts.original_fingerprints.values())
    if target is None or target in original or not given.served().all_are(target):
        return Failed(said)
    return Passed(
        said, Change(facts={"step_started_manager_time": given.manager_time, "partners_broken": False})
    )


def _partners_back(given: Given) -> tuple[str, ...] | None:
    """The recorded partners that replicate again although this rollout broke replication and has not begun
    restoring it (None: replication unknown)."""
    if not given.facts.partners_broken:
        return ()
    replication = given.obs.replication
    if replication is None:
        return None
    return tuple(p for p in given.facts.partners if p in replication.partner_names)


def _update_running(given: Given) -> bool:
    record = given.record
    return any(
        a.kind is ActionKind.UPDATE_CERTIFICATE
        and a.rollout_id == record.rollout_id
        and a.outcome is AttemptOutcome.PENDING
        for a in record.attempts
    )


def replication_back_before_swap(given: Given) -> Verdict:
    """Steps 2-4, before any port changed: a recorded partner replicates again — back to step 1, which breaks it
    again. While an update attempt may be running it holds (whether it swaps is not known yet)."""
    said = Said(Code.REPLICATION_REESTABLISHED, {"step": given.record.step})
    if given.facts.certificate_changed_at is not None:
        return Failed(said)
    back = _partners_back(given)
    if back is None:
        return unknown("replication", given)
    if not back:
        return Failed(said)
    if _update_running(given):
        return unknown("replication", given)
    return Passed(said.but(partners=back), Change(facts={"step_started_manager_time": None}))


def replication_back_after_swap(given: Given) -> Verdict:
    """Steps 4-6, once a port changed: a recorded partner replicates again — a stall (never back past the point of
    no return): a person breaks it again, then resumes."""
    said = Said(
        Code.REPLICATION_REESTABLISHED, {"step": given.record.step, "after_swap": True, "server": given.name}
    )
    if given.facts.certificate_changed_at is None and given.procedure.before_swap(given.record):
        return Failed(said)
    back = _partners_back(given)
    if back is None:
        return unknown("replication", given)
    return Passed(said.but(partners=back)) if back else Failed(said)


def suspected_orphans(given: Given) -> Verdict:
    """After the swap: every client seen within a heartbeat before it has checked in since (or is still within its
    heartbeats). Silent ones are probably orphaned (:mod:`reconciler.core.orphans`): Failed names them — unless a
    person accepted at least as many clients at risk for the next step."""
    ack = given.obs.clients
    analysis = ack.swap if ack is not None else None
    if ack is None or analysis is None or not analysis.suspected:
        return Passed(Said(Code.SUSPECTED_ORPHANS, {"silent": 0}))
    following = given.procedure.after(given.record.phase)
    if at_risk_accepted(given.record, following, max(ack.at_risk_count, analysis.silent)) is not None:
        return Passed(Said(Code.SUSPECTED_ORPHANS, {"silent": analysis.silent, "accepted": True}))
    return Failed(
        Said(
            Code.SUSPECTED_ORPHANS,
            {
                "silent": analysis.silent,
                "cohort": analysis.cohort,
                "names": analysis.silent_names,
                "swap_seen": analysis.swap_seen,
                "server": given.name,
                "step": following,
            },
        ),
        until=given.later(given.tuning.waiting_interval),
    )


# --- a new desired certificate before the point of no return ------------------------------------------------------


def spec_reverted(given: Given) -> Verdict:
    """Before step 4 the spec asks again for the certificate every port presented before the rollout: undo."""
    record = given.record
    original = record.facts.original_fingerprints
    said = Said(Code.SPEC_REVERTED, {"desired": given.desired, "step": record.step})
    if record.target_fingerprint == given.desired or not original:
        return Failed(said)
    if not all(fp == given.desired for fp in original.values()):
        return Failed(said)
    return Passed(
        said,
        Change(facts={"rollback_reason": sentence(said), "step_started_manager_time": given.manager_time}),
    )


def retarget(given: Given) -> Change:
    """Before step 4 a new desired certificate changes the target (steps 1-3 do not depend on it); approvals given
    for the old target no longer count."""
    record = given.record
    old = record.target_fingerprint
    if old == given.desired or isinstance(spec_reverted(given), Passed):
        return Change()
    said = Said(Code.RETARGETED, {"old": old, "new": given.desired, "started": True})
    return Change(
        fields={"target_fingerprint": given.desired},
        facts={"approvals_announced": ()},
        events=(Emit(EventKind.RETARGET, said, {"old": old, "new": given.desired}),),
    )


# --- step 1 --------------------------------------------------------------------------------------------------------


def restoring_replication(given: Given) -> Change:
    """Step 7 (or a rollback) restores the partnerships: from here a partner replicating is what is wanted."""
    return Change(facts={"partners_broken": False}) if given.facts.partners_broken else Change()


def start_clock(given: Given) -> Change:
    """The manager's time when the step was entered without one (policy serials and replication must move after)."""
    if given.facts.step_started_manager_time is None and given.manager_time is not None:
        return Change(facts={"step_started_manager_time": given.manager_time})
    return Change()


def _leave(given: Given) -> Change | Unknown:
    """What every step records on leaving: the manager's time the next step starts at."""
    manager_time = given.manager_time
    if manager_time is None:
        return unknown("clock", given)
    return Change(facts={"step_started_manager_time": manager_time})


def replication_broken(given: Given) -> Verdict:
    """Step 1 is done when no partner recorded at the start still appears as replication partner."""
    replication = given.obs.replication
    if replication is None:
        return unknown("replication", given)
    partners = given.facts.partners
    still = tuple(p for p in partners if p in replication.partner_names)
    if still:
        step = _step(given, given.record.phase)
        return Failed(
            Said(Code.REPLICATION_BROKEN, {"partners": still}),
            work=work.break_replication(given, step, still),
        )
    leave = _leave(given)
    if isinstance(leave, Unknown):
        return leave
    return Passed(
        Said(Code.REPLICATION_BROKEN, {"partners": partners}),
        leave.then(Change(facts={"partners_broken": bool(partners)})),
    )


# --- steps 2 and 5 -------------------------------------------------------------------------------------------------


def verification_reads(enabled: bool) -> Check:
    """Steps 2 and 5: every managed group reads the flag back ``enabled`` with a policy serial newer than the step's
    start; the earliest serial time is the change clients must acknowledge."""
    code = Code.VERIFICATION_ENABLED if enabled else Code.VERIFICATION_DISABLED
    change_fact = "verification_on_at" if enabled else "verification_off_at"

    def check(given: Given) -> Verdict:
        flags = given.flags()
        if flags.unknown:
            return unknown("groups", given)
        if not flags.groups:
            return Stuck(Said(Code.NO_MANAGED_GROUPS, {"chosen": tuple(given.rollout.clients.groups)}))
        started = given.facts.step_started_manager_time or given.manager_time
        if started is None:
            return unknown("clock", given)
        if undetermined := flags.undetermined():
            return unknown("flags", given, groups=GroupFlags.names(undetermined))
        # A group whose flag already read as wanted when the step was entered is a no-op: nothing is sent to it (a
        # manager need not move the serial of an unchanged policy); its clients acknowledge by applying its current
        # policy (recorded below). So are a group off before the rollout (step 2), one still off when step 2 is
        # entered again after a revert, and one already verifying when step 5 begins (a state lost after step 4, a
        # flag turned back on by hand). A group changed during the step must show a newer serial.
        noop = (
            set(given.facts.settled_groups) if given.facts.settled_entry == given.record.entered_at else set()
        )
        if not enabled and given.facts.verification_off_at is not None:
            # 2b again after a list went back (3 or 4a → 2a → 2b): the flags read off since 2b last passed, and every
            # serial saved since (2a's again) carries them off: nothing is sent to a group still reading off
            noop |= {g.id for g in flags.groups if g.secure_communications is False}
        if not enabled:
            noop |= {gid for gid, was in given.facts.verification_before.items() if was is enabled}
        pending = tuple(
            g
            for g in flags.groups
            if g.secure_communications is not enabled
            or g.policy_time is None
            or (g.policy_time < started and g.id not in noop)
        )
        if pending:
            stuck = tuple(g for g in pending if g.secure_communications is enabled)
            step = _step(given, given.record.phase)
            return Failed(
                Said(code, {"enabled": enabled}),
                work=work.set_verification(
                    given, step, enabled=enabled, groups=pending, started=started, stuck=stuck
                ),
            )
        moved = [
            g.policy_time for g in flags.groups if g.policy_time is not None and g.policy_time >= started
        ]
        change_time = min(moved) if moved else started
        # the next sub-step (5b) measures its own policy serials from now
        leave: dict[str, object] = {"step_started_manager_time": given.manager_time or started}
        if not enabled:  # the groups nothing was sent to: their clients count against their current policy
            leave["verification_unchanged"] = tuple(
                sorted(
                    g.id
                    for g in flags.groups
                    if g.id in noop and g.policy_time is not None and g.policy_time < started
                )
            )
        return Passed(
            Said(code, {"groups": len(flags.groups), "change_time": change_time, "enabled": enabled}),
            Change(
                facts={change_fact: change_time, f"{change_fact[:-3]}_noop": tuple(sorted(noop)), **leave}
            ),
        )

    return _named(f"verification_reads_{'on' if enabled else 'off'}", check)


def flags_on_entry(enabled: bool) -> Note:
    """Steps 2 and 5 note, once per entry, the managed groups whose flag already reads ``enabled``: nothing is sent
    to them (see :func:`verification_reads`)."""

    def note(given: Given) -> Change:
        if given.facts.settled_entry == given.record.entered_at:
            return Change()
        flags = given.flags()
        if flags.unknown or not flags.groups:
            return Change()
        settled = tuple(sorted(g.id for g in flags.groups if g.secure_communications is enabled))
        return Change(facts={"settled_groups": settled, "settled_entry": given.record.entered_at})

    note.__name__ = note.__qualname__ = f"flags_{'on' if enabled else 'off'}_on_entry"
    return note


def verification_before(given: Given) -> Change:
    """Step 2 notes each managed group's flag before it changes anything: a rollback restores it."""
    if given.facts.verification_before:
        return Change()
    flags = given.flags()
    if flags.unknown or not flags.groups:
        return Change()
    return Change(facts={"verification_before": {g.id: g.secure_communications for g in flags.groups}})


# --- steps 3 and 6 -------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SoakPolicy:
    """A wait for clients: ``change`` names the fact holding the change time they must acknowledge (manager clock);
    ``also`` the facts of changes made before it that they must have too (the wait counts from the latest that is
    recorded); ``verifying`` whether the change turned verification on; ``basis`` what counts as acknowledged (a
    policy applied since, or a check-in since); ``after_swap``: the rules of ``rollout.clients.afterSwap``."""

    change: str
    verifying: bool
    also: tuple[str, ...] = ()
    basis: Basis = Basis.POLICY
    after_swap: bool = False

    def change_time(self, facts: Facts) -> datetime | None:
        value = getattr(facts, self.change)
        if not isinstance(value, datetime):
            return None
        earlier = [v for name in self.also if isinstance(v := getattr(facts, name), datetime)]
        return max([value, *earlier])

    def rules(self, policy: ClientPolicy) -> ClientRules:
        return policy.rules_after_swap if self.after_swap else policy.rules


SOAK_UNVERIFIED = SoakPolicy("verification_off_at", verifying=False, also=("list_switched_at",))
SOAK_FETCHED = SoakPolicy("certificate_served_at", verifying=False, basis=Basis.CHECKIN, after_swap=True)
SOAK_VERIFIED = SoakPolicy("verification_on_at", verifying=True, also=("list_restored_at",))


def verification_went_back(policy: SoakPolicy) -> Check:
    """While waiting, a managed group's flag went back (or the change time is not recorded): the step before
    sets it again."""

    def check(given: Given) -> Verdict:
        flags = given.flags()
        if flags.unknown:
            return unknown("groups", given)
        wrong = flags.reading(not policy.verifying)
        said = Said(Code.VERIFICATION_REVERTED, {"verifying": policy.verifying})
        if not wrong and policy.change_time(given.facts) is not None:
            return Failed(said)
        leave = _leave(given)
        if isinstance(leave, Unknown):
            return leave
        return Passed(
            said.but(groups=GroupFlags.names(wrong) if wrong else "", unrecorded=not wrong),
            leave.then(Change(facts={policy.change: None})),
        )

    return _named(f"verification_went_{'off' if policy.verifying else 'on'}", check)


def acknowledgement_facts(
    given: Given, policy: SoakPolicy, change_time: datetime, manager_time: datetime
) -> dict[str, Any]:
    """What the sentence of a wait for clients says: who has the change, the soak, who is offline, at risk."""
    ack = given.obs.clients
    assert ack is not None  # noqa: S101 - the caller checked
    rules = policy.rules(given.rollout.clients)
    return {
        "verifying": policy.verifying,
        "fetched": policy.basis is Basis.CHECKIN,
        "acknowledged": ack.acknowledged,
        "eligible": ack.eligible,
        "ratio": ack.ratio,
        "need": rules.min_ack_ratio,
        "soak_end": change_time + rules.min_soak,
        "soaked": manager_time >= change_time + rules.min_soak,
        "give_up": change_time + rules.max_soak,
        "max_soak": rules.max_soak,
        "pending_offline": ack.pending_offline,
        "longest_unseen": ack.longest_unseen,
        "excluded_offline": ack.excluded_offline,
        "exclude_offline_for": rules.exclude_offline_for,
        "at_risk_count": ack.at_risk_count,
        "at_risk_names": ack.at_risk_names,
        "stopped": max(ack.stopped_checking_in_count, len(ack.stopped_checking_in)),
        "stopped_names": ack.stopped_checking_in,
        "legacy_agents": ack.legacy_agents,
    }


def clients_acknowledged(policy: SoakPolicy) -> Check:
    """Steps 3, 4b and 6: ``minSoak`` elapsed since the change (manager clock) and acknowledged / eligible ≥
    ``minAckRatio`` — or, once the soak is over, a person accepted the clients at risk for the next step. In 4b
    "acknowledged" means checked in since the swap, with the rules of ``afterSwap``."""

    def check(given: Given) -> Verdict:
        flags = given.flags()
        if flags.unknown:
            return unknown("groups", given)
        if undetermined := flags.undetermined():
            return unknown("flags", given, groups=GroupFlags.names(undetermined))
        change_time = policy.change_time(given.facts)
        manager_time = given.manager_time
        if manager_time is None or change_time is None:
            return unknown("clock", given)
        ack = given.obs.clients
        if ack is None:
            return unknown("acknowledgement", given)
        if ack.change_time != change_time or ack.basis is not policy.basis:
            return unknown("counted", given, counted=ack.change_time, change=change_time)
        facts = acknowledgement_facts(given, policy, change_time, manager_time)
        following = given.procedure.after(given.record.phase)
        leave = Change(facts={"step_started_manager_time": manager_time})
        if given.facts.certificate_changed_at is not None:
            orphans = suspected_orphans(given)
            if isinstance(orphans, Failed):
                return orphans
        if facts["soaked"] and ack.ratio >= facts["need"]:
            return Passed(Said(Code.CLIENTS_READY, facts), leave)
        if facts["soaked"]:
            names = tuple(c.name for c in ack.at_risk_clients) if ack.at_risk_listed else None
            accepted = at_risk_accepted(given.record, following, ack.at_risk_count, names)
            if accepted is not None:
                said = Said(
                    Code.AT_RISK_ACCEPTED,
                    {
                        **facts,
                        "by": accepted.by,
                        "why": accepted.reason,
                        "accepted_at_step": accepted.step,
                        "step": following,
                    },
                )
                return Passed(said, leave)
        if manager_time >= facts["give_up"]:
            return Stuck(Said(Code.MAX_SOAK_EXCEEDED, {**facts, "server": given.name, "step": following}))
        offset = given.now - manager_time  # manager-clock deadlines on the reconciler's clock
        candidates = [given.later(given.tuning.waiting_interval), facts["give_up"] + offset]
        if not facts["soaked"]:
            candidates.append(facts["soak_end"] + offset)
        code = Code.CLIENTS_NOT_READY if facts["soaked"] else Code.SOAK_NOT_OVER
        return Failed(Said(code, facts), until=max(given.now, min(candidates)))

    what = (
        "certificate_fetched"
        if policy.basis is Basis.CHECKIN
        else "verification_on"
        if policy.verifying
        else "verification_off"
    )
    name = f"clients_acknowledged_{what}"
    return _named(name, check)


# --- step 4 --------------------------------------------------------------------------------------------------------


def certificate_changed(given: Given) -> Change:
    """The first time a port presents another certificate than at the start: the point of no return. The manager's
    time then, and when step 4 began, are the swap's window (its clients are judged against it afterwards)."""
    facts = given.facts
    if facts.certificate_changed_at is not None:
        if facts.swap_seen is None and given.manager_time is not None:
            return Change(facts={"swap_seen": given.manager_time})
        return Change()
    now_served = given.served()
    original = given.facts.original_fingerprints
    changed = tuple(
        name for name, fp in now_served.fingerprints.items() if fp is not None and fp != original.get(name)
    )
    if not changed:
        return Change()
    said = Said(Code.CERTIFICATE_CHANGED, {"ports": changed, "of": len(now_served.fingerprints)})
    return Change(
        facts={
            "certificate_changed_at": given.now,
            "swap_seen": given.manager_time,
            "swap_from": facts.swap_from or given.manager_time,
        },
        events=(Emit(EventKind.CERTIFICATE_CHANGED, said, {"ports": ", ".join(changed)}),),
    )


def before_swap_seen(given: Given) -> Change:
    """Step 4, while no port changed: the manager's time of the latest look — where the swap's window begins (its
    cohort: the clients seen within a heartbeat before it)."""
    if given.facts.certificate_changed_at is not None or given.manager_time is None:
        return Change()
    return Change(facts={"swap_from": given.manager_time})


def unexpected_certificate(*, before_allowed: bool) -> Check:
    """After the swap began every port presents the target — or, while the swap is under way
    (``before_allowed``), the certificate it presented before. Anything else needs a person."""

    def check(given: Given) -> Verdict:
        target = given.record.target_fingerprint
        allowed = {target}
        odd = {}
        for name, fp in given.served().fingerprints.items():
            before = given.facts.original_fingerprints.get(name) if before_allowed else None
            if fp is not None and fp not in allowed and fp != before:
                odd[name] = fp
        said = Said(
            Code.UNEXPECTED_CERTIFICATE,
            {
                "ports": tuple(sorted(odd.items())),
                "target": target,
                "before": before_allowed,
                "server": given.name,
            },
        )
        return Passed(said) if odd else Failed(said)

    return _named("unexpected_certificate_during_swap" if before_allowed else "unexpected_certificate", check)


def verification_back_before_swap(given: Given) -> Verdict:
    """Before any port changed, a managed group verifies again: back to step 2 — unless an update attempt may be
    running (then hold: it is not known whether it will swap)."""
    said = Said(Code.VERIFICATION_REVERTED, {"verifying": False, "before_swap": True})
    if given.facts.certificate_changed_at is not None:
        return Failed(said)
    flags = given.flags()
    if flags.unknown or flags.undetermined():
        return unknown("still_off", given)
    verifying = flags.reading(True)
    if not verifying:
        return Failed(said)
    record = given.record
    running = any(
        a.kind is ActionKind.UPDATE_CERTIFICATE
        and a.rollout_id == record.rollout_id
        and a.outcome is AttemptOutcome.PENDING
        for a in record.attempts
    )
    if running or given.manager_time is None:
        return unknown("verifying", given, groups=GroupFlags.names(verifying))
    change = Change(facts={"step_started_manager_time": given.manager_time, "verification_off_at": None})
    return Passed(said.but(groups=GroupFlags.names(verifying)), change)


def certificate_served(given: Given) -> Verdict:
    """Step 4a is done when every port presents the target and the REST API answers and accepts our credentials;
    the manager's time then is when the new certificate was first seen served (step 4b counts from it)."""
    obs = given.obs
    target = given.target
    now_served = given.served()
    if now_served.all_are(target) and obs.api_usable and obs.api_version:
        leave = _leave(given)
        if isinstance(leave, Unknown):
            return leave
        served_at = Change(facts={"certificate_served_at": given.manager_time})  # 4b counts check-ins since
        return Passed(
            Said(Code.CERTIFICATE_SERVED, {"target": target, "version": obs.api_version}),
            leave.then(served_at),
        )
    if now_served.complete:
        seen = ", ".join(
            f"{name} {'new' if fp == target else 'old'}" for name, fp in now_served.fingerprints.items()
        )
    else:
        seen = now_served.sentence()
    if obs.api_usable and obs.api_version:
        api = "the API answers"
    else:
        api = f"the API cannot be used: {obs.api_error}" if obs.api_error else "the API does not answer"
    step = _step(given, given.record.phase)
    return Failed(
        Said(Code.CERTIFICATE_SERVED, {"target": target}),
        work=work.update_certificate(given, step, seen=seen, api=api),
    )


# --- step 7 and the rollback ---------------------------------------------------------------------------------------


def _replicated_since(partner: ReplicationPartner | None, since: datetime) -> bool:
    return (
        partner is not None
        and partner.status_code == "SUCCEEDED"
        and partner.last_successful_run_time is not None
        and partner.last_successful_run_time >= since
    )


def _replication_restored(given: Given, step: int) -> Verdict:
    """Every recorded partner is listed again and replicated successfully after the step began (restore first,
    then ``replicatenow``)."""
    partners = given.facts.partners
    said = Said(Code.ROLLOUT_COMPLETE, {"partners": partners})
    if not partners:
        return Passed(said)
    replication = given.obs.replication
    if replication is None:
        return unknown("replication", given)
    started = given.facts.step_started_manager_time or given.manager_time
    if started is None:
        return unknown("clock", given)
    missing = tuple(p for p in partners if p not in replication.partner_names)
    if missing:
        return Failed(said, work=work.restore_replication(given, step, missing))
    lagging = [p for p in partners if not _replicated_since(replication.partner(p), started)]
    if not lagging:
        return Passed(said)
    partner = lagging[0]
    observed = replication.partner(partner)
    return Failed(
        said,
        work=work.replicate_now(
            given,
            step,
            partner=partner,
            started=started,
            status=observed.status_code if observed and observed.status_code else "unknown",
            last=observed.last_successful_run_time if observed else None,
        ),
    )


def replication_rejoined(given: Given) -> Verdict:
    """Every recorded partner replicates again since the step began (a re-join may have changed the settings)."""
    return _replication_restored(given, _step(given, given.record.phase))


def verification_off_after_rejoin(given: Given) -> Verdict:
    """Once replication succeeded, a managed group reads off again (a re-join overwrites the joining site's
    settings): back to step 5."""
    said = Said(Code.VERIFICATION_REVERTED, {"verifying": True, "rejoin": True})
    if not isinstance(_replication_restored(given, _step(given, given.record.phase)), Passed):
        return Failed(said)
    flags = given.flags()
    if flags.unknown:
        return unknown("groups", given)
    if off := flags.reading(False):
        if given.manager_time is None:
            return unknown("clock", given)
        change = Change(facts={"step_started_manager_time": given.manager_time, "verification_on_at": None})
        return Passed(said.but(groups=GroupFlags.names(off)), change)
    if undetermined := flags.undetermined():
        return unknown("flags", given, groups=GroupFlags.names(undetermined))
    return Failed(said)


def replication_restored(given: Given) -> Verdict:
    """Step 7 is done when every partner replicates again after the step began and every port still presents the
    target (the flags are the revert's business)."""
    through = partners_through.check(given)
    if not isinstance(through, Passed):
        return through
    restored = _replication_restored(given, _step(given, given.record.phase))
    if not isinstance(restored, Passed):
        return restored
    now_served = given.served()
    if not now_served.all_are(given.target):
        return unknown("served", given, problems=now_served.sentence() or "another certificate")
    said = Said(
        Code.ROLLOUT_COMPLETE,
        {"rollout_id": given.record.rollout_id, "target": given.target, "partners": given.facts.partners},
    )
    return Passed(said)


def target_is_desired(given: Given) -> Verdict:
    said = Said(Code.ROLLOUT_COMPLETE, {"desired": given.desired})
    return Passed(said) if given.target == given.desired else Failed(said)


def target_differs(given: Given) -> Verdict:
    said = Said(Code.ROLLOUT_SUPERSEDED, {"desired": given.desired})
    return Failed(said) if given.target == given.desired else Passed(said)


def rolled_back(given: Given) -> Verdict:
    """Rolling back: verification on again where it was on before step 2, the original management server list back
    where 2a switched it, then the partnerships restored (and replicated), then the served certificate seen in
    full."""
    before = given.facts.verification_before
    if any(before.values()):
        flags = given.flags()
        if flags.unknown:
            return unknown("groups", given)
        restore = tuple(
            g for g in flags.groups if before.get(g.id) is True and g.secure_communications is not True
        )
        if restore:
            step = _step(given, Phase.ENABLING_VERIFICATION)
            return Failed(
                Said(Code.ROLLED_BACK),
                work=work.set_verification(
                    given, step, enabled=True, groups=restore, started=given.manager_time, again=True
                ),
            )
    listed = restore_list_in_rollback(given)
    if not isinstance(listed, Passed):
        return listed
    restored = _replication_restored(given, _step(given, Phase.RESTORING_REPLICATION))
    if not isinstance(restored, Passed):
        return restored
    now_served = given.served()
    if not now_served.complete:
        return unknown("ports", given, problems=now_served.sentence())
    return Passed(Said(Code.ROLLED_BACK, {"why": given.facts.rollback_reason or "rolled back"}))


def aborted_event(given: Given) -> Change:
    """Leaving a rollback that an abort asked for: the log says the rollout was aborted."""
    aborted = given.record.aborted
    if aborted is None:
        return Change()
    said = Said(
        Code.ABORTED,
        {
            "rollout_id": given.record.rollout_id,
            "why": given.facts.rollback_reason or "rolled back",
            "rolled_back": True,
        },
    )
    return Change(events=(Emit(EventKind.ABORTED, said, actor=aborted.by),))
