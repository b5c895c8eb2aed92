"""What may hold a step back although its facts are ready: approvals, the window, half-rotated partners."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from reconciler.core import wording
from reconciler.core._context import Ctx
from reconciler.core.events import EventKind
from reconciler.core.procedure import STEP_OF, Phase
from reconciler.core.record import Approval, RolloutRecord
from reconciler.core.window import describe, window_state

__all__ = [
    "approval_gate",
    "at_risk_override",
    "keystore_gate",
    "partner_gate",
    "rotating",
    "window_gate",
    "window_next_open",
]


def approval_gate(ctx: Ctx, step: int) -> str | None:
    """None when ``step`` may start; else why not. Emits "approval needed" once per step and rollout."""
    if step not in ctx.spec.spec.rollout.approvals:
        return None
    if any(a.step == step for a in ctx.rec.current_approvals()):
        return None
    reason = f"step {step} needs an approval: sepm-reconciler approve {ctx.name} --step {step} --by YOU --reason WHY"
    if step not in ctx.facts.approvals_announced:
        ctx.set_facts(replace(ctx.facts, approvals_announced=(*ctx.facts.approvals_announced, step)))
        ctx.event(EventKind.APPROVAL_NEEDED, reason, step=step)
    return reason


def keystore_gate(ctx: Ctx) -> str | None:
    """None when the keystore step 4 installs can be used (or none is declared); else why not and what to do."""
    if ctx.keystore_error is None:
        return None
    return (
        f"holding before any change: the keystore step 4 installs cannot be used ({ctx.keystore_error}); fix "
        "spec.certificate.keystore or its password (sepm-reconciler validate --check-secrets checks it)"
    )


def window_gate(ctx: Ctx) -> str | None:
    """None when the maintenance window is open now (or there is none); else why not and until when."""
    window = ctx.spec.spec.rollout.window
    state = window_state(window, ctx.now)
    if state.error:
        return f"the maintenance window cannot be evaluated: {state.error}"
    if state.open:
        return None
    opens = f"; it next opens {wording.when(state.next_opens_at)}" if state.next_opens_at else ""
    return f"outside the maintenance window ({describe(window)}){opens}"


def window_next_open(ctx: Ctx) -> datetime | None:
    """When a closed window opens next (None when open, or unknown)."""
    state = window_state(ctx.spec.spec.rollout.window, ctx.now)
    return None if state.open else state.next_opens_at


def rotating(record: RolloutRecord) -> bool:
    """Half-rotated: inside steps 1-6 (a stall keeps its step). A partner at step 7, rolling back, in sync or held
    before step 1 is not."""
    phase = record.working_phase
    return 1 <= STEP_OF.get(phase, 0) <= 6 and phase is not Phase.ROLLING_BACK


def partner_gate(ctx: Ctx, partners: tuple[str, ...]) -> str | None:
    """A partnership is restored only when no managed partner sits half-rotated (both must reach step 7)."""
    waiting = []
    for site in partners:
        record = ctx.partners.get(site)
        if record is not None and rotating(record):
            waiting.append(
                f"{site} ({record.server}) is at step {record.step} ({record.working_phase.value})"
            )
    if not waiting:
        return None
    return "replication is restored only when both partners have reached step 7: " + "; ".join(waiting)


def at_risk_override(ctx: Ctx, step: int, at_risk_count: int) -> Approval | None:
    """An ``approve --step N --accept-at-risk`` for this rollout that still covers ``at_risk_count`` clients."""
    for approval in reversed(ctx.rec.current_approvals()):
        if (
            approval.step == step
            and approval.accept_at_risk
            and approval.at_risk_accepted is not None
            and at_risk_count <= approval.at_risk_accepted
        ):
            return approval
    return None
