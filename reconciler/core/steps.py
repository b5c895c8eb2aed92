"""The seven steps: each entered and left on observed facts. One handler per phase; each returns an Outcome.

The routing in :mod:`reconciler.core.decide` guarantees ``ctx.obs`` is not None here, the rollout is not suspended
and the spec is in enforce mode.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from reconciler.core import wording
from reconciler.core._context import Ctx, Outcome
from reconciler.core.actions import (
    ActionKind,
    BreakReplication,
    Performer,
    ReplicateNow,
    RestoreReplication,
    SetVerification,
    UpdateCertificate,
)
from reconciler.core.checks import GroupFlags, acknowledgement_sentence, group_flags, served
from reconciler.core.events import EventKind
from reconciler.core.gates import (
    approval_gate,
    at_risk_override,
    keystore_gate,
    partner_gate,
    window_gate,
    window_next_open,
)
from reconciler.core.observation import GroupObservation, ReplicationPartner, ServerObservation
from reconciler.core.perform import Build, Task, perform
from reconciler.core.record import AttemptOutcome

__all__ = [
    "breaking_replication",
    "disabling_verification",
    "enabling_verification",
    "hold_unknown",
    "restore_replication",
    "restoring_replication",
    "retarget",
    "unknown_detail",
    "updating_certificate",
    "verification_action",
    "waiting_unverified",
    "waiting_verified",
]

_REMEDY_RESUME = "then run: sepm-reconciler resume {name}"


def _obs(ctx: Ctx) -> ServerObservation:
    if ctx.obs is None:  # pragma: no cover - routing in decide() guarantees an observation
        raise RuntimeError("a step handler was called without an observation")
    return ctx.obs


def unknown_detail(obs: ServerObservation | None) -> str:
    """`` [why]``: what the observation says went wrong — the unusable REST API first — or nothing."""
    if obs is None:
        return ""
    if obs.api_error is not None:
        return f" [the SEPM REST API cannot be used: {obs.api_error}]"
    errors = obs.errors
    return f" [{'; '.join(errors[:2])}{'; …' if len(errors) > 2 else ''}]" if errors else ""


def hold_unknown(ctx: Ctx, label: str, what: str) -> Outcome:
    """Hold: something needed is unknown. The observation's own errors say why, when it has any."""
    return Outcome(
        f"{label}: holding, {what}{unknown_detail(ctx.obs)} (nothing moves on an unknown observation)"
    )


def _manager_time(ctx: Ctx) -> datetime | None:
    return _obs(ctx).manager_time


def retarget(ctx: Ctx) -> Outcome | None:
    """Before step 4 a new desired certificate changes the target (steps 1-3 do not depend on it); a spec that now
    asks for the certificate served before the rollout undoes steps 1-3 instead."""
    rec = ctx.rec
    old = rec.target_fingerprint
    if old == ctx.desired:
        return None
    original = rec.facts.original_fingerprints
    if original and all(fp == ctx.desired for fp in original.values()):
        reason = (
            f"the spec now asks for {wording.fingerprint(ctx.desired)}, which every port presented before the "
            f"rollout started: undoing steps 1-{rec.step} (restoring verification, then replication)"
        )
        manager_time = ctx.obs.manager_time if ctx.obs else None
        ctx.set_facts(replace(ctx.facts, rollback_reason=reason, step_started_manager_time=manager_time))
        return Outcome(reason, move="roll_back")
    ctx.rec = replace(rec, target_fingerprint=ctx.desired)
    ctx.set_facts(replace(ctx.facts, approvals_announced=()))
    ctx.event(
        EventKind.RETARGET,
        f"the spec now asks for {wording.fingerprint(ctx.desired)} instead of {wording.fingerprint(old)}; steps 1-3 "
        "do not depend on the certificate, so the rollout continues towards the new one (approvals given for the "
        "old target no longer count)",
        old=old,
        new=ctx.desired,
    )
    return None


