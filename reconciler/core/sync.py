"""The phases around the seven steps: new, in sync, drifted, stalled, rolling back — and operator requests."""

from __future__ import annotations

import hashlib
from dataclasses import replace

from reconciler.core import wording
from reconciler.core._context import Ctx, Outcome
from reconciler.core.actions import ActionKind, SetVerification
from reconciler.core.checks import GroupFlags, group_flags, served
from reconciler.core.events import EventKind
from reconciler.core.gates import approval_gate, keystore_gate
from reconciler.core.perform import Build, Task, perform
from reconciler.core.procedure import PROCEDURE_VERSION, Phase
from reconciler.core.record import Aborted, Facts
from reconciler.core.requests import rollback_refusal
from reconciler.core.steps import hold_unknown, restore_replication, unknown_detail, verification_action

__all__ = ["abort_requested", "drifted", "in_sync", "rolling_back", "stalled"]


def rollout_id(server: str, target: str, revision: str, ctx: Ctx) -> str:
    digest = hashlib.sha256(f"{server}\n{target}\n{revision}".encode()).hexdigest()[:8]
    return f"r-{ctx.now:%Y%m%dT%H%M%SZ}-{digest}"


def _open_rollout(ctx: Ctx, served_now: dict[str, str | None]) -> None:
    """A rollout is due: give it an id, a target, the spec revision and procedure version it starts with."""
    rec = ctx.rec
    if rec.target_fingerprint is not None and rec.target_fingerprint != ctx.desired:
        ctx.event(
            EventKind.RETARGET,
            f"the spec now asks for {wording.fingerprint(ctx.desired)} instead of "
            f"{wording.fingerprint(rec.target_fingerprint)} (no step had started)",
            old=rec.target_fingerprint,
            new=ctx.desired,
        )
    ctx.rec = replace(
        rec,
        rollout_id=rollout_id(ctx.name, ctx.desired, ctx.revision, ctx),
        target_fingerprint=ctx.desired,
        started_revision=ctx.revision,
        procedure_version=PROCEDURE_VERSION,
        started_at=ctx.now,
        facts=Facts(original_fingerprints=served_now),
        attempts=(),
        approvals=(),
    )


def _drift_sentence(ctx: Ctx, fingerprints: dict[str, str | None]) -> str:
    differing = [name for name, fp in fingerprints.items() if fp != ctx.desired]
    shown = {fingerprints[name] for name in differing}
    what = wording.fingerprint(next(iter(shown))) if len(shown) == 1 else "other certificates"
    verb = "presents" if len(differing) == 1 and len(fingerprints) > 1 else "present"
    return f"drift: {wording.ports(differing, of=len(fingerprints))} {verb} {what}, the spec wants {wording.fingerprint(ctx.desired)}"


def _start_or_hold(ctx: Ctx, prefix: str, *, held_move: str | None) -> Outcome:
    """Start step 1 unless something holds the rollout; ``held_move`` is the move to make when held."""
    obs = ctx.obs
    declared = tuple(ctx.spec.spec.replication.partners)
    blocked: str | None = None
    if obs is None or obs.replication is None:
        blocked = f"holding: the replication status could not be read{unknown_detail(obs)}"
    elif undeclared := sorted(obs.replication.partner_names - set(declared)):
        names = ", ".join(undeclared)
        if held_move is not None:  # a stall is only reachable from drifted: hold first
            blocked = f"{ctx.name} replicates with {names}, which the spec does not declare"
        else:
            return Outcome(
                f"{prefix}; {ctx.name} replicates with {names}, which spec.replication.partners does not declare: "
                "the procedure would restore the partnership while the partner is half-rotated",
                move="stall",
                stall_code="undeclared_partner",
                remedy=f"add {names} to spec.replication.partners (it is then broken in step 1 and restored in "
                "step 7) and commit: a new spec revision resumes the rollout",
            )
    if blocked is None:
        blocked = keystore_gate(ctx) or approval_gate(ctx, 1)
    if blocked is not None:
        return Outcome(f"{prefix}; {blocked}", move=held_move)
    ctx.set_facts(replace(ctx.facts, partners=declared))
    return Outcome(
        f"{prefix}: starting rollout {ctx.rec.rollout_id} with step 1 (break replication)", move="start"
    )


