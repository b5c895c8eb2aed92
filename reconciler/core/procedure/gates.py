"""What may hold a step back although its facts are ready: approvals, the window, the keystore, the trust of the new
certificate, partners half-way, and the holds before a rollout starts. Each gate is a named check; ``decide``, ``plan`` and the drift findings read
the same functions (:func:`approval_missing`, :func:`window_state`, :func:`rotating`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from reconciler.core.actions import ActionKind
from reconciler.core.codes import Code
from reconciler.core.events import EventKind
from reconciler.core.phase import Phase
from reconciler.core.procedure.given import Given
from reconciler.core.procedure.verdicts import Change, Check, Emit, Failed, Passed, Stuck, Unknown, Verdict
from reconciler.core.record import Approval, RolloutRecord
from reconciler.core.said import Said
from reconciler.core.spec import ManagedServer, Mode
from reconciler.core.window import describe, window_state

__all__ = [
    "Gate",
    "GateKind",
    "abort",
    "aborted_here",
    "approval",
    "approval_missing",
    "at_risk_accepted",
    "enforcing",
    "held_before_start",
    "hooks",
    "keystore",
    "not_aborted",
    "not_suspended",
    "observation_complete",
    "observation_detail",
    "partners_declared",
    "partners_through",
    "replication_known",
    "suspension",
    "trusted",
    "window",
]


class GateKind(StrEnum):
    """How ``plan`` lays a gate on the timeline."""

    APPROVAL = "approval"  # shown while missing; assumed to arrive in time
    WINDOW = "window"  # delays the start to the window's next opening
    PARTNERS = "partners"  # shown; the partner's own timeline decides
    HOLD = "hold"  # not on a timeline (keystore, suspension…: plan says why elsewhere)


@dataclass(frozen=True, slots=True)
class Gate:
    """A named check that may hold a step back. ``kinds``: the actions it holds when it gates an action inside a
    step (empty: every action); ``before_review``: checked before the attempts are reviewed (else only before a new
    attempt starts, so one already running is not affected)."""

    check: Check
    kind: GateKind = GateKind.HOLD
    step: int = 0
    kinds: frozenset[ActionKind] = frozenset()
    before_review: bool = False

    @property
    def name(self) -> str:
        return self.check.__name__

    def holds(self, kind: ActionKind) -> bool:
        return not self.kinds or kind in self.kinds


def observation_detail(given: Given) -> dict[str, object]:
    """The observation's own account of what went wrong (the unusable REST API first), as facts."""
    obs = given.observation
    if obs is None:
        return {}
    if obs.api_error is not None:
        return {"api_error": obs.api_error}
    return {"errors": obs.errors} if obs.errors else {}


def _named(name: str, check: Check) -> Check:
    check.__name__ = check.__qualname__ = name
    return check


# --- approvals -----------------------------------------------------------------------------------------------------


def approval_missing(spec: ManagedServer, record: RolloutRecord | None, step: int) -> bool:
    """``step`` is listed in ``spec.rollout.approvals`` and not approved for the record's rollout and target."""
    if step not in spec.spec.rollout.approvals:
        return False
    return record is None or not any(a.step == step for a in record.current_approvals())


def approval(step: int) -> Gate:
    """Step ``step`` starts only once approved, when the spec lists it. "Approval needed" is announced once per
    step and rollout."""

    def check(given: Given) -> Verdict:
        said = Said(Code.APPROVAL_MISSING, {"step": step, "server": given.name})
        if not approval_missing(given.spec, given.record, step):
            return Passed(said)
        announced = given.facts.approvals_announced
        if step in announced:
            return Failed(said)
        return Failed(
            said,
            change=Change(
                facts={"approvals_announced": (*announced, step)},
                events=(Emit(EventKind.APPROVAL_NEEDED, said, {"step": step}),),
            ),
        )

    return Gate(_named(f"approval_of_step_{step}", check), GateKind.APPROVAL, step=step)


def at_risk_accepted(
    record: RolloutRecord, step: int, at_risk_count: int, names: tuple[str, ...] | None = None
) -> Approval | None:
    """An ``approve --step N --accept-at-risk`` for this rollout that still covers the clients at risk now: one
    for ``step`` that accepted at least ``at_risk_count`` clients — or one for an earlier step that accepted, by
    name, every client at risk now (``names``: all of them, by name; None when they are not all known): the
    same offline laptops are not accepted twice."""
    approvals = record.current_approvals()
    for given in reversed(approvals):
        if (
            given.step == step
            and given.accept_at_risk
            and given.at_risk_accepted is not None
            and at_risk_count <= given.at_risk_accepted
        ):
            return given
    if names is None or len(names) != at_risk_count:
        return None
    wanted = set(names)
    for given in reversed(approvals):
        if (
            given.step < step
            and given.accept_at_risk
            and given.names_complete
            and wanted <= set(given.at_risk_names)
        ):
            return given
    return None