# --- step 1 --------------------------------------------------------------------------------------------------------


def breaking_replication(ctx: Ctx) -> Outcome:
    if (out := retarget(ctx)) is not None:
        return out
    obs = _obs(ctx)
    if obs.replication is None:
        return hold_unknown(ctx, "step 1", "the replication status could not be read")
    partners = ctx.facts.partners
    still = tuple(p for p in partners if p in obs.replication.partner_names)
    site = ctx.spec.spec.server.site
    if not still:
        manager_time = obs.manager_time
        if manager_time is None:
            return hold_unknown(ctx, "step 1", "the manager's clock could not be read")
        done = (
            f"replication with {wording.names(list(partners))} is broken (observed)"
            if partners
            else "no replication partner declared"
        )
        if (gate := approval_gate(ctx, 2)) is not None:
            return Outcome(f"step 1 done ({done}); {gate}")
        ctx.set_facts(replace(ctx.facts, step_started_manager_time=manager_time))
        return Outcome(f"{done}: disabling certificate verification next", move="replication_broken")

    def build(b: Build) -> BreakReplication:
        if b.performer is Performer.MANUAL:
            instructions = (
                f"In the SEPM console of site {site}: Admin > Servers > Local Site ({site}) > Replication Partners: "
                f"select {wording.names(list(still))} > Delete Replication Partner; then, in the console of each "
                f"partner site, delete {site} the same way."
            )
        else:
            instructions = (
                f"run {b.command[0]} to delete the replication partnership of {site} with {', '.join(still)}"
            )
        return BreakReplication(
            step=1,
            **b.fields(),
            summary=f"break replication with {', '.join(still)}",
            instructions=instructions,
            site=site,
            partners=still,
        )

    return perform(
        ctx,
        Task(
            label="step 1",
            step=1,
            kind=ActionKind.BREAK_REPLICATION,
            how=ctx.spec.spec.rollout.actions.break_replication,
            build=build,
            what="the replication break",
            waiting_for=f"Continues when {site} no longer lists {', '.join(still)} as replication partner.",
            remedy="delete the replication partnership in the console (Admin > Servers > Local Site > Replication "
            f"Partners) or fix the hook; {_REMEDY_RESUME.format(name=ctx.name)}",
        ),
    )


# --- steps 2 and 5 -------------------------------------------------------------------------------------------------


def verification_action(
    b: Build, *, step: int, enabled: bool, groups: tuple[GroupObservation, ...], again: bool = False
) -> SetVerification:
    """The API action of steps 2 and 5 (and of a rollback, ``again``): PATCH the flag on ``groups``, read it back."""
    targets = GroupFlags.targets(groups)
    return SetVerification(
        step=step,
        **b.fields(),
        summary=f"{'enable' if enabled else 'disable'} certificate verification{' again' if again else ''} on "
        f"{len(targets)} group{'s' if len(targets) != 1 else ''}",
        instructions="PATCH groups/{id}/locations/{location}/settings with secure_communications="
        f"{str(enabled).lower()} on {GroupFlags.names(groups)}, then read it back",
        enabled=enabled,
        groups=targets,
    )


