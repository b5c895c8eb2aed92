"""How ``plan`` describes each stage for a given spec: who performs it, what it does, what it waits for."""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.core import wording
from reconciler.core.spec import Action as SpecAction
from reconciler.core.spec import CommandAction, ServerSpec

__all__ = [
    "Described",
    "break_replication",
    "disable_verification",
    "enable_verification",
    "nothing",
    "restore_replication",
    "update_certificate",
    "wait_unverified",
    "wait_verified",
]


@dataclass(frozen=True, slots=True)
class Described:
    by: str  # "hook", "manual", "API", "wait", "—"
    does: str
    waits_for: str


def _by(action: SpecAction) -> str:
    return "hook" if isinstance(action, CommandAction) else "manual"


def _partners(spec: ServerSpec) -> str:
    return ", ".join(spec.replication.partners)


def _wait(spec: ServerSpec) -> str:
    policy = spec.rollout.clients
    return (
        f"minSoak {wording.span(policy.min_soak)} (manager clock) and ≥ {wording.percent(policy.min_ack_ratio)} of "
        f"eligible clients with the policy (maxSoak {wording.span(policy.max_soak)})"
    )


def nothing(spec: ServerSpec) -> Described:
    return Described("—", "nothing", "nothing")


def break_replication(spec: ServerSpec) -> Described:
    partners = _partners(spec)
    if not partners:
        return Described("—", "nothing to break (no replication partner declared)", "nothing")
    return Described(
        _by(spec.rollout.actions.break_replication),
        f"delete the replication partnership with {partners}",
        f"{spec.server.site} no longer replicates with {partners} (observed)",
    )


def disable_verification(spec: ServerSpec) -> Described:
    return Described(
        "API",
        "PATCH secure_communications=false on the managed groups",
        "every managed group reads back off with a new policy serial",
    )


def wait_unverified(spec: ServerSpec) -> Described:
    return Described("wait", "nothing: clients pick up the policy without verification", _wait(spec))


def update_certificate(spec: ServerSpec) -> Described:
    return Described(
        _by(spec.rollout.actions.update_certificate),
        "install the desired certificate, restart semsrv, semwebsrv, semapisrv",
        "every port presents the desired certificate and the API answers",
    )


def enable_verification(spec: ServerSpec) -> Described:
    return Described(
        "API",
        "PATCH secure_communications=true on the managed groups",
        "every managed group reads back on with a new policy serial",
    )


def wait_verified(spec: ServerSpec) -> Described:
    return Described("wait", "nothing: clients pick up the policy with verification", _wait(spec))


def restore_replication(spec: ServerSpec) -> Described:
    partners = _partners(spec)
    if not partners:
        return Described(
            "—",
            "nothing to restore (no replication partner declared)",
            "every port presents the target, flags on",
        )
    return Described(
        _by(spec.rollout.actions.restore_replication) + " + API",
        f"add the partnership with {partners}, then replicatenow",
        "partners replicate SUCCEEDED after the restore, verification still on",
    )