# --- the certificate update: window and keystore --------------------------------------------------------------------


def _swap_began(given: Given) -> bool:
    return given.facts.certificate_changed_at is not None


def _window(given: Given) -> Verdict:
    """The maintenance window is open now (or there is none, or the certificate already changed)."""
    spec_window = given.rollout.window
    state = window_state(spec_window, given.now)
    said = Said(
        Code.WINDOW_CLOSED,
        {"window": describe(spec_window), "opens": state.next_opens_at, "error": state.error},
    )
    if state.open or _swap_began(given):
        return Passed(said)
    return Failed(said, until=state.next_opens_at)


def _keystore(given: Given) -> Verdict:
    """The keystore step 4 installs can be used (or none is declared, or the certificate already changed)."""
    said = Said(Code.KEYSTORE_UNUSABLE, {"error": given.keystore_error})
    if given.keystore_error is None or _swap_began(given):
        return Passed(said)
    return Failed(said)


def _hooks(given: Given) -> Verdict:
    """Every hook of the spec can run (its program and scripts found, executable) — checked before a rollout
    starts, so that a missing step-4 program is not found out after days of soak."""
    said = Said(Code.HOOK_UNUSABLE, {"error": given.hook_error})
    return Passed(said) if given.hook_error is None else Failed(said)


hooks = Gate(_named("hooks", _hooks))


def _planned_swap(given: Given) -> datetime:
    """The earliest moment the certificate can change (reconciler clock): now, or the timeline's swap."""
    from reconciler.core.procedure.timeline import timeline  # the timeline reads the gates: imported on use

    offset = given.now - given.manager_time if given.manager_time is not None else timedelta(0)
    laid = timeline(given.procedure, given.spec, given.record, now=given.now, offset=offset)
    return max(given.now, laid.swap_at or given.now)


def _trusted(given: Given) -> Verdict:
    """The desired certificate will be trusted on the API port once served (it chains to ``caBundle`` or the system
    store, names the host of ``apiUrl``, is valid at the planned swap) — or the certificate already changed."""
    trust = given.trust
    if trust is None or _swap_began(given):
        return Passed(Said(Code.NEW_CERTIFICATE_UNTRUSTED, {"server": given.name}))
    facts: dict[str, object] = {
        "server": given.name,
        "host": trust.host,
        "anchors": trust.anchors,
        "issuer": trust.issuer,
        "problem": trust.problem,
    }
    if trust.problem is not None:
        return Failed(Said(Code.NEW_CERTIFICATE_UNTRUSTED, facts))
    swap = _planned_swap(given)
    if not trust.valid_at(swap) or not trust.valid_at(given.now):
        facts |= {"swap": swap, "not_before": trust.not_before, "not_after": trust.not_after}
        return Failed(Said(Code.NEW_CERTIFICATE_UNTRUSTED, facts))
    return Passed(Said(Code.NEW_CERTIFICATE_UNTRUSTED, facts))


window = Gate(_named("window", _window), GateKind.WINDOW, kinds=frozenset({ActionKind.UPDATE_CERTIFICATE}))
keystore = Gate(_named("keystore", _keystore), kinds=frozenset({ActionKind.UPDATE_CERTIFICATE}))
trusted = Gate(_named("new_certificate_trusted", _trusted), kinds=frozenset({ActionKind.UPDATE_CERTIFICATE}))


# --- partners ------------------------------------------------------------------------------------------------------


def _partners_through(given: Given) -> Verdict:
    """A partnership is restored only when no managed server on either side of it sits half-way through its
    rollout: not a partner site's server, and not another server of this site either — the site is one database, so
    its partnership is theirs too, and a server of the site still in steps 1-6 would see replication come back under
    it (``ReplicationReestablished``, a stall after the swap). Both sides must have reached the step that restores
    it."""
    waiting = [
        (site, record.server, record.step, record.working_phase.value)
        for site in given.facts.partners
        if (record := given.partners.get(site)) is not None and given.procedure.rotating(record)
    ]
    here = given.site
    if here is not None and given.facts.partners:
        waiting += [
            (here.name, name, record.step, record.working_phase.value)
            for name, record in sorted(here.peers.items())
            if name != given.name and given.procedure.rotating(record)
        ]
    said = Said(Code.PARTNER_ROTATING, {"waiting": tuple(waiting)})
    if not waiting:
        return Passed(said)
    return Failed(said, until=given.later(given.tuning.waiting_interval))