def _set_verification(ctx: Ctx, *, step: int, enabled: bool) -> Outcome:
    label = f"step {step}"
    flags = group_flags(_obs(ctx))
    if flags.unknown:
        return hold_unknown(ctx, label, flags.unknown)
    if not flags.groups:
        chosen = ctx.spec.spec.rollout.clients.groups
        return Outcome(
            f"{label}: no managed client group found on the manager"
            + (f" (spec.rollout.clients.groups: {', '.join(chosen)})" if chosen else ""),
            move="stall",
            stall_code="no_managed_groups",
            remedy="make spec.rollout.clients.groups name existing groups by full path (e.g. My Company\\Laptops), or "
            "leave it empty for every group that does not inherit, and commit: a new spec revision resumes the rollout",
        )
    started = ctx.facts.step_started_manager_time or _obs(ctx).manager_time
    if started is None:
        return hold_unknown(ctx, label, "the manager's clock could not be read")
    if ctx.facts.step_started_manager_time is None:  # entered without a clock reading: take the first one
        ctx.set_facts(replace(ctx.facts, step_started_manager_time=started))
    if step == 2 and not ctx.facts.verification_before:
        ctx.set_facts(
            replace(ctx.facts, verification_before={g.id: g.secure_communications for g in flags.groups})
        )
    if undetermined := flags.undetermined():
        return hold_unknown(
            ctx, label, f"the verification flag of {GroupFlags.names(undetermined)} is unknown"
        )
    # A group whose flag already read as wanted when step 2 began is a no-op: nothing is sent to it and its serial
    # need not move; its clients acknowledge by applying its current policy (the adapter counts them so).
    noop = (
        {gid for gid, was in ctx.facts.verification_before.items() if was is enabled} if step == 2 else set()
    )
    pending = tuple(
        g
        for g in flags.groups
        if g.secure_communications is not enabled
        or g.policy_time is None
        or (g.policy_time < started and g.id not in noop)
    )
    on_off = "on" if enabled else "off"
    if not pending:
        moved = [
            g.policy_time for g in flags.groups if g.policy_time is not None and g.policy_time >= started
        ]
        change_time = min(moved) if moved else started
        done = (
            f"certificate verification reads {on_off} for all {len(flags.groups)} managed groups (read back); "
            f"clients must acknowledge the change of {wording.when(change_time)} (manager time)"
        )
        if (gate := approval_gate(ctx, step + 1)) is not None:
            return Outcome(f"{label} done ({done}); {gate}")
        if enabled:
            ctx.set_facts(replace(ctx.facts, verification_on_at=change_time))
            return Outcome(done, move="verification_enabled")
        ctx.set_facts(replace(ctx.facts, verification_off_at=change_time))
        return Outcome(done, move="verification_disabled")
    stuck = tuple(g for g in pending if g.secure_communications is enabled)

    def build(b: Build) -> SetVerification:
        return verification_action(b, step=step, enabled=enabled, groups=pending)

    remedy = (
        f"the flag reads {on_off} on {GroupFlags.names(stuck)} but their policy serial did not move after "
        f"{wording.when(started)}, so client acknowledgement cannot be measured: make a policy change on those "
        "groups so their serial moves, "
        if stuck
        else "check that the API account may edit group policies, or set 'Enable secure communications … by using "
        f"digital certificates' {on_off} in Clients > Policies > General Settings > Security Settings for "
        f"{GroupFlags.names(pending)} by hand, "
    ) + _REMEDY_RESUME.format(name=ctx.name)
    return perform(
        ctx,
        Task(
            label=label,
            step=step,
            kind=ActionKind.SET_VERIFICATION,
            how=None,
            build=build,
            what=f"{'enabling' if enabled else 'disabling'} certificate verification",
            waiting_for=f"Continues when every managed group reads back {on_off} with a policy serial newer than "
            f"{wording.when(started)}.",
            remedy=remedy,
        ),
    )


def disabling_verification(ctx: Ctx) -> Outcome:
    if (out := retarget(ctx)) is not None:
        return out
    return _set_verification(ctx, step=2, enabled=False)


def enabling_verification(ctx: Ctx) -> Outcome:
    if (out := _unexpected_certificate(ctx, 5)) is not None:
        return out
    return _set_verification(ctx, step=5, enabled=True)


# --- steps 3 and 6 -------------------------------------------------------------------------------------------------


