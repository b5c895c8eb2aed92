"""The rollout record: what the reconciler remembers about one manager, because it cannot be observed.

Observe everything, remember only the rest: which partners we removed, when our policy changes happened (manager
clock), the rollout's target and spec revision, the procedure version it started with, attempts, approvals,
requests from operators — plus a summary of the last observation so ``status`` can answer without the network.

The record is immutable (update with :func:`dataclasses.replace`), versioned (:data:`RECORD_SCHEMA`) and converted
explicitly to and from a JSON-safe mapping (:meth:`RolloutRecord.to_storage` / :meth:`RolloutRecord.from_storage`);
it is never pickled. ``version`` is the store's compare-and-set counter: the version the record was read at
(0 = never stored).

Storage form (schema 3), all times ISO 8601 UTC::

    {"schema": 3, "server": "sepm-east-01", "phase": "waiting_unverified", "version": 7,
     "rollout_id": "r-20261201T0800Z-1a2b3c4d", "target_fingerprint": "sha256:…", "desired_fingerprint": "sha256:…",
     "spec_revision": "3f2a…", "started_revision": "3f2a…", "procedure_version": 1, "started_at": "…",
     "entered_at": "…", "updated_at": "…", "next_check_at": "…", "reason": "waiting for clients: …",
     "code": "ClientsNotReady", "observation_failures": 0,
     "stalled_from": null, "stall": null, "facts": {…}, "attempts": […], "approvals": […],
     "suspension": null, "abort_request": null, "resume_request": null, "aborted": null,
     "pending_action": null, "observed": {…}, "approval_steps": [4]}

Schema 2 added ``code`` (the stable code of ``reason``), ``observation_failures`` (observations in a row that were
not complete: the backoff of the next look) and wrote stall codes as codes (``MaxSoakExceeded``, formerly
``max_soak_exceeded``). Schema 3 added each attempt's ``process`` (the hook's process group, pid, start token and
host: a later reconciler checks whether the attempt still runs before judging it) and the facts of the swap
(``swap_from`` / ``swap_seen`` on the manager's clock: the window that says which clients must come back after it).
Older records are migrated when read (:func:`migrate_schema_1`, :func:`migrate_schema_2`). Keys added since schema 2
without a schema bump (older records lack them, older readers ignore them): ``approval_steps``,
``approvals[].at_risk_names``, ``observed.certificates``, ``observed.at_risk_clients``,
``observed.acknowledgements``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from reconciler.core._migrate import migrate_schema_1, migrate_schema_2
from reconciler.core._storage import Reader, iso, iso_or_none
from reconciler.core.actions import ActionKind, Performer
from reconciler.core.codes import Code
from reconciler.core.observed import ObservedSummary
from reconciler.core.orphans import DEFAULT_RETURN_HEARTBEATS, SwapWindow
from reconciler.core.phase import Phase
from reconciler.errors import StateError

__all__ = [
    "RECORD_SCHEMA",
    "Aborted",
    "Approval",
    "Attempt",
    "AttemptOutcome",
    "CanaryResult",
    "Facts",
    "HookProcess",
    "ListEvidence",
    "ObservedSummary",
    "PendingAction",
    "Request",
    "RolloutRecord",
    "Stall",
    "migrate_schema_1",
    "new_record",
]

RECORD_SCHEMA = 3


class AttemptOutcome(StrEnum):
    PENDING = "pending"  # recorded before acting; no result yet (running, or the process died)
    SUCCEEDED = (
        "succeeded"  # exit status 0 / API call accepted — the step still completes only by observation
    )
    FAILED = "failed"  # non-zero exit, killed on timeout, API error
    LOST = "lost"  # no result ever recorded and the effect not observed after the timeout (a crash)
    INEFFECTIVE = "ineffective"  # reported success, but the effect was not observed in time
    SUPERSEDED = "superseded"  # no result recorded, but the effect was observed: the step moved on

    @property
    def is_failure(self) -> bool:
        return self in (AttemptOutcome.FAILED, AttemptOutcome.LOST, AttemptOutcome.INEFFECTIVE)


@dataclass(frozen=True, slots=True)
class HookProcess:
    """The process group a hook attempt runs in (POSIX; schema 3): recorded before the hook is let go, so a later
    reconciler can tell whether the attempt still runs. ``pgid`` is the group of the hook's watchdog and the hook;
    ``pid`` its leader; ``started`` the leader's start time as the operating system tells it (an opaque token: a
    recycled pid has another one); ``host`` where it runs (a process on another host cannot be checked)."""

    pid: int
    pgid: int
    started: str
    host: str

    def to_storage(self) -> dict[str, Any]:
        return {"pid": self.pid, "pgid": self.pgid, "started": self.started, "host": self.host}

    @classmethod
    def from_storage(cls, r: Reader) -> HookProcess:
        return cls(
            pid=r.integer("pid"), pgid=r.integer("pgid"), started=r.text("started"), host=r.text("host")
        )


@dataclass(frozen=True, slots=True)
class Attempt:
    """One run of a hook or API action, recorded *before* it runs (``PENDING``) and completed afterwards.

    ``deadline`` is when it must have finished (started + timeout). ``subject`` tells apart attempts of the same
    kind in one step (the partner of a ``replicate_now``). Only attempts started since the phase was entered count
    towards ``maxAttempts`` (``resume`` re-enters the phase).
    """

    rollout_id: str
    step: int
    kind: ActionKind
    number: int
    performer: Performer
    started_at: datetime
    deadline: datetime
    subject: str = ""
    outcome: AttemptOutcome = AttemptOutcome.PENDING
    finished_at: datetime | None = None
    exit_code: int | None = None
    detail: str = ""
    process: HookProcess | None = None

    def to_storage(self) -> dict[str, Any]:
        return {
            "rollout_id": self.rollout_id,
            "step": self.step,
            "kind": self.kind.value,
            "number": self.number,
            "performer": self.performer.value,
            "started_at": iso(self.started_at),
            "deadline": iso(self.deadline),
            "subject": self.subject,
            "outcome": self.outcome.value,
            "finished_at": iso_or_none(self.finished_at),
            "exit_code": self.exit_code,
            "detail": self.detail,
            "process": None if self.process is None else self.process.to_storage(),
        }

    @classmethod
    def from_storage(cls, r: Reader) -> Attempt:
        return cls(
            rollout_id=r.text("rollout_id"),
            step=r.integer("step"),
            kind=r.enum("kind", ActionKind),
            number=r.integer("number"),
            performer=r.enum("performer", Performer),
            started_at=r.moment("started_at"),
            deadline=r.moment("deadline"),
            subject=r.text("subject"),
            outcome=r.enum("outcome", AttemptOutcome),
            finished_at=r.opt_moment("finished_at"),
            exit_code=r.opt_integer("exit_code"),
            detail=r.text("detail"),
            process=None if (p := r.opt_child("process")) is None else HookProcess.from_storage(p),
        )


@dataclass(frozen=True, slots=True)
class Approval:
    """A permanent record: ``by`` approved ``step`` of rollout ``rollout_id`` towards ``fingerprint``, because
    ``reason``. With ``accept_at_risk`` (steps 4, 5 and 7 only) the person accepted that up to ``at_risk_accepted``
    clients may be orphaned: the wait before that step may end on ``minSoak`` alone."""

    step: int
    by: str
    reason: str
    at: datetime
    rollout_id: str
    fingerprint: str
    accept_at_risk: bool = False
    at_risk_accepted: int | None = None
    at_risk_names: tuple[str, ...] = ()  # the clients accepted, by name, when every one of them was listed

    @property
    def names_complete(self) -> bool:
        """The accepted clients are known by name, all of them (so a later step can tell the same ones)."""
        return self.at_risk_accepted is not None and len(self.at_risk_names) == self.at_risk_accepted

    def to_storage(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "by": self.by,
            "reason": self.reason,
            "at": iso(self.at),
            "rollout_id": self.rollout_id,
            "fingerprint": self.fingerprint,
            "accept_at_risk": self.accept_at_risk,
            "at_risk_accepted": self.at_risk_accepted,
            # only when given: approvals of records written before names were kept read and show as they were
            **({"at_risk_names": list(self.at_risk_names)} if self.at_risk_names else {}),
        }

    @classmethod
    def from_storage(cls, r: Reader) -> Approval:
        return cls(
            step=r.integer("step"),
            by=r.text("by"),
            reason=r.text("reason"),
            at=r.moment("at"),
            rollout_id=r.text("rollout_id"),
            fingerprint=r.text("fingerprint"),
            accept_at_risk=r.flag("accept_at_risk"),
            at_risk_accepted=r.opt_integer("at_risk_accepted"),
            at_risk_names=r.texts("at_risk_names") if r.has("at_risk_names") else (),
        )


@dataclass(frozen=True, slots=True)
class Request:
    """Who asked for something (suspend, resume, abort), when and why."""

    by: str
    at: datetime
    reason: str = ""

    def to_storage(self) -> dict[str, Any]:
        return {"by": self.by, "at": iso(self.at), "reason": self.reason}

    @classmethod
    def from_storage(cls, r: Reader) -> Request:
        return cls(by=r.text("by"), at=r.moment("at"), reason=r.text("reason"))


@dataclass(frozen=True, slots=True)
class Aborted:
    """A rollout towards ``target`` at spec ``revision`` was aborted: it is not restarted automatically for the same
    pair (``resume`` or a new spec revision does)."""

    by: str
    at: datetime
    reason: str
    target: str
    revision: str

    def to_storage(self) -> dict[str, Any]:
        return {
            "by": self.by,
            "at": iso(self.at),
            "reason": self.reason,
            "target": self.target,
            "revision": self.revision,
        }

    @classmethod
    def from_storage(cls, r: Reader) -> Aborted:
        return cls(
            by=r.text("by"),
            at=r.moment("at"),
            reason=r.text("reason"),
            target=r.text("target"),
            revision=r.text("revision"),
        )


@dataclass(frozen=True, slots=True)
class Stall:
    """Why a rollout needs a human (``reason``), and what to do about it (``remedy``). ``code`` is stable."""

    code: str
    reason: str
    remedy: str
    at: datetime

    def to_storage(self) -> dict[str, Any]:
        return {"code": self.code, "reason": self.reason, "remedy": self.remedy, "at": iso(self.at)}

    @classmethod
    def from_storage(cls, r: Reader) -> Stall:
        return cls(code=r.text("code"), reason=r.text("reason"), remedy=r.text("remedy"), at=r.moment("at"))


@dataclass(frozen=True, slots=True)
class CanaryResult:
    """The canary analysis of this rollout's swap, judged once its clients had their heartbeats to come back (manager
    clock): of the ``cohort`` (every client seen within a heartbeat before the swap, any group, any domain)
    ``returned`` checked in again, ``silent`` did not (the first 100 names). ``passed``: returned / cohort reached
    ``min_ratio``. ``halted``: a failure stalled the rollout (once it is no longer stalled, a person resumed it)."""

    judged_at: datetime
    passed: bool
    cohort: int
    returned: int
    silent: int
    min_ratio: float
    silent_names: tuple[str, ...] = ()
    halted: bool = False

    @property
    def ratio(self) -> float:
        return 1.0 if self.cohort == 0 else self.returned / self.cohort

    def to_storage(self) -> dict[str, Any]:
        return {
            "judged_at": iso(self.judged_at),
            "passed": self.passed,
            "cohort": self.cohort,
            "returned": self.returned,
            "silent": self.silent,
            "min_ratio": self.min_ratio,
            "silent_names": list(self.silent_names),
            "halted": self.halted,
        }

    @classmethod
    def from_storage(cls, r: Reader) -> CanaryResult:
        return cls(
            judged_at=r.moment("judged_at"),
            passed=r.flag("passed"),
            cohort=r.integer("cohort"),
            returned=r.integer("returned"),
            silent=r.integer("silent"),
            min_ratio=r.number("min_ratio"),
            silent_names=r.texts("silent_names"),
            halted=r.flag("halted", default=False),
        )


@dataclass(frozen=True, slots=True)
class PendingAction:
    """The action the last decision asked for, as ``status`` shows it (manual instructions included)."""

    kind: ActionKind
    performer: Performer
    step: int
    summary: str
    instructions: str
    attempt: int = 0

    def to_storage(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "performer": self.performer.value,
            "step": self.step,
            "summary": self.summary,
            "instructions": self.instructions,
            "attempt": self.attempt,
        }

    @classmethod
    def from_storage(cls, r: Reader) -> PendingAction:
        return cls(
            kind=r.enum("kind", ActionKind),
            performer=r.enum("performer", Performer),
            step=r.integer("step"),
            summary=r.text("summary"),
            instructions=r.text("instructions"),
            attempt=r.integer("attempt"),
        )


class ListEvidence(StrEnum):
    """How a list sub-step (2a, 5b) was seen done — what ``plan``, ``status`` and the log say it rests on."""

    STARTED = "started"  # the sub-step began; it is not done yet
    READ_BACK = "read_back"  # every managed group reads the list back in its settings
    SERIAL_AND_HOOK = "serial_and_hook"  # the settings do not show lists: serials moved and the hook exited 0
    SERIAL_AND_CONFIRMED = "serial_and_confirmed"  # … serials moved and an operator confirmed (approve)
    SKIPPED = "skipped"  # spec.rollout.managementServerList.skip
    NOT_NEEDED = "not_needed"  # a manager before SEPM 14 (KB 187099 is for 14 and later)

    @property
    def switched(self) -> bool:
        """The clients' list was (or may have been) changed: a rollback puts the original back."""
        return self not in (ListEvidence.SKIPPED, ListEvidence.NOT_NEEDED)


