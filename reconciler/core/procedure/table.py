"""The procedure, defined once: one table of stages the machine runs, ``decide`` interprets, ``plan`` lays on a
timeline, the drift findings consult, and the diagram and the docs' step tables are generated from.

Each :class:`Stage` declares its phase and step number, its title, who performs it, what it notes before judging,
the reverts it watches for, its *done* check, where it goes once done (its exits, each gated by the entry gates of
its destination), the gates its action waits on, its soak policy, how often it is looked at, and what it records on
leaving (the done check's verdict carries it). Adding a sub-step is adding a :class:`Stage` (and its checks):
:meth:`Procedure.insert` rewires the exits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType

from reconciler.core.codes import Code
from reconciler.core.observation import Basis, Counting
from reconciler.core.phase import Phase
from reconciler.core.procedure import canary, describe, domains, gates, lists, site, steps
from reconciler.core.procedure.describe import Described
from reconciler.core.procedure.gates import Gate, GateKind
from reconciler.core.procedure.lists import RESTORE, SWITCH
from reconciler.core.procedure.steps import SOAK_FETCHED, SOAK_UNVERIFIED, SOAK_VERIFIED, SoakPolicy
from reconciler.core.procedure.verdicts import Check, Note
from reconciler.core.record import ListEvidence, RolloutRecord
from reconciler.core.spec import ManagedServer, ServerSpec

__all__ = [
    "STALLED_TITLE",
    "STANDARD",
    "Doc",
    "Exit",
    "Pace",
    "Procedure",
    "Revert",
    "Stage",
    "Transition",
    "Unit",
]


class Pace(StrEnum):
    """How soon a server is looked at again while it stays in a stage (see :class:`~.given.Tuning`)."""

    ACTIVE = "active"  # acting or awaiting an action's effect
    WAITING = "waiting"  # soaking, held, stalled, never seen in full
    IDLE = "idle"  # in sync


class Unit(StrEnum):
    """What a stage is done once for when several managed servers serve one site (one SEPM database): the site
    (on the API of its lead, :func:`~.site.site_wide`), each server, or each replication partnership of the site."""

    SITE = "site"
    SERVER = "server"
    PARTNERSHIP = "partnership"


@dataclass(frozen=True, slots=True)
class Revert:
    """While in the stage, ``check`` passing sends the server to ``dest`` (a step before, or a stall)."""

    name: str
    check: Check
    dest: Phase
    text: str  # for the diagram


@dataclass(frozen=True, slots=True)
class Exit:
    """Where the stage leads once its done check passes, tried in order: ``also`` must pass too, and the entry
    gates of ``dest`` must be open — unless ``held``: then the exit is the one taken *because* the exit before it
    is held by a gate (its reason is that gate's). ``closes``: the rollout is over (its working memory is
    forgotten); ``then`` is noted on leaving; ``code`` the move's code when not the done check's."""

    name: str
    dest: Phase
    text: str
    also: tuple[Check, ...] = ()
    code: Code | None = None
    held: bool = False
    closes: bool = False
    then: Note | None = None


@dataclass(frozen=True, slots=True)
class Doc:
    """The stage in the docs' tables (README: what, who, done when; docs/procedure.md: enters, does, leaves)."""

    what: str = ""
    who: str = ""
    done_when: str = ""
    enters: str = ""
    does: str = ""
    leaves: str = ""


@dataclass(frozen=True, slots=True)
class Stage:
    """One row of the table. ``number`` is the user-facing step (1..7, 0 outside the procedure); a sub-step keeps
    its step's number and has a ``sub`` letter."""

    phase: Phase
    title: str
    done: Check
    exits: tuple[Exit, ...]
    number: int = 0
    sub: str = ""
    notes: tuple[Note, ...] = ()
    reverts: tuple[Revert, ...] = ()
    entry: tuple[Gate, ...] = ()  # checked before the stage is entered
    inside: tuple[Gate, ...] = ()  # checked before an action of the stage starts
    soak: SoakPolicy | None = None  # a wait for clients
    acknowledges: SoakPolicy | None = None  # the change clients are counted against while here
    pace: Pace = Pace.ACTIVE
    reversible: bool = False  # before the point of no return: an abort rolls back
    rotating: bool = False  # half-way: a partner does not restore replication with it yet
    verification_off: bool = False  # the rollout keeps certificate verification off here
    point_of_no_return: bool = False  # the stage that changes what clients see
    confirmed_by_approval: bool = False  # a manual action here is confirmed with ``approve --step N``
    stallable: bool = True
    in_rollout: bool = True  # a rollout is under way: a suspension or report mode holds it here
    unit: Unit = Unit.SERVER  # SITE/PARTNERSHIP: done once for the site, its done check wrapped in site_wide
    plan: Callable[[ServerSpec], Described] = describe.nothing
    doc: Doc = field(default_factory=Doc)
    label_text: str = ""

    @property
    def step(self) -> str:
        """``"4"``, ``"4b"``, or ``""`` outside the procedure."""
        return f"{self.number}{self.sub}" if self.number else ""

    @property
    def label(self) -> str:
        """How reasons name where a server is: ``"step 3"``, ``"rolling back"``…"""
        return self.label_text or (f"step {self.step}" if self.number else self.phase.value.replace("_", " "))

    @property
    def heading(self) -> str:
        """``"3 · wait for clients (verification off)"`` for a step, the title otherwise (the diagram's states)."""
        return f"{self.step} · {self.title}" if self.number else self.title