def _wait_for_clients(ctx: Ctx, *, step: int, verifying: bool) -> Outcome:
    label = f"step {step}"
    obs = _obs(ctx)
    flags = group_flags(obs)
    if flags.unknown:
        return hold_unknown(ctx, label, flags.unknown)
    change_time = ctx.facts.verification_on_at if verifying else ctx.facts.verification_off_at
    wrong = flags.reading(not verifying)
    if wrong or change_time is None:
        manager_time = obs.manager_time
        if manager_time is None:
            return hold_unknown(ctx, label, "the manager's clock could not be read")
        ctx.set_facts(
            replace(ctx.facts, step_started_manager_time=manager_time, verification_on_at=None)
            if verifying
            else replace(ctx.facts, step_started_manager_time=manager_time, verification_off_at=None)
        )
        what = (
            f"certificate verification was turned {'off' if verifying else 'back on'} on {GroupFlags.names(wrong)}"
            if wrong
            else "the change time of the previous step is not recorded"
        )
        return Outcome(
            f"{what}: {'enabling' if verifying else 'disabling'} it again (step {step - 1})",
            move="verification_reverted",
        )
    if undetermined := flags.undetermined():
        return hold_unknown(
            ctx, label, f"the verification flag of {GroupFlags.names(undetermined)} is unknown"
        )
    manager_time = obs.manager_time
    if manager_time is None:
        return hold_unknown(ctx, label, "the manager's clock could not be read")
    ack = obs.clients
    if ack is None:
        return hold_unknown(ctx, label, "client acknowledgement could not be counted")
    if ack.change_time != change_time:
        counted = wording.when(ack.change_time) if ack.change_time else "no change time"
        return hold_unknown(
            ctx, label, f"clients were counted against {counted} instead of {wording.when(change_time)}"
        )
    policy = ctx.spec.spec.rollout.clients
    sentence = acknowledgement_sentence(
        ack, policy, change_time=change_time, manager_time=manager_time, verifying=verifying
    )
    soak_end = change_time + policy.min_soak
    give_up = change_time + policy.max_soak
    soaked = manager_time >= soak_end
    ready = soaked and ack.ratio >= policy.min_ack_ratio
    following = step + 1
    accepted = None if ready or not soaked else at_risk_override(ctx, following, ack.at_risk_count)
    if ready or accepted is not None:
        gate = keystore_gate(ctx) if following == 4 else None
        gate = gate or approval_gate(ctx, following)
        if gate is None and following == 4:
            gate = window_gate(ctx)
        if gate is not None:
            opens = window_next_open(ctx) if following == 4 else None
            next_check = ctx.later(ctx.tuning.waiting_interval)
            return Outcome(
                f"{label}: clients ready ({sentence}); {gate}",
                next_check=min(next_check, opens) if opens else next_check,
            )
        ctx.set_facts(replace(ctx.facts, step_started_manager_time=manager_time))
        if accepted is not None:
            why = (
                f"minimum soak over and {wording.count(ack.at_risk_count)} client(s) at risk accepted by "
                f"{accepted.by} ({accepted.reason})"
            )
        else:
            why = "clients ready"
        return Outcome(f"{why}: {sentence}", move="clients_ready")
    if manager_time >= give_up:
        return Outcome(
            f"{label}: clients did not acknowledge the change within maxSoak "
            f"({wording.span(policy.max_soak)}): {sentence}",
            move="stall",
            stall_code="max_soak_exceeded",
            remedy=(
                "raise spec.rollout.clients.maxSoak, lower minAckRatio or shorten excludeOfflineFor and commit "
                f"(a new spec revision resumes the rollout); or accept the {wording.count(ack.at_risk_count)} "
                f"client(s) at risk: sepm-reconciler approve {ctx.name} --step {following} --accept-at-risk "
                f"--by YOU --reason WHY, {_REMEDY_RESUME.format(name=ctx.name)}"
            ),
        )
    offset = ctx.now - manager_time  # convert manager-clock deadlines to the reconciler's clock
    candidates = [ctx.later(ctx.tuning.waiting_interval), give_up + offset]
    if not soaked:
        candidates.append(soak_end + offset)
    return Outcome(f"{label}: waiting for clients: {sentence}", next_check=max(ctx.now, min(candidates)))


def waiting_unverified(ctx: Ctx) -> Outcome:
    if (out := retarget(ctx)) is not None:
        return out
    return _wait_for_clients(ctx, step=3, verifying=False)