@dataclass(frozen=True, slots=True)
class Facts:
    """What happened during the rollout that cannot be observed afterwards. Times marked (manager) are on the
    manager's clock; the others on the reconciler's.

    * ``original_fingerprints`` — what each port presented when the rollout started (to see the swap happen);
    * ``partners`` — the declared replication partners when step 1 began: restored in step 7 (or on rollback);
    * ``verification_before`` — each managed group's flag (by group id) when step 2 began: restored on rollback;
    * ``step_started_manager_time`` — (manager) when the current step 2, 5 or 7 began: policy serials must move
      after it, replication must succeed after it;
    * ``verification_off_at`` / ``verification_on_at`` — (manager) the change times clients must acknowledge;
    * ``certificate_changed_at`` — when a port was first seen presenting another certificate: the point of no return;
    * ``replicate_requested`` — (manager) when ``replicatenow`` was last asked, per partner;
    * ``approvals_announced`` — steps whose "approval needed" event was already emitted;
    * ``rollback_reason`` — why the rollout is being rolled back;
    * ``swap_from`` — (manager) when step 4 began: clients seen within a heartbeat before it must come back after
      the swap (:mod:`reconciler.core.orphans`);
    * ``swap_seen`` — (manager) when a port was first seen presenting another certificate; clients eligible then
      stay eligible for every wait after the swap;
    * ``verification_off_noop`` / ``verification_on_noop`` — the managed groups whose flag already read as wanted
      when step 2 / step 5 completed (nothing was sent to them): their clients acknowledge by applying their group's
      current policy; ``settled_groups`` those reading as wanted when the current step 2 or 5 was entered
      (``settled_entry``: that entry's time);
    * ``partners_broken`` — this rollout broke replication (step 1 done) and has not begun restoring it (step 7):
      a partner replicating again meanwhile is a revert;
    * ``recovery`` — the rollout was opened from observation alone (the served certificate is the desired one but
      the end state is not: verification off, a partner not replicating);
    * ``list_switch`` / ``list_restore`` — how step 2a (the HTTP list) and 5b (the original list) were seen done
      (:class:`ListEvidence`), or that they began;
    * ``list_switched_at`` / ``list_restored_at`` — (manager) the change times of 2a and 5b clients must have too;
    * ``certificate_served_at`` — (manager) when every port was first seen presenting the target: step 4b counts
      the clients that checked in since;
    * ``verification_unchanged`` — the managed groups (ids) 2b sent nothing to when it last passed, their flag
      already off: their clients count against their group's current policy in step 3;
    * ``domains`` — the domains (names) whose clients the rollout counted: one the credentials no longer see is a
      hold (``DomainNotVisible``), never a smaller fleet;
    * ``canary`` — the canary analysis of the swap (:class:`CanaryResult`), once judged.
    """

    original_fingerprints: Mapping[str, str | None] = field(default_factory=dict)
    partners: tuple[str, ...] = ()
    verification_before: Mapping[str, bool | None] = field(default_factory=dict)
    step_started_manager_time: datetime | None = None
    verification_off_at: datetime | None = None
    verification_on_at: datetime | None = None
    certificate_changed_at: datetime | None = None
    replicate_requested: Mapping[str, datetime] = field(default_factory=dict)
    approvals_announced: tuple[int, ...] = ()
    rollback_reason: str | None = None
    swap_from: datetime | None = None
    swap_seen: datetime | None = None
    recovery: bool = False
    partners_broken: bool = False
    verification_off_noop: tuple[str, ...] = ()
    settled_groups: tuple[str, ...] = ()
    settled_entry: datetime | None = None
    verification_on_noop: tuple[str, ...] = ()

    list_switch: ListEvidence | None = None
    list_restore: ListEvidence | None = None
    list_switched_at: datetime | None = None
    list_restored_at: datetime | None = None
    certificate_served_at: datetime | None = None
    verification_unchanged: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()
    canary: CanaryResult | None = None

    def swap_window(
        self,
        heartbeat: timedelta,
        exclude_offline_for: timedelta,
        heartbeats: int = DEFAULT_RETURN_HEARTBEATS,
    ) -> SwapWindow | None:
        """The window the clients of the swap are judged against, once the swap was seen (None before)."""
        if self.swap_seen is None:
            return None
        swap_from = self.swap_from if self.swap_from is not None else self.swap_seen
        return SwapWindow(swap_from, self.swap_seen, heartbeat, exclude_offline_for, heartbeats)

    def to_storage(self) -> dict[str, Any]:
        return {
            "original_fingerprints": dict(self.original_fingerprints),
            "partners": list(self.partners),
            "verification_before": dict(self.verification_before),
            "step_started_manager_time": iso_or_none(self.step_started_manager_time),
            "verification_off_at": iso_or_none(self.verification_off_at),
            "verification_on_at": iso_or_none(self.verification_on_at),
            "certificate_changed_at": iso_or_none(self.certificate_changed_at),
            "replicate_requested": {key: iso(value) for key, value in self.replicate_requested.items()},
            "approvals_announced": list(self.approvals_announced),
            "rollback_reason": self.rollback_reason,
            "swap_from": iso_or_none(self.swap_from),
            "swap_seen": iso_or_none(self.swap_seen),
            "recovery": self.recovery,
            "partners_broken": self.partners_broken,
            "verification_off_noop": list(self.verification_off_noop),
            "settled_groups": list(self.settled_groups),
            "settled_entry": iso_or_none(self.settled_entry),
            "verification_on_noop": list(self.verification_on_noop),
            "list_switch": None if self.list_switch is None else self.list_switch.value,
            "list_restore": None if self.list_restore is None else self.list_restore.value,
            "list_switched_at": iso_or_none(self.list_switched_at),
            "list_restored_at": iso_or_none(self.list_restored_at),
            "certificate_served_at": iso_or_none(self.certificate_served_at),
            "verification_unchanged": list(self.verification_unchanged),
            "domains": list(self.domains),
            "canary": None if self.canary is None else self.canary.to_storage(),
        }

    @classmethod
    def from_storage(cls, r: Reader) -> Facts:
        announced = r.items("approvals_announced")
        if not all(isinstance(s, int) and not isinstance(s, bool) for s in announced):
            raise r.fail("approvals_announced", "a list of step numbers")
        return cls(
            original_fingerprints=r.optional_texts("original_fingerprints"),
            partners=r.texts("partners"),
            verification_before=r.optional_flags("verification_before"),
            step_started_manager_time=r.opt_moment("step_started_manager_time"),
            verification_off_at=r.opt_moment("verification_off_at"),
            verification_on_at=r.opt_moment("verification_on_at"),
            certificate_changed_at=r.opt_moment("certificate_changed_at"),
            replicate_requested=r.moments("replicate_requested"),
            approvals_announced=tuple(announced),
            rollback_reason=r.opt_text("rollback_reason"),
            swap_from=r.opt_moment("swap_from"),
            swap_seen=r.opt_moment("swap_seen"),
            recovery=r.flag("recovery", default=False),
            partners_broken=r.flag("partners_broken", default=False),
            verification_off_noop=r.texts("verification_off_noop") if r.has("verification_off_noop") else (),
            settled_groups=r.texts("settled_groups") if r.has("settled_groups") else (),
            settled_entry=r.opt_moment("settled_entry"),
            verification_on_noop=r.texts("verification_on_noop") if r.has("verification_on_noop") else (),
            list_switch=r.opt_enum("list_switch", ListEvidence),
            list_restore=r.opt_enum("list_restore", ListEvidence),
            list_switched_at=r.opt_moment("list_switched_at"),
            list_restored_at=r.opt_moment("list_restored_at"),
            certificate_served_at=r.opt_moment("certificate_served_at"),
            verification_unchanged=r.texts("verification_unchanged"),
            # added without a schema change: absent in records written before them
            domains=r.texts("domains") if r.has("domains") else (),
            canary=CanaryResult.from_storage(r.child("canary")) if r.has("canary") else None,
        )


