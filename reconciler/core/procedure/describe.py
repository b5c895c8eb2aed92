"""How ``plan`` describes each stage for a given spec: who performs it, what it does, what it waits for."""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.core import wording
from reconciler.core.spec import Action as SpecAction
from reconciler.core.spec import CommandAction, ServerSpec

__all__ = [
    "Described",
    "break_replication",
    "clients_fetch_certificate",
    "disable_verification",
    "enable_verification",
    "nothing",
    "restore_original_list",
    "restore_replication",
    "switch_to_http_list",
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


def _wait(spec: ServerSpec, *, after_swap: bool = False) -> str:
    rules = spec.rollout.clients.rules_after_swap if after_swap else spec.rollout.clients.rules
    what = "checked in since the swap" if after_swap else "with the policy"
    return (
        f"minSoak {wording.span(rules.min_soak)} (manager clock) and ≥ {wording.percent(rules.min_ack_ratio)} of "
        f"eligible clients {what} (maxSoak {wording.span(rules.max_soak)})"
    )


_EVIDENCE = (
    "where the manager does not show a group's list: its policy serial moves after the sub-step began and "
    "{confirm}"
)


def _list_step(spec: ServerSpec, *, to_http: bool) -> Described:
    lists = spec.rollout.management_server_list
    action = (
        spec.rollout.actions.switch_to_http_list if to_http else spec.rollout.actions.restore_original_list
    )
    if lists is None:
        return Described(
            "—",
            "nothing before SEPM 14; from 14 on it needs spec.rollout.managementServerList",
            "the manager's version (read at the start)",
        )
    if lists.skip:
        return Described("—", f"nothing: skipped ({lists.reason})", "nothing")
    name = lists.http if to_http else lists.original
    by = _by(action)
    confirm = "the hook exits 0" if by == "hook" else "an operator confirms (approve)"
    does = f"assign the management server list {name} to every group and location"
    if to_http:
        does += f" (a copy of {lists.original} that uses HTTP)"
    return Described(
        by,
        does,
        f"every managed group reads back {name} ({_EVIDENCE.format(confirm=confirm)})",
    )


def switch_to_http_list(spec: ServerSpec) -> Described:
    return _list_step(spec, to_http=True)


def restore_original_list(spec: ServerSpec) -> Described:
    return _list_step(spec, to_http=False)


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
    return Described(
        "wait", "nothing: clients pick up the policy without verification (and the HTTP list)", _wait(spec)
    )


def update_certificate(spec: ServerSpec) -> Described:
    return Described(
        _by(spec.rollout.actions.update_certificate),
        "install the desired certificate, restart semsrv, semwebsrv, semapisrv",
        "every port presents the desired certificate and the API answers",
    )


def clients_fetch_certificate(spec: ServerSpec) -> Described:
    return Described(
        "wait",
        "nothing: clients check in and receive the new certificate; the ones not back are listed at risk",
        _wait(spec, after_swap=True),
    )


def enable_verification(spec: ServerSpec) -> Described:
    return Described(
        "API",
        "PATCH secure_communications=true on the managed groups",
        "every managed group reads back on with a new policy serial",
    )


def wait_verified(spec: ServerSpec) -> Described:
    return Described(
        "wait", "nothing: clients pick up the policy with verification (and the original list)", _wait(spec)
    )


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