def in_sync(ctx: Ctx, *, holding: str | None = None) -> Outcome:
    """``new`` and ``in_sync``: compare what every port presents with the spec. ``holding`` (suspension, report mode)
    still reports drift but never starts a rollout."""
    rec = ctx.rec
    if ctx.obs is None:  # pragma: no cover - routing holds earlier
        return Outcome("not observed")
    now_served = served(ctx.spec, ctx.obs)
    if not now_served.complete:
        if rec.phase is Phase.NEW:
            return hold_unknown(
                ctx, "not in sync yet", f"the served certificate cannot be seen: {now_served.sentence()}"
            )
        return Outcome(f"in sync at the last complete observation; now {now_served.sentence()}")
    if now_served.all_are(ctx.desired):
        reason = f"in sync: every port presents {wording.fingerprint(ctx.desired)}"
        if holding:
            reason += f" ({holding})"
        ctx.rec = replace(ctx.rec, aborted=None)
        return Outcome(reason, move="converged" if rec.phase is Phase.NEW else None)
    _open_rollout(ctx, now_served.fingerprints)
    prefix = _drift_sentence(ctx, now_served.fingerprints)
    if holding:
        return Outcome(f"{prefix}; {holding}", move="drift")
    return _start_or_hold(ctx, prefix, held_move="drift")


def drifted(ctx: Ctx, *, holding: str | None = None) -> Outcome:
    """A rollout is due but held (approval, report mode, suspension, an abort); no step has started."""
    if ctx.obs is None:  # pragma: no cover - routing holds earlier
        return Outcome("not observed")
    now_served = served(ctx.spec, ctx.obs)
    if not now_served.complete:
        return hold_unknown(ctx, "drifted", f"the served certificate cannot be seen: {now_served.sentence()}")
    if now_served.all_are(ctx.desired):
        ctx.rec = replace(ctx.rec, aborted=None)
        return Outcome(
            f"every port now presents the desired certificate {wording.fingerprint(ctx.desired)}: nothing to do",
            move="converged",
        )
    if ctx.rec.rollout_id is None or ctx.rec.target_fingerprint != ctx.desired:
        _open_rollout(ctx, now_served.fingerprints)
    prefix = _drift_sentence(ctx, now_served.fingerprints)
    if holding:
        return Outcome(f"{prefix}; {holding}")
    aborted = ctx.rec.aborted
    if aborted is not None:
        if (aborted.target, aborted.revision) == (ctx.desired, ctx.revision):
            return Outcome(
                f"{prefix}; the rollout was aborted by {aborted.by} at {wording.when(aborted.at)} ({aborted.reason}) "
                f"and is not restarted for this certificate and spec revision: sepm-reconciler resume {ctx.name} "
                "restarts it, so does a new spec revision"
            )
        ctx.rec = replace(ctx.rec, aborted=None)
    return _start_or_hold(ctx, prefix, held_move=None)


def stalled(ctx: Ctx) -> Outcome:
    """Hold with the reason and remedy until ``resume`` — or a new spec revision, which is a new attempt."""
    rec = ctx.rec
    back_to = rec.stalled_from or Phase.DRIFTED
    who = None
    if rec.resume_request is not None:
        who = rec.resume_request.by
        why = f"resumed by {who}" + (f" ({rec.resume_request.reason})" if rec.resume_request.reason else "")
    elif rec.spec_revision is not None and rec.spec_revision != ctx.revision:
        why = f"the spec changed (revision {ctx.revision}): a new attempt"
    else:
        stall = rec.stall
        return Outcome(
            stall.reason if stall else "stalled",
            remedy=stall.remedy if stall else None,
        )
    ctx.rec = replace(rec, resume_request=None)
    return Outcome(
        f"{why}: continuing at {back_to.value} (step {rec.step}); attempts are counted afresh",
        move="resume",
        to=back_to,
        actor=who or "reconciler",
    )


