"""What a decision asks to be done: typed action descriptors, at most one per tick.

The engine pattern-matches on the class and looks at :attr:`~ActionBase.performer`:

* ``API`` — the engine calls the SEPM REST API (:class:`SetVerification`, :class:`ReplicateNow`);
* ``COMMAND`` — the engine runs the user's hook (``command``, ``timeout``) for steps 1, 2a, 4a, 5b and 7;
* ``MANUAL`` — nothing runs: ``instructions`` tell an operator what to do (shown by ``status``); the step completes
  when its effect is observed.

For ``API`` and ``COMMAND`` the decision has already added a *pending* attempt to the record: persist it first, then
act, then record the result with :func:`reconciler.core.record.complete_attempt`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import ClassVar

__all__ = [
    "Action",
    "ActionBase",
    "ActionKind",
    "BreakReplication",
    "GroupTarget",
    "Performer",
    "ReplicateNow",
    "RestoreOriginalList",
    "RestoreReplication",
    "SetVerification",
    "SwitchToHttpList",
    "UpdateCertificate",
]


class Performer(StrEnum):
    API = "api"
    COMMAND = "command"
    MANUAL = "manual"


class ActionKind(StrEnum):
    BREAK_REPLICATION = "break_replication"
    SWITCH_TO_HTTP_LIST = "switch_to_http_list"
    SET_VERIFICATION = "set_verification"
    UPDATE_CERTIFICATE = "update_certificate"
    RESTORE_ORIGINAL_LIST = "restore_original_list"
    RESTORE_REPLICATION = "restore_replication"
    REPLICATE_NOW = "replicate_now"


@dataclass(frozen=True, slots=True)
class GroupTarget:
    """A client group whose ``secure_communications`` flag is PATCHed (at its ``location_id``)."""

    id: str
    path: str
    location_id: str | None
    domain: str | None = None


@dataclass(frozen=True, kw_only=True)
class ActionBase:
    """Common fields. ``step`` is the procedure step whose action this is, 1..7 — a rollback reuses the actions of
    steps 5 (verification on) and 7 (restore replication), so a hook can dispatch on it. ``attempt`` is 1-based (0 for
    manual actions)."""

    kind: ClassVar[ActionKind]
    step: int
    performer: Performer
    summary: str  # one line: "disable certificate verification on 3 groups"
    instructions: str  # what an operator does (manual), or what the command/API call is for
    attempt: int = 0
    max_attempts: int = 0
    command: tuple[str, ...] = ()  # COMMAND only: argv, never secrets
    timeout: timedelta | None = None  # COMMAND and API: how long the action may take


@dataclass(frozen=True, kw_only=True)
class BreakReplication(ActionBase):
    """Step 1: delete the replication partnership with ``partners`` (on both sites)."""

    kind: ClassVar[ActionKind] = ActionKind.BREAK_REPLICATION
    site: str
    partners: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class SwitchToHttpList(ActionBase):
    """Step 2a: assign the management server list ``list_name`` (the HTTP copy) to every group and location."""

    kind: ClassVar[ActionKind] = ActionKind.SWITCH_TO_HTTP_LIST
    list_name: str


@dataclass(frozen=True, kw_only=True)
class RestoreOriginalList(ActionBase):
    """Step 5b (and a rollback): assign the original management server list ``list_name`` again."""

    kind: ClassVar[ActionKind] = ActionKind.RESTORE_ORIGINAL_LIST
    list_name: str


@dataclass(frozen=True, kw_only=True)
class SetVerification(ActionBase):
    """Steps 2 and 5 (and rollback): PATCH ``secure_communications = enabled`` on ``groups``, then read it back."""

    kind: ClassVar[ActionKind] = ActionKind.SET_VERIFICATION
    enabled: bool
    groups: tuple[GroupTarget, ...]


@dataclass(frozen=True, kw_only=True)
class UpdateCertificate(ActionBase):
    """Step 4: install the certificate ``fingerprint`` (from ``keystore_file``) and restart the SEPM services."""

    kind: ClassVar[ActionKind] = ActionKind.UPDATE_CERTIFICATE
    fingerprint: str
    keystore_file: str | None


@dataclass(frozen=True, kw_only=True)
class RestoreReplication(ActionBase):
    """Step 7 (and rollback): add the replication partnership with ``partners`` again."""

    kind: ClassVar[ActionKind] = ActionKind.RESTORE_REPLICATION
    site: str
    partners: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class ReplicateNow(ActionBase):
    """Step 7 (and rollback): ``POST /replication/replicatenow?partnerSiteName=partner`` so success is seen soon."""

    kind: ClassVar[ActionKind] = ActionKind.REPLICATE_NOW
    partner: str


Action = (
    BreakReplication
    | SwitchToHttpList
    | SetVerification
    | UpdateCertificate
    | RestoreOriginalList
    | RestoreReplication
    | ReplicateNow
)
"""Every action a decision can ask for."""