STALLED_TITLE = "stalled (needs a human)"


@dataclass(frozen=True, slots=True)
class Transition:
    """One allowed move of the machine: ``trigger`` from ``source`` to ``dest``, named ``name`` (events, diagram).
    ``advance`` moves are chosen by their guards in table order."""

    trigger: str
    source: Phase
    dest: Phase
    name: str
    text: str
    revert: Revert | None = None
    exit: Exit | None = None


@dataclass(frozen=True)
class Procedure:
    """The table. Immutable; :meth:`insert` returns a new one."""

    stages: tuple[Stage, ...]
    _index: Mapping[Phase, Stage] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", MappingProxyType({s.phase: s for s in self.stages}))
        if Phase.STALLED in self._index:
            raise ValueError("stalled is not a stage: every stallable stage may move there")
        if len(self._index) != len(self.stages):
            raise ValueError("each phase is one stage of the procedure")

    # --- reading the table -----------------------------------------------------------------------------------------

    def stage(self, phase: Phase) -> Stage:
        return self._index[phase]

    def has(self, phase: Phase) -> bool:
        return phase in self._index

    @property
    def phases(self) -> tuple[Phase, ...]:
        """Every state of the machine, in table order (stalled after the stages it can come from)."""
        before = [s.phase for s in self.stages if s.phase is not Phase.ROLLING_BACK]
        after = [s.phase for s in self.stages if s.phase is Phase.ROLLING_BACK]
        return (*before, Phase.STALLED, *after)

    @property
    def steps(self) -> tuple[Stage, ...]:
        """The stages inside the procedure, in order."""
        return tuple(s for s in self.stages if s.number)

    @property
    def step_count(self) -> int:
        """The number of user-facing steps (sub-steps share their step's number)."""
        return max((s.number for s in self.stages), default=0)

    def number_of(self, phase: Phase) -> int:
        """1..7 for the phases of the procedure, 0 outside it (and for phases this table does not know)."""
        stage = self._index.get(phase)
        return stage.number if stage is not None else 0

    def step_of(self, record: RolloutRecord) -> int:
        """The step of a record — a stalled rollout keeps the step it stalled in."""
        return self.number_of(record.working_phase)

    def substep_of(self, record: RolloutRecord) -> str | None:
        """``"2a"``, ``"4b"``…: the sub-step of a record (looking through a stall), None outside sub-steps."""
        stage = self._index.get(record.working_phase)
        return stage.step if stage is not None and stage.sub else None

    def confirms(self, record: RolloutRecord) -> bool:
        """The rollout stands in a stage whose manual action an ``approve`` of its own step confirms."""
        stage = self._index.get(record.working_phase)
        return stage is not None and stage.confirmed_by_approval

    def title(self, phase: Phase) -> str:
        if phase is Phase.STALLED:
            return STALLED_TITLE
        stage = self._index.get(phase)
        return stage.heading if stage is not None else phase.value.replace("_", " ")

    def after(self, phase: Phase) -> int:
        """The step a stage's first forward exit leads to (the step an ``--accept-at-risk`` names)."""
        for exit_ in self.stage(phase).exits:
            number = self.number_of(exit_.dest)
            if number:
                return number
        return 0

    @property
    def point_of_no_return(self) -> Stage:
        return next(s for s in self.stages if s.point_of_no_return)

    def past_no_return(self, phase: Phase) -> bool:
        """``phase`` comes after the stage that changes what clients see."""
        order = [s.phase for s in self.steps]
        point = order.index(self.point_of_no_return.phase)
        return phase in order and order.index(phase) > point

    def rotating(self, record: RolloutRecord) -> bool:
        """Half-rotated: the partner of a server in this phase does not restore their partnership yet."""
        stage = self._index.get(record.working_phase)
        return stage is not None and stage.rotating

    def before_swap(self, record: RolloutRecord) -> bool:
        """Inside the procedure and not past its point of no return: a certificate change is still ahead (or under
        way)."""
        phase = record.working_phase
        return self.number_of(phase) > 0 and not self.past_no_return(phase)

    def clients_at_risk(self, record: RolloutRecord) -> bool:
        """Clients not yet acknowledged are at risk of being orphaned: a certificate change is still ahead, or it was
        made and the wait is for clients to fetch it (4b) before verification comes back. In sync, none is."""
        if self.before_swap(record):
            return True
        policy = self.acknowledging(record)
        return policy is not None and policy.basis is Basis.CHECKIN

    def acknowledging(self, record: RolloutRecord) -> SoakPolicy | None:
        """The change whose acknowledgement clients are counted against now (None: no change of ours)."""
        stage = self._index.get(record.working_phase)
        return stage.acknowledges if stage is not None else None

    def acknowledgement_since(self, record: RolloutRecord) -> datetime | None:
        """The change time (manager clock) clients must acknowledge now: what the adapter counts against."""
        policy = self.acknowledging(record)
        return policy.change_time(record.facts) if policy is not None else None

    def counting(self, record: RolloutRecord | None, spec: ManagedServer) -> Counting:
        """What the adapter counts the clients against now: the change, how, and by which rules. Before the swap a
        skipped list switch makes every client's list unknown: each one is at risk."""
        policy = self.acknowledging(record) if record is not None else None
        clients = spec.spec.rollout.clients
        if policy is None or record is None:
            return Counting(exclude_offline_for=clients.exclude_offline_for)
        lists = spec.spec.rollout.management_server_list
        skipped = lists is not None and lists.skip and record.facts.list_switch is ListEvidence.SKIPPED
        return Counting(
            since=policy.change_time(record.facts),
            basis=policy.basis,
            exclude_offline_for=policy.rules(clients).exclude_offline_for,
            everyone_at_risk=skipped and self.before_swap(record),
        )

    @property
    def accept_at_risk_steps(self) -> tuple[int, ...]:
        """The steps that follow a wait for clients: ``approve --accept-at-risk`` applies to them."""
        return tuple(sorted({self.after(s.phase) for s in self.stages if s.soak is not None}))

    @property
    def approval_gates(self) -> tuple[int, ...]:
        """The steps that start behind an approval gate of the table (whether one is needed: the spec says)."""
        found = {g.step for s in self.stages for g in s.entry if g.kind is GateKind.APPROVAL}
        return tuple(sorted(found))

    def approvals_required(self, spec: ManagedServer) -> tuple[int, ...]:
        """The steps of ``spec``'s rollouts that wait for ``sepm-reconciler approve`` (its
        ``rollout.approvals``, read through the table's approval gates)."""
        return tuple(s for s in self.approval_gates if s in spec.spec.rollout.approvals)

    def moves(self) -> Iterator[Transition]:
        """Every allowed move, in the order the machine tries them."""
        stallable = [s for s in self.stages if s.stallable]
        for stage in self.stages:
            for revert in stage.reverts:
                yield Transition("advance", stage.phase, revert.dest, revert.name, revert.text, revert=revert)
            for exit_ in stage.exits:
                yield Transition("advance", stage.phase, exit_.dest, exit_.name, exit_.text, exit=exit_)
        for stage in stallable:
            yield Transition("stall", stage.phase, Phase.STALLED, "stall", "needs a human")
        for stage in stallable:
            yield Transition("resume", Phase.STALLED, stage.phase, "resume", "resume or new spec revision")
        if self.has(Phase.ROLLING_BACK):
            for source in (*(s.phase for s in self.stages if s.reversible), Phase.STALLED):
                yield Transition(
                    "roll_back", source, Phase.ROLLING_BACK, "abort", "abort (before the certificate changes)"
                )

    # --- changing the table ----------------------------------------------------------------------------------------

    def insert(self, stage: Stage, *, after: Phase) -> Procedure:
        """A table with ``stage`` right after the stage of ``after``: the exits of ``after`` that led where the new
        stage's first exit leads now lead to the new stage."""
        if self.has(stage.phase):
            raise ValueError(f"{stage.phase.value} is already a stage of the procedure")
        onward = stage.exits[0].dest
        rows: list[Stage] = []
        for row in self.stages:
            if row.phase is after:
                exits = tuple(replace(e, dest=stage.phase) if e.dest is onward else e for e in row.exits)
                rows += [replace(row, exits=exits), stage]
            else:
                rows.append(row)
        if stage not in rows:
            raise ValueError(f"{after.value} is not a stage of the procedure")
        return Procedure(tuple(rows))