def abort_requested(ctx: Ctx) -> Outcome | None:
    """Carry out (or refuse) an operator's abort. None: nothing to move, the phase handler runs as usual."""
    rec = ctx.rec
    request = rec.abort_request
    if request is None:
        return None
    ctx.rec = replace(rec, abort_request=None)
    refusal = rollback_refusal(rec)
    if refusal is not None:
        ctx.event(
            EventKind.ABORT_REFUSED, f"abort requested by {request.by} refused: {refusal}", actor=request.by
        )
        return None
    target = rec.target_fingerprint or ctx.desired
    ctx.rec = replace(
        ctx.rec,
        aborted=Aborted(request.by, request.at, request.reason, target, rec.spec_revision or ctx.revision),
    )
    if rec.working_phase is Phase.DRIFTED:
        ctx.event(
            EventKind.ABORTED,
            f"rollout aborted by {request.by} before any step: {request.reason}",
            actor=request.by,
        )
        return Outcome(
            f"rollout aborted by {request.by} ({request.reason}); nothing had changed yet",
            move="resume" if rec.phase is Phase.STALLED else None,
            to=Phase.DRIFTED if rec.phase is Phase.STALLED else None,
            actor=request.by,
        )
    reason = f"abort requested by {request.by} ({request.reason}): undoing steps 1-{rec.step}"
    ctx.set_facts(
        replace(
            ctx.facts,
            rollback_reason=reason,
            step_started_manager_time=ctx.obs.manager_time if ctx.obs else None,
        )
    )
    return Outcome(reason + " (restoring verification, then replication)", move="roll_back", actor=request.by)


def rolling_back(ctx: Ctx) -> Outcome:
    """Undo steps 1-3: verification back on where it was on, then the partnerships, then check the flags again."""
    obs = ctx.obs
    if obs is None:  # pragma: no cover - routing holds earlier
        return Outcome("not observed")
    label = "rolling back"
    before = ctx.facts.verification_before
    if any(before.values()):
        flags = group_flags(obs)
        if flags.unknown:
            return hold_unknown(ctx, label, flags.unknown)
        restore = tuple(
            g for g in flags.groups if before.get(g.id) is True and g.secure_communications is not True
        )
        if restore:

            def build(b: Build) -> SetVerification:
                return verification_action(b, step=5, enabled=True, groups=restore, again=True)

            return perform(
                ctx,
                Task(
                    label=label,
                    step=5,
                    kind=ActionKind.SET_VERIFICATION,
                    how=None,
                    build=build,
                    what="restoring certificate verification",
                    waiting_for="Continues when those groups read back on.",
                    remedy="set 'Enable secure communications … by using digital certificates' on again in Clients > "
                    f"Policies > General Settings > Security Settings for {GroupFlags.names(restore)}, then run: "
                    f"sepm-reconciler resume {ctx.name}",
                ),
            )
    if (out := restore_replication(ctx, label=label, step=7)) is not None:
        return out
    now_served = served(ctx.spec, obs)
    if not now_served.complete:
        return hold_unknown(ctx, label, f"the served certificate cannot be seen: {now_served.sentence()}")
    why = ctx.facts.rollback_reason or "rolled back"
    if now_served.all_are(ctx.desired):
        ctx.rec = replace(ctx.rec, aborted=None)
        return Outcome(
            f"rolled back ({why}); every port presents the desired certificate",
            move="rolled_back",
            to=Phase.IN_SYNC,
        )
    if ctx.rec.aborted is not None:
        ctx.event(
            EventKind.ABORTED, f"rollout {ctx.rec.rollout_id} rolled back: {why}", actor=ctx.rec.aborted.by
        )
    return Outcome(
        f"rolled back ({why}): verification and replication are as before the rollout",
        move="rolled_back",
        to=Phase.DRIFTED,
    )