# --- the holds before a rollout starts -----------------------------------------------------------------------------


def suspension(record: RolloutRecord | None, server: str) -> Said | None:
    """The suspension holding ``record`` (``Suspended``), or None."""
    s = record.suspension if record is not None else None
    if s is None:
        return None
    return Said(Code.SUSPENDED, {"by": s.by, "at": s.at, "reason": s.reason, "server": server})


def abort(record: RolloutRecord | None, server: str) -> Said | None:
    """The abort holding ``record`` (``Aborted``), or None."""
    a = record.aborted if record is not None else None
    if a is None:
        return None
    return Said(Code.ABORTED, {"by": a.by, "at": a.at, "reason": a.reason, "server": server})


def held_before_start(spec: ManagedServer, record: RolloutRecord | None) -> Said | None:
    """Why a rollout towards the desired certificate would not start, as far as the spec and the record tell (the
    drift report asks offline): a suspension, report mode, an abort, the approval of the first step missing."""
    if (held := suspension(record, spec.name)) is not None:
        return held
    if spec.spec.rollout.mode is Mode.REPORT:
        return Said(Code.REPORT_MODE)
    if (held := abort(record, spec.name)) is not None:
        return held
    if approval_missing(spec, record, 1):
        return Said(Code.APPROVAL_MISSING, {"step": 1, "server": spec.name})
    return None


def _not_suspended(given: Given) -> Verdict:
    held = suspension(given.record, given.name)
    return Passed(Said(Code.SUSPENDED)) if held is None else Failed(held)


def _enforcing(given: Given) -> Verdict:
    said = Said(Code.REPORT_MODE)
    return Failed(said) if given.rollout.mode is Mode.REPORT else Passed(said)


def aborted_here(given: Given) -> bool:
    """The rollout was aborted for the current desired certificate and spec revision."""
    aborted = given.record.aborted
    return aborted is not None and (aborted.target, aborted.revision) == (given.desired, given.revision)


def _not_aborted(given: Given) -> Verdict:
    held = abort(given.record, given.name)
    return Failed(held) if held is not None and aborted_here(given) else Passed(Said(Code.ABORTED))


def _replication_known(given: Given) -> Verdict:
    said = Said(Code.OBSERVATION_UNKNOWN, {"what": "replication", **observation_detail(given)})
    if given.observation is None or given.observation.replication is None:
        return Unknown(said)
    return Passed(said)


def _partners_declared(given: Given) -> Verdict:
    """The manager replicates with no site the spec does not declare (step 7 would restore a partnership while that
    partner is half-rotated). Held first; a rollout already held in ``drifted`` stalls on it."""
    replication = given.obs.replication
    declared = set(given.spec.spec.replication.partners)
    undeclared = tuple(sorted(replication.partner_names - declared)) if replication is not None else ()
    said = Said(Code.UNDECLARED_PARTNER, {"server": given.name, "names": undeclared})
    if not undeclared:
        return Passed(said)
    if given.record.working_phase is Phase.DRIFTED:
        return Stuck(said)
    return Failed(said)


def _observation_complete(given: Given) -> Verdict:
    """A rollout starts only on a complete observation: the groups, the clients, the replication status and the
    manager's clock were all read (an unreadable part is unknown, never a smaller fleet)."""
    obs = given.obs
    parts = [
        name
        for name, value in (
            ("the client groups", obs.groups),
            ("the clients", obs.clients),
            ("the replication status", obs.replication),
            ("the manager's clock", obs.manager_time),
        )
        if value is None
    ]
    said = Said(
        Code.OBSERVATION_UNKNOWN, {"what": "partial", "parts": ", ".join(parts), **observation_detail(given)}
    )
    return Unknown(said) if parts else Passed(said)


not_suspended = Gate(_named("not_suspended", _not_suspended))
enforcing = Gate(_named("enforcing", _enforcing))
not_aborted = Gate(_named("not_aborted", _not_aborted))
replication_known = Gate(_named("replication_known", _replication_known))
observation_complete = Gate(_named("observation_complete", _observation_complete))
partners_declared = Gate(_named("partners_declared", _partners_declared))
partners_through = Gate(
    _named("partners_through", _partners_through),
    GateKind.PARTNERS,
    kinds=frozenset({ActionKind.RESTORE_REPLICATION}),
    before_review=True,
)