# --- the vendor's seven steps --------------------------------------------------------------------------------------

_HOLDS = (gates.not_suspended, gates.enforcing, gates.not_aborted)
_START_GATES = (
    *_HOLDS,
    gates.replication_known,
    gates.observation_complete,
    domains.domains_visible,
    gates.partners_declared,
    gates.keystore,
    gates.hooks,
    gates.trusted,
    lists.list_configured,
    gates.approval(1),
    site.site_joinable,
)
_UNEXPECTED = steps.unexpected_certificate(before_allowed=False)
_SPEC_REVERTED = Revert(
    "spec_reverted",
    steps.spec_reverted,
    Phase.ROLLING_BACK,
    "spec reverted to the certificate served before (before the certificate changes)",
)


def _stall(check: Check, text: str) -> Revert:
    return Revert("stall", check, Phase.STALLED, text)


# Replication re-established during steps 2-6: before the certificate changes, step 1 breaks it again; after, a
# person must (a move back past the point of no return is never in the table).
_PARTNER_BACK = Revert(
    "replication_reestablished",
    steps.replication_back_before_swap,
    Phase.BREAKING_REPLICATION,
    "a declared partner replicates again (before the certificate changes)",
)
_PARTNER_BACK_AFTER_SWAP = _stall(
    steps.replication_back_after_swap, "a declared partner replicates again (after the certificate changed)"
)
# An older state (a restored backup) in steps 1-3 while every port already presents the target: forward to step 4.
_SWAP_OBSERVED = Revert(
    "swap_observed",
    steps.certificate_already_served,
    Phase.UPDATING_CERTIFICATE,
    "every port already presents the target (an older state)",
)