def waiting_verified(ctx: Ctx) -> Outcome:
    if (out := _unexpected_certificate(ctx, 6)) is not None:
        return out
    return _wait_for_clients(ctx, step=6, verifying=True)


# --- step 4 --------------------------------------------------------------------------------------------------------


def _unexpected_certificate(ctx: Ctx, step: int) -> Outcome | None:
    """After the swap every port must keep presenting the target; anything else needs a human."""
    target = ctx.rec.target_fingerprint
    if step == 4:
        original = ctx.facts.original_fingerprints
        odd = {
            name: fp
            for name, fp in served(ctx.spec, _obs(ctx)).fingerprints.items()
            if fp is not None and fp not in (target, original.get(name))
        }
    else:
        odd = served(ctx.spec, _obs(ctx)).presenting_other_than(target)
    if not odd:
        return None
    ports = "; ".join(f"{name} presents {wording.fingerprint(fp)}" for name, fp in sorted(odd.items()))
    return Outcome(
        f"step {step}: {ports}, which is not the rollout's target {wording.fingerprint(target)}"
        + (" nor the certificate served before" if step == 4 else ""),
        move="stall",
        stall_code="unexpected_certificate",
        remedy="find out who installed that certificate; install the target certificate on every port and restart "
        f"the SEPM services, {_REMEDY_RESUME.format(name=ctx.name)}",
    )


def updating_certificate(ctx: Ctx) -> Outcome:
    obs = _obs(ctx)
    rec = ctx.rec
    target = rec.target_fingerprint or ctx.desired
    now_served = served(ctx.spec, obs)
    original = ctx.facts.original_fingerprints
    changed = [
        name for name, fp in now_served.fingerprints.items() if fp is not None and fp != original.get(name)
    ]
    if changed and ctx.facts.certificate_changed_at is None:
        ctx.set_facts(replace(ctx.facts, certificate_changed_at=ctx.now))
        ctx.event(
            EventKind.CERTIFICATE_CHANGED,
            f"{wording.ports(changed, of=len(now_served.fingerprints))} now present{'s' if len(changed) == 1 else ''} another certificate: past the "
            "point of no return (only forward from here)",
            ports=", ".join(changed),
        )
    if (out := _unexpected_certificate(ctx, 4)) is not None:
        return out
    if now_served.all_are(target) and obs.api_usable and obs.api_version:
        if obs.manager_time is None:
            return hold_unknown(ctx, "step 4", "the manager's clock could not be read")
        done = (
            f"every port presents {wording.fingerprint(target)} and the API answers (version {obs.api_version}, "
            "authenticated)"
        )
        if (gate := approval_gate(ctx, 5)) is not None:
            return Outcome(f"step 4 done ({done}); {gate}")
        ctx.set_facts(replace(ctx.facts, step_started_manager_time=obs.manager_time))
        return Outcome(f"{done}: enabling certificate verification next", move="certificate_served")
    if ctx.facts.certificate_changed_at is None:
        flags = group_flags(obs)
        if flags.unknown or flags.undetermined():
            return hold_unknown(
                ctx, "step 4", "it cannot be confirmed that certificate verification is still off"
            )
        if verifying := flags.reading(True):
            pending = any(
                a.step == 4 and a.rollout_id == rec.rollout_id and a.outcome is AttemptOutcome.PENDING
                for a in rec.attempts
            )
            if not pending and obs.manager_time is not None:
                ctx.set_facts(
                    replace(ctx.facts, step_started_manager_time=obs.manager_time, verification_off_at=None)
                )
                return Outcome(
                    f"certificate verification was turned back on for {GroupFlags.names(verifying)} before the "
                    "certificate changed: disabling it again (step 2)",
                    move="verification_reverted",
                )
            return hold_unknown(ctx, "step 4", f"verification reads on for {GroupFlags.names(verifying)}")
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
    keystore = ctx.spec.spec.certificate.keystore
    host = ctx.spec.spec.server.host
    ports = ", ".join(str(number) for _, number in ctx.spec.spec.server.ports.items())

    def build(b: Build) -> UpdateCertificate:
        if b.performer is Performer.MANUAL:
            source = f"the keystore {keystore.file}" if keystore else f"the keystore holding {target}"
            instructions = (
                f"In the SEPM console of {host}: Admin > Servers > {host} > Manage Server Certificate > Update "
                f"Server Certificate, with {source}; then restart the services SEPM (semsrv), SEPM Webserver "
                f"(semwebsrv) and SEPM API service (semapisrv) on the Windows host."
            )
        else:
            instructions = f"run {b.command[0]} to install {target} on {host} and restart the SEPM services"
        return UpdateCertificate(
            step=4,
            **b.fields(),
            summary=f"install certificate {wording.fingerprint(target)} and restart the SEPM services",
            instructions=instructions,
            fingerprint=target,
            keystore_file=keystore.file if keystore else None,
        )

    return perform(
        ctx,
        Task(
            label="step 4",
            step=4,
            kind=ActionKind.UPDATE_CERTIFICATE,
            how=ctx.spec.spec.rollout.actions.update_certificate,
            build=build,
            what="the certificate update",
            waiting_for=f"Continues when ports {ports} all present {wording.fingerprint(target)} and the API "
            f"answers (now: {seen}; {api}).",
            remedy="install the certificate by hand (Admin > Servers > Manage Server Certificate), restart semsrv, "
            "semwebsrv and semapisrv, or fix the hook; the old certificate can no longer be rolled back to by the "
            f"reconciler once any port changed; {_REMEDY_RESUME.format(name=ctx.name)}",
            windowed=ctx.facts.certificate_changed_at is None,
            blocked=keystore_gate(ctx) if ctx.facts.certificate_changed_at is None else None,
        ),
    )