@dataclass(frozen=True, slots=True)
class RolloutRecord:
    """Everything remembered about one manager. See the module docstring for the storage form."""

    server: str
    phase: Phase
    entered_at: datetime
    updated_at: datetime
    next_check_at: datetime
    version: int = 0
    reason: str = ""
    code: str = Code.NOT_OBSERVED_YET.value  # the stable code of ``reason`` (a string: newer codes read too)
    observation_failures: int = 0  # observations in a row that were not complete (the next look backs off)
    rollout_id: str | None = None
    target_fingerprint: str | None = None
    desired_fingerprint: str | None = None
    spec_revision: str | None = None
    started_revision: str | None = None
    procedure_version: int | None = None
    started_at: datetime | None = None
    stalled_from: Phase | None = None
    stall: Stall | None = None
    facts: Facts = Facts()
    attempts: tuple[Attempt, ...] = ()
    approvals: tuple[Approval, ...] = ()
    suspension: Request | None = None
    abort_request: Request | None = None
    resume_request: Request | None = None
    aborted: Aborted | None = None
    pending_action: PendingAction | None = None
    observed: ObservedSummary | None = None
    # the steps the spec in force wants approved (``spec.rollout.approvals`` read through the table's approval
    # gates) as of the last decision; None in records written before it was kept
    approval_steps: tuple[int, ...] | None = None

    # --- derived views ---------------------------------------------------------------------------------------------

    @property
    def step(self) -> int:
        """1..7 inside the procedure — a stalled rollout keeps the step it stalled in — and 0 outside it (a sub-step
        has its step's number: see :attr:`substep`)."""
        from reconciler.core.procedure.table import STANDARD  # the table reads records: imported on use

        return STANDARD.step_of(self)

    @property
    def substep(self) -> str | None:
        """``"2a"``, ``"4b"``…: the sub-step of the step the rollout is in (looking through a stall), or None."""
        from reconciler.core.procedure.table import STANDARD  # the table reads records: imported on use

        return STANDARD.substep_of(self)

    @property
    def in_sync(self) -> bool:
        return self.phase is Phase.IN_SYNC

    @property
    def stalled(self) -> bool:
        return self.phase is Phase.STALLED

    @property
    def suspended(self) -> bool:
        return self.suspension is not None

    @property
    def working_phase(self) -> Phase:
        """The phase the rollout is in, looking through a stall."""
        return self.stalled_from if self.phase is Phase.STALLED and self.stalled_from else self.phase

    @property
    def acknowledgement_since(self) -> datetime | None:
        """The change time (manager clock) clients must acknowledge now: what the adapter should count against —
        the table says which change each phase counts (steps 3-4 "verification off", 6-7 "verification on")."""
        from reconciler.core.procedure.table import STANDARD  # the table reads records: imported on use

        return STANDARD.acknowledgement_since(self)

    def current_approvals(self) -> tuple[Approval, ...]:
        """Approvals that count for this rollout and its current target."""
        return tuple(
            a
            for a in self.approvals
            if a.rollout_id == self.rollout_id and a.fingerprint == self.target_fingerprint
        )

    # --- storage ---------------------------------------------------------------------------------------------------

    def to_storage(self) -> dict[str, Any]:
        """The JSON-safe form (schema :data:`RECORD_SCHEMA`)."""

        def opt(value: Any) -> Any:
            return None if value is None else value.to_storage()

        return {
            "schema": RECORD_SCHEMA,
            "server": self.server,
            "phase": self.phase.value,
            "version": self.version,
            "entered_at": iso(self.entered_at),
            "updated_at": iso(self.updated_at),
            "next_check_at": iso(self.next_check_at),
            "reason": self.reason,
            "code": self.code,
            "observation_failures": self.observation_failures,
            "rollout_id": self.rollout_id,
            "target_fingerprint": self.target_fingerprint,
            "desired_fingerprint": self.desired_fingerprint,
            "spec_revision": self.spec_revision,
            "started_revision": self.started_revision,
            "procedure_version": self.procedure_version,
            "started_at": iso_or_none(self.started_at),
            "stalled_from": None if self.stalled_from is None else self.stalled_from.value,
            "stall": opt(self.stall),
            "facts": self.facts.to_storage(),
            "attempts": [a.to_storage() for a in self.attempts],
            "approvals": [a.to_storage() for a in self.approvals],
            "suspension": opt(self.suspension),
            "abort_request": opt(self.abort_request),
            "resume_request": opt(self.resume_request),
            "aborted": opt(self.aborted),
            "pending_action": opt(self.pending_action),
            "observed": opt(self.observed),
            "approval_steps": None if self.approval_steps is None else list(self.approval_steps),
        }

    @classmethod
    def from_storage(cls, data: object) -> RolloutRecord:
        """Rebuild a record; a record written by a newer schema, or damaged, raises :class:`StateError`."""
        r = Reader(data, "record")
        schema = r.integer("schema")
        if schema > RECORD_SCHEMA:
            raise StateError(
                f"record of {r.data.get('server')!r} was written with record schema {schema}; this sepm-reconciler "
                f"reads up to {RECORD_SCHEMA}: upgrade sepm-reconciler"
            )
        data = r.data
        if schema < 2:
            data = migrate_schema_1(data)
        if schema < 3:
            data = migrate_schema_2(data)
        r = Reader(data, f"record {r.data.get('server')!r}")

        def child_list(key: str) -> list[Reader]:
            return [Reader(item, f"{r.where}.{key}[{i}]") for i, item in enumerate(r.items(key))]

        stall = r.opt_child("stall")
        suspension = r.opt_child("suspension")
        abort_request = r.opt_child("abort_request")
        resume_request = r.opt_child("resume_request")
        aborted = r.opt_child("aborted")
        pending = r.opt_child("pending_action")
        observed = r.opt_child("observed")
        return cls(
            server=r.text("server"),
            phase=r.enum("phase", Phase),
            version=r.integer("version"),
            entered_at=r.moment("entered_at"),
            updated_at=r.moment("updated_at"),
            next_check_at=r.moment("next_check_at"),
            reason=r.text("reason"),
            code=r.text("code"),
            observation_failures=r.integer("observation_failures"),
            rollout_id=r.opt_text("rollout_id"),
            target_fingerprint=r.opt_text("target_fingerprint"),
            desired_fingerprint=r.opt_text("desired_fingerprint"),
            spec_revision=r.opt_text("spec_revision"),
            started_revision=r.opt_text("started_revision"),
            procedure_version=r.opt_integer("procedure_version"),
            started_at=r.opt_moment("started_at"),
            stalled_from=r.opt_enum("stalled_from", Phase),
            stall=None if stall is None else Stall.from_storage(stall),
            facts=Facts.from_storage(r.child("facts")),
            attempts=tuple(Attempt.from_storage(a) for a in child_list("attempts")),
            approvals=tuple(Approval.from_storage(a) for a in child_list("approvals")),
            suspension=None if suspension is None else Request.from_storage(suspension),
            abort_request=None if abort_request is None else Request.from_storage(abort_request),
            resume_request=None if resume_request is None else Request.from_storage(resume_request),
            aborted=None if aborted is None else Aborted.from_storage(aborted),
            pending_action=None if pending is None else PendingAction.from_storage(pending),
            observed=None if observed is None else ObservedSummary.from_storage(observed),
            approval_steps=_steps(r, "approval_steps"),
        )


def _steps(r: Reader, key: str) -> tuple[int, ...] | None:
    """An optional list of step numbers (absent or null: None — records written before it was kept)."""
    if not r.has(key):
        return None
    steps = r.items(key)
    if not all(isinstance(s, int) and not isinstance(s, bool) for s in steps):
        raise r.fail(key, "a list of step numbers")
    return tuple(steps)


def new_record(server: str, now: datetime) -> RolloutRecord:
    """The record of a manager never seen before: phase ``new``, due now."""
    return RolloutRecord(
        server=server,
        phase=Phase.NEW,
        entered_at=now,
        updated_at=now,
        next_check_at=now,
        reason="not observed yet",
    )