# "In sync" is observed, not remembered: every port presents the desired certificate AND every check of
# ``steps.end_state_checks()`` passes (every managed group verifies, every declared partner replicates;
# [vendor-procedure]: every managed group on the original list). Anything else is drift resolved from observation
# alone through the steps that restore it, behind the same gates.
_END_STATE = steps.end_state_checks()
_RESOLVE = (
    Exit(
        "resolve_verification",
        Phase.ENABLING_VERIFICATION,
        "served = desired, a managed group does not verify",
        also=(steps.served_is_desired, steps.groups_not_verifying, steps.open_recovery),
        code=Code.END_STATE_DRIFT,
    ),
    Exit(
        "resolve_replication",
        Phase.RESTORING_REPLICATION,
        "served = desired, groups verify, a declared partner does not replicate",
        also=(
            steps.served_is_desired,
            steps.groups_verify,
            steps.partners_not_replicating,
            steps.open_recovery,
        ),
        code=Code.END_STATE_DRIFT,
    ),
    # hook point [vendor-procedure]: "resolve_original_list" → 5b when a managed group is not on the original list
)


def _sync_exits(*, converged: Code | None, start_held: bool) -> tuple[Exit, ...]:
    exits = []
    if converged is not None:
        exits.append(
            Exit(
                "converged",
                Phase.IN_SYNC,
                "every port presents the desired certificate, every managed group verifies, every declared "
                "partner replicates",
                also=(steps.served_is_desired, *_END_STATE),
                code=converged,
            )
        )
    exits.append(
        Exit(
            "start",
            Phase.BREAKING_REPLICATION,
            "served ≠ desired, nothing holds the rollout",
            also=(steps.served_differs, steps.start_rollout),
            code=Code.ROLLOUT_STARTED,
        )
    )
    exits.extend(_RESOLVE)
    if start_held:
        exits.append(
            Exit(
                "drift",
                Phase.DRIFTED,
                "served ≠ desired, rollout held",
                also=(steps.served_differs,),
                held=True,
            )
        )
        exits.append(
            Exit(
                "end_state_drift",
                Phase.DRIFTED,
                "served = desired, end state not observed, held",
                also=(steps.end_state_missing,),
                held=True,
            )
        )
    return tuple(exits)