# --- step 7 --------------------------------------------------------------------------------------------------------


def replicated_since(partner: ReplicationPartner | None, since: datetime) -> bool:
    return (
        partner is not None
        and partner.status_code == "SUCCEEDED"
        and partner.last_successful_run_time is not None
        and partner.last_successful_run_time >= since
    )


def restore_replication(ctx: Ctx, *, label: str, step: int) -> Outcome | None:
    """Shared by step 7 and the rollback: None once every recorded partner replicated after the step began."""
    obs = _obs(ctx)
    partners = ctx.facts.partners
    if not partners:
        return None
    if obs.replication is None:
        return hold_unknown(ctx, label, "the replication status could not be read")
    manager_time = obs.manager_time
    started = ctx.facts.step_started_manager_time
    if started is None:
        if manager_time is None:
            return hold_unknown(ctx, label, "the manager's clock could not be read")
        started = manager_time
        ctx.set_facts(replace(ctx.facts, step_started_manager_time=started))
    site = ctx.spec.spec.server.site
    missing = tuple(p for p in partners if p not in obs.replication.partner_names)
    if missing:
        if (gate := partner_gate(ctx, missing)) is not None:
            # the partner may soak for days: look now and then, not at the pace of an action
            return Outcome(f"{label}: {gate}", next_check=ctx.later(ctx.tuning.waiting_interval))

        def build(b: Build) -> RestoreReplication:
            if b.performer is Performer.MANUAL:
                instructions = (
                    f"In the SEPM console of site {site}: Admin > Servers > Local Site ({site}) > Replication "
                    f"Partners > Add Existing Replication Partner: {', '.join(missing)}. Beware: the joining site's "
                    "database is overwritten by the site it joins; the reconciler re-checks the verification flag "
                    "afterwards."
                )
            else:
                instructions = f"run {b.command[0]} to add the replication partnership of {site} with {', '.join(missing)}"
            return RestoreReplication(
                step=step,
                **b.fields(),
                summary=f"restore replication with {', '.join(missing)}",
                instructions=instructions,
                site=site,
                partners=missing,
            )

        return perform(
            ctx,
            Task(
                label=label,
                step=step,
                kind=ActionKind.RESTORE_REPLICATION,
                how=ctx.spec.spec.rollout.actions.restore_replication,
                build=build,
                what="the replication restore",
                waiting_for=f"Continues when {site} lists {', '.join(missing)} as replication partner again.",
                remedy="add the replication partner again in the console (Admin > Servers > Local Site > "
                f"Replication Partners) or fix the hook; {_REMEDY_RESUME.format(name=ctx.name)}",
            ),
        )
    lagging = [p for p in partners if not replicated_since(obs.replication.partner(p), started)]
    if not lagging:
        return None
    partner = lagging[0]
    observed = obs.replication.partner(partner)
    status = observed.status_code if observed and observed.status_code else "unknown"
    last = (
        wording.when(observed.last_successful_run_time)
        if observed and observed.last_successful_run_time
        else "never"
    )

    def build_now(b: Build) -> ReplicateNow:
        return ReplicateNow(
            step=step,
            **b.fields(),
            summary=f"ask {site} to replicate now with {partner}",
            instructions=f"POST replication/replicatenow?partnerSiteName={partner}&logs=false&content=false",
            partner=partner,
        )

    out = perform(
        ctx,
        Task(
            label=label,
            step=step,
            kind=ActionKind.REPLICATE_NOW,
            how=None,
            build=build_now,
            what=f"replication with {partner}",
            waiting_for=f"Continues when {partner} replicates with SUCCEEDED after {wording.when(started)} "
            f"(now: {status}, last success {last}).",
            remedy=f"replication with {partner} does not succeed (status {status}): check that both sites trust each "
            "other's new certificate and can reach each other on port 8443, replicate from the console, "
            + _REMEDY_RESUME.format(name=ctx.name),
            subject=partner,
        ),
    )
    if out.action is not None and manager_time is not None:
        requested = dict(ctx.facts.replicate_requested)
        requested[partner] = manager_time
        ctx.set_facts(replace(ctx.facts, replicate_requested=requested))
    return out


def restoring_replication(ctx: Ctx) -> Outcome:
    if (out := _unexpected_certificate(ctx, 7)) is not None:
        return out
    if (out := restore_replication(ctx, label="step 7", step=7)) is not None:
        return out
    obs = _obs(ctx)
    flags = group_flags(obs)
    if flags.unknown:
        return hold_unknown(ctx, "step 7", flags.unknown)
    if off := flags.reading(False):
        if obs.manager_time is None:
            return hold_unknown(ctx, "step 7", "the manager's clock could not be read")
        ctx.set_facts(replace(ctx.facts, step_started_manager_time=obs.manager_time, verification_on_at=None))
        return Outcome(
            f"replication succeeded, but certificate verification reads off again on {GroupFlags.names(off)} (a "
            "re-join overwrites the joining site's settings): enabling it again (step 5)",
            move="verification_reverted",
        )
    if undetermined := flags.undetermined():
        return hold_unknown(
            ctx, "step 7", f"the verification flag of {GroupFlags.names(undetermined)} is unknown"
        )
    target = ctx.rec.target_fingerprint or ctx.desired
    now_served = served(ctx.spec, obs)
    if not now_served.all_are(target):
        return hold_unknown(
            ctx, "step 7", f"the served certificate cannot be confirmed ({now_served.sentence()})"
        )
    partners = ctx.facts.partners
    done = (
        f"rollout {ctx.rec.rollout_id} complete: every port presents {wording.fingerprint(target)}, certificate "
        "verification is on" + (f", replication with {', '.join(partners)} succeeded" if partners else "")
    )
    if target == ctx.desired:
        return Outcome(done, move="finish")
    return Outcome(
        f"{done}; the spec now asks for {wording.fingerprint(ctx.desired)}: a new rollout follows",
        move="finish_superseded",
    )