STANDARD = Procedure(
    (
        Stage(
            Phase.NEW,
            "new (not observed yet)",
            done=steps.served_seen,
            exits=_sync_exits(converged=Code.IN_SYNC, start_held=True),
            notes=(steps.open_rollout,),
            pace=Pace.WAITING,
            stallable=False,
            in_rollout=False,
            label_text="not in sync yet",
        ),
        Stage(
            Phase.IN_SYNC,
            "in sync",
            done=steps.served_seen,
            exits=_sync_exits(converged=None, start_held=True),
            notes=(steps.open_rollout,),
            pace=Pace.IDLE,
            stallable=False,
            in_rollout=False,
        ),
        Stage(
            Phase.DRIFTED,
            "drifted (rollout due, held)",
            done=steps.served_seen,
            exits=_sync_exits(converged=Code.CONVERGED, start_held=False),
            notes=(steps.open_rollout,),
            pace=Pace.WAITING,
            in_rollout=False,
            doc=Doc(
                enters="a port presents something else than the spec's certificate and the rollout is held (approval "
                "of step 1, report mode, suspension, an abort)",
                does="nothing",
                leaves="the hold is lifted (→ step 1), or the served certificate matches again (→ `in_sync`)",
            ),
        ),
        Stage(
            Phase.BREAKING_REPLICATION,
            "break replication",
            number=1,
            done=site.site_wide(steps.replication_broken),
            unit=Unit.PARTNERSHIP,
            exits=(
                Exit("replication_broken", Phase.SWITCHING_TO_HTTP_LIST, "no declared partner replicates"),
            ),
            notes=(steps.retarget,),
            reverts=(_SWAP_OBSERVED, _SPEC_REVERTED),
            entry=_START_GATES,
            reversible=True,
            rotating=True,
            plan=describe.break_replication,
            doc=Doc(
                what="break replication with the declared partners",
                who="hook or operator (no API)",
                done_when="no declared partner replicates any more",
                enters="served ≠ desired and nothing holds the rollout (the keystore step 4 installs can be used, "
                "approval of step 1 if required); the declared partners are recorded",
                does="hook or manual instructions: delete the replication partnership with each declared partner",
                leaves="no declared partner appears in `GET /replication/status` any more",
            ),
        ),
        Stage(
            Phase.SWITCHING_TO_HTTP_LIST,
            "switch clients to the HTTP management server list",
            number=2,
            sub="a",
            done=site.site_wide(lists.list_assigned(SWITCH)),
            unit=Unit.SITE,
            exits=(
                Exit(
                    "http_list_assigned",
                    Phase.DISABLING_VERIFICATION,
                    "every managed group is on the HTTP list",
                ),
            ),
            notes=(steps.retarget, steps.start_clock, lists.list_began(SWITCH)),
            reverts=(_SWAP_OBSERVED, _SPEC_REVERTED, _PARTNER_BACK),
            entry=(gates.approval(2),),
            reversible=True,
            rotating=True,
            confirmed_by_approval=True,
            plan=describe.switch_to_http_list,
            doc=Doc(
                what="assign the HTTP copy of the clients' management server list to every group and location "
                "(KB 187099; SEPM 14 and later)",
                who="hook or operator (no API)",
                done_when="every managed group reads back the HTTP list; where the manager does not show lists, its "
                "policy serial moved and the hook exited 0 (or `approve --step 2` confirmed)",
                enters="step 1 done, approval of step 2 if required; the manager's time is recorded",
                does="hook or manual instructions: copy the original list as `managementServerList.http` (HTTP, port "
                "8014) if it does not exist, assign it to all groups and locations",
                leaves="every managed group reads back `managementServerList.http` (evidence `read_back`) — or, where "
                "the settings do not show a list, its policy serial moved after the sub-step began **and** the hook "
                "exited 0 (`serial_and_hook`) or an operator ran `approve --step 2` (`serial_and_confirmed`); "
                "before SEPM 14 nothing to do, `skip` passes with a warning",
            ),
        ),
        Stage(
            Phase.DISABLING_VERIFICATION,
            "disable certificate verification",
            number=2,
            sub="b",
            done=site.site_wide(steps.verification_reads(False)),
            unit=Unit.SITE,
            exits=(
                Exit("verification_disabled", Phase.WAITING_UNVERIFIED, "every managed group reads back off"),
            ),
            notes=(steps.retarget, steps.start_clock, steps.verification_before, steps.flags_on_entry(False)),
            reverts=(
                _SWAP_OBSERVED,
                _SPEC_REVERTED,
                _PARTNER_BACK,
                Revert(
                    "list_reverted",
                    lists.list_reverted(SWITCH),
                    Phase.SWITCHING_TO_HTTP_LIST,
                    "a managed group left the HTTP list",
                ),
            ),
            reversible=True,
            rotating=True,
            verification_off=True,
            plan=describe.disable_verification,
            doc=Doc(
                what="disable server-certificate verification on the managed groups",
                who="the reconciler (REST `PATCH`)",
                done_when="every managed group reads back `false`",
                enters="step 2a done",
                does="`PATCH secure_communications=false` on every managed group (API)",
                leaves="every managed group reads back `false` **and** its policy serial moved after step 2 began "
                "(2a's start: a serial moved by the list counts; a group already off when the step was entered is "
                "left as it is: its clients count against its current policy); the change time (the earliest serial "
                "time of the managed groups) is recorded",
            ),
        ),
        Stage(
            Phase.WAITING_UNVERIFIED,
            "wait for clients (verification off)",
            number=3,
            done=site.site_wide(steps.clients_acknowledged(SOAK_UNVERIFIED)),
            unit=Unit.SITE,
            exits=(
                Exit(
                    "clients_ready",
                    Phase.UPDATING_CERTIFICATE,
                    "minSoak and minAckRatio met, approved, in window",
                ),
            ),
            notes=(steps.retarget,),
            reverts=(
                _SWAP_OBSERVED,
                _SPEC_REVERTED,
                _PARTNER_BACK,
                Revert(
                    "verification_reverted",
                    steps.verification_went_back(SOAK_UNVERIFIED),
                    Phase.DISABLING_VERIFICATION,
                    "a managed group verifies again",
                ),
                Revert(
                    "list_reverted",
                    lists.list_reverted(SWITCH, before_swap=True),
                    Phase.SWITCHING_TO_HTTP_LIST,
                    "a managed group left the HTTP list (or the rollout never switched)",
                ),
            ),
            entry=(gates.approval(3),),
            soak=SOAK_UNVERIFIED,
            acknowledges=SOAK_UNVERIFIED,
            pace=Pace.WAITING,
            reversible=True,
            rotating=True,
            verification_off=True,
            plan=describe.wait_unverified,
            doc=Doc(
                what="wait for clients to apply that policy (both changes of step 2)",
                who="—",
                done_when="`minSoak` elapsed on the manager's clock and acknowledged / eligible ≥ `minAckRatio`",
                enters="step 2b done",
                does="nothing: waits",
                leaves="`minSoak` elapsed since the change time — the later of 2a's and 2b's (manager clock) — "
                "**and** acknowledged / eligible ≥ `minAckRatio`, then the keystore can be used, the new certificate "
                "will be trusted on the API port, approval of step 4 (if required) and the window",
            ),
        ),
        Stage(
            Phase.UPDATING_CERTIFICATE,
            "update the certificate, restart services",
            number=4,
            sub="a",
            done=steps.certificate_served,
            exits=(
                Exit(
                    "certificate_served",
                    Phase.FETCHING_CERTIFICATE,
                    "every port presents the target, API answers",
                ),
            ),
            notes=(steps.certificate_changed, steps.before_swap_seen),
            reverts=(
                _stall(
                    steps.unexpected_certificate(before_allowed=True), "a port presents another certificate"
                ),
                _PARTNER_BACK_AFTER_SWAP,
                _PARTNER_BACK,
                Revert(
                    "verification_reverted",
                    steps.verification_back_before_swap,
                    Phase.DISABLING_VERIFICATION,
                    "a managed group verifies again",
                ),
                Revert(
                    "list_reverted",
                    lists.list_reverted(SWITCH, before_swap=True),
                    Phase.SWITCHING_TO_HTTP_LIST,
                    "a managed group left the HTTP list",
                ),
            ),
            entry=(
                gates.keystore,
                gates.trusted,
                canary.no_canary_halted,
                gates.approval(4),
                gates.window,
                *site.WAVE_GATES,
                site.swap_turn,
            ),
            inside=(
                gates.keystore,
                gates.trusted,
                canary.no_canary_halted,
                gates.window,
                *site.WAVE_GATES,
                site.swap_turn,
            ),
            acknowledges=SOAK_UNVERIFIED,
            reversible=True,
            rotating=True,
            verification_off=True,
            point_of_no_return=True,
            plan=describe.update_certificate,
            doc=Doc(
                what="install the new certificate, restart `semsrv`, `semwebsrv`, `semapisrv`",
                who="hook or operator (no API); approvals and a maintenance window can gate it",
                done_when="every port (clients, console, API) presents the desired fingerprint and the API answers",
                enters="step 3 done",
                does="hook or manual instructions: install the certificate, restart `semsrv`, `semwebsrv`, "
                "`semapisrv`",
                leaves="every port presents the target fingerprint **and** the API answers `version` and accepts our "
                "credentials; the manager's time then is recorded (step 4b counts check-ins from it)",
            ),
        ),
        Stage(
            Phase.FETCHING_CERTIFICATE,
            "clients fetch the new certificate",
            number=4,
            sub="b",
            done=steps.clients_acknowledged(SOAK_FETCHED),
            exits=(
                Exit(
                    "clients_fetched",
                    Phase.ENABLING_VERIFICATION,
                    "eligible clients checked in since the swap (afterSwap rules)",
                ),
            ),
            notes=(canary.judge_canary,),
            reverts=(
                _stall(_UNEXPECTED, "a port presents another certificate"),
                _PARTNER_BACK_AFTER_SWAP,
                _stall(canary.canary_stalls, "the canary analysis of the swap failed (too few clients back)"),
            ),
            soak=SOAK_FETCHED,
            acknowledges=SOAK_FETCHED,
            pace=Pace.WAITING,
            rotating=True,
            verification_off=True,
            plan=describe.clients_fetch_certificate,
            doc=Doc(
                what="wait until the clients checked in and received the new certificate",
                who="—",
                done_when="`afterSwap.minSoak` elapsed and checked in since the swap / eligible ≥ `afterSwap.minAckRatio`",
                enters="step 4a done",
                does="nothing: waits; the clients not back are listed at risk by name",
                leaves="the step-3 rules (each overridable in `rollout.clients.afterSwap`) for the clients whose "
                "`lastUpdateTime` is at or after the moment every port presented the new certificate (manager "
                "clock); the ones not back need `approve --step 5 --accept-at-risk`",
            ),
        ),
        Stage(
            Phase.ENABLING_VERIFICATION,
            "enable certificate verification",
            number=5,
            sub="a",
            done=site.site_wide(steps.verification_reads(True)),
            unit=Unit.SITE,
            exits=(
                Exit(
                    "verification_enabled", Phase.RESTORING_ORIGINAL_LIST, "every managed group reads back on"
                ),
            ),
            notes=(steps.start_clock, steps.flags_on_entry(True)),
            reverts=(_stall(_UNEXPECTED, "a port presents another certificate"), _PARTNER_BACK_AFTER_SWAP),
            entry=(*_HOLDS, canary.canary_judged, gates.approval(5), site.site_swapped),
            inside=(site.site_swapped,),
            acknowledges=SOAK_FETCHED,
            rotating=True,
            verification_off=True,
            plan=describe.enable_verification,
            doc=Doc(
                what="re-enable verification",
                who="the reconciler (REST `PATCH`)",
                done_when="every managed group reads back `true`",
                enters="step 4b done",
                does="`PATCH secure_communications=true` on every managed group (API)",
                leaves="every managed group reads back `true` with a policy serial newer than the step's start (a "
                "group already verifying when the step was entered is left as it is: its clients count against its "
                "current policy); the new change time is recorded",
            ),
        ),
        Stage(
            Phase.RESTORING_ORIGINAL_LIST,
            "restore the original management server list",
            number=5,
            sub="b",
            done=site.site_wide(lists.list_assigned(RESTORE)),
            unit=Unit.SITE,
            exits=(
                Exit(
                    "original_list_assigned",
                    Phase.WAITING_VERIFIED,
                    "every managed group is on the original list",
                ),
            ),
            notes=(steps.start_clock, lists.list_began(RESTORE)),
            reverts=(_stall(_UNEXPECTED, "a port presents another certificate"), _PARTNER_BACK_AFTER_SWAP),
            acknowledges=SOAK_FETCHED,
            rotating=True,
            confirmed_by_approval=True,
            plan=describe.restore_original_list,
            doc=Doc(
                what="put the original management server list back on every group and location",
                who="hook or operator (no API)",
                done_when="as step 2a, for the original list (`approve --step 5` confirms a manual one)",
                enters="step 5a done; the manager's time is recorded",
                does="hook or manual instructions: assign `managementServerList.original` to all groups and locations",
                leaves="as step 2a, for `managementServerList.original`; its change time is recorded (step 6 waits for "
                "both changes of step 5)",
            ),
        ),
        Stage(
            Phase.WAITING_VERIFIED,
            "wait for clients (verification on)",
            number=6,
            done=site.site_wide(steps.clients_acknowledged(SOAK_VERIFIED)),
            unit=Unit.SITE,
            exits=(Exit("clients_ready", Phase.RESTORING_REPLICATION, "minSoak and minAckRatio met"),),
            reverts=(
                _stall(_UNEXPECTED, "a port presents another certificate"),
                _PARTNER_BACK_AFTER_SWAP,
                Revert(
                    "verification_reverted",
                    steps.verification_went_back(SOAK_VERIFIED),
                    Phase.ENABLING_VERIFICATION,
                    "a managed group no longer verifies",
                ),
                Revert(
                    "list_reverted",
                    lists.list_reverted(RESTORE),
                    Phase.RESTORING_ORIGINAL_LIST,
                    "a managed group left the original list",
                ),
            ),
            entry=(gates.approval(6),),
            soak=SOAK_VERIFIED,
            acknowledges=SOAK_VERIFIED,
            pace=Pace.WAITING,
            rotating=True,
            plan=describe.wait_verified,
            doc=Doc(
                what="wait for clients again",
                who="—",
                done_when="as step 3, for the new change",
                enters="step 5b done",
                does="nothing: waits; clients that stopped checking in since the change are listed",
                leaves="as step 3, for the new change time (the later of 5a's and 5b's); then approval of step 7 if "
                "required",
            ),
        ),
        Stage(
            Phase.RESTORING_REPLICATION,
            "restore replication",
            number=7,
            done=site.site_wide(steps.replication_restored),
            unit=Unit.PARTNERSHIP,
            exits=(
                Exit(
                    "finish",
                    Phase.IN_SYNC,
                    "partners replicate SUCCEEDED, flags still on",
                    also=(steps.target_is_desired,),
                    closes=True,
                ),
                Exit(
                    "finish_superseded",
                    Phase.DRIFTED,
                    "done, but a newer certificate is desired",
                    also=(steps.target_differs,),
                    code=Code.ROLLOUT_SUPERSEDED,
                    closes=True,
                ),
            ),
            notes=(steps.start_clock, steps.restoring_replication),
            reverts=(
                _stall(_UNEXPECTED, "a port presents another certificate"),
                Revert(
                    "verification_reverted",
                    steps.verification_off_after_rejoin,
                    Phase.ENABLING_VERIFICATION,
                    "a managed group no longer verifies",
                ),
                Revert(
                    "list_reverted",
                    lists.list_reverted(RESTORE, after=steps.replication_rejoined),
                    Phase.RESTORING_ORIGINAL_LIST,
                    "a managed group is not on the original list after the re-join",
                ),
            ),
            entry=(*_HOLDS, gates.approval(7)),
            inside=(gates.partners_through,),
            acknowledges=SOAK_VERIFIED,
            plan=describe.restore_replication,
            doc=Doc(
                what="restore replication",
                who="hook or operator, then `replicatenow`",
                done_when="partners replicate `SUCCEEDED` and the flag did not revert",
                enters="step 6 done; the manager's time is recorded",
                does="when every half-rotated partner and every other server of the site have reached step 7: hook "
                "or manual instructions to add each "
                "partnership again; then `replicatenow` per partner (API)",
                leaves="every recorded partner replicates with `SUCCEEDED` after the step began, **then** every "
                "managed group still reads `true` (a re-join overwrites the joining site's settings: if a flag "
                "reverted, back to step 5a) and, where lists are shown, reads the original list by name (else back "
                "to 5b), and every port presents the target",
            ),
        ),
        Stage(
            Phase.ROLLING_BACK,
            "rolling back steps 1-3",
            done=steps.rolled_back,
            exits=(
                Exit(
                    "rolled_back",
                    Phase.IN_SYNC,
                    "restored; served = desired",
                    also=(steps.served_is_desired,),
                    closes=True,
                ),
                Exit(
                    "rolled_back",
                    Phase.DRIFTED,
                    "restored; aborted rollout held",
                    closes=True,
                    then=steps.aborted_event,
                ),
            ),
            notes=(steps.start_clock, steps.restoring_replication, lists.list_restored_in_rollback),
            inside=(gates.partners_through,),
            verification_off=True,
        ),
    )
)
"""The vendor's procedure for SEPM 14 and later (KB 187099): the seven steps, with sub-steps 2a, 2b, 4a, 4b, 5a, 5b,
and the phases around them."""
