"""``plan``: what the reconciler would do for a server, and what remains, with the earliest time for each step.

:func:`plan_server` runs the pure ``decide()`` on a gathered server *without* persisting anything, then lays out the
remaining steps on a timeline: the minimum soaks (on the manager's clock, converted to the reconciler's), the
maintenance window of step 4, and the approvals that are still missing. Times are *earliest*: they assume every
approval is given and every manual step is done the moment it may start, and that clients acknowledge in time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from reconciler.core import wording
from reconciler.core._storage import iso_or_none
from reconciler.core.codes import Code
from reconciler.core.decide import DEFAULT_TUNING, Decision, Tuning, decide
from reconciler.core.observation import PORT_NAMES
from reconciler.core.phase import Phase
from reconciler.core.procedure.table import STANDARD, Procedure
from reconciler.core.procedure.timeline import PlannedStep, timeline
from reconciler.core.record import RolloutRecord
from reconciler.core.requests import carried_forward
from reconciler.core.spec import Mode
from reconciler.core.status import domain_counts, domains_note
from reconciler.engine.gather import Gathered
from reconciler.errors import CertificateError
from reconciler.specs import LoadedServer, desired_fingerprint

__all__ = ["PlannedStep", "ServerPlan", "plan_offline", "plan_server"]


@dataclass(frozen=True, slots=True)
class ServerPlan:
    """The plan of one server. ``changes``: something is pending or in progress; ``error``: it could not be fully
    observed or its spec cannot be used (the plan is then partial)."""

    name: str
    phase: Phase
    step: int
    in_sync: bool
    changes: bool
    reason: str
    desired: str | None
    served: dict[str, str | None]
    code: Code = Code.NOT_OBSERVED_YET
    next_action: str | None = None
    remedy: str | None = None
    steps: tuple[PlannedStep, ...] = ()
    eta: datetime | None = None
    notes: tuple[str, ...] = ()
    error: str | None = None
    rollout_id: str | None = None
    record_phase: Phase | None = None
    substep: str | None = None  # "2a", "4b"… (None outside sub-steps)
    domains: dict[str, dict[str, int | None]] | None = (
        None  # per domain {"eligible", "acknowledged", "at_risk"}
    )

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "phase": self.phase.value,
            "step": self.step,
            "substep": self.substep,
            "in_sync": self.in_sync,
            "changes": self.changes,
            "reason": self.reason,
            "code": self.code.value,
            "remedy": self.remedy,
            "next_action": self.next_action,
            "desired_fingerprint": self.desired,
            "observed_fingerprints": dict(self.served),
            "recorded_phase": None if self.record_phase is None else self.record_phase.value,
            "rollout_id": self.rollout_id,
            "steps": [s.to_json() for s in self.steps],
            "eta": iso_or_none(self.eta),
            "notes": list(self.notes),
            "error": self.error,
            "domains": self.domains or {},
        }


def plan_server(
    gathered: Gathered,
    *,
    now: datetime,
    revision: str,
    tuning: Tuning = DEFAULT_TUNING,
    procedure: Procedure = STANDARD,
) -> ServerPlan:
    """The plan of one gathered server at ``now``. Pure: ``decide()`` is run but nothing is saved; the remaining
    steps are laid out by the procedure's timeline (:mod:`reconciler.core.procedure.timeline`)."""
    name = gathered.name
    spec = gathered.server.spec.spec
    record = gathered.record
    obs = gathered.observation
    served = obs.served_fingerprints() if obs is not None else {}
    recorded = record.phase if record is not None else None
    if gathered.desired is None:
        return ServerPlan(
            name=name,
            phase=recorded or Phase.NEW,
            step=record.step if record else 0,
            in_sync=False,
            changes=True,
            reason=f"cannot plan: {gathered.error}",
            desired=None,
            served=served,
            code=Code.CERTIFICATE_UNUSABLE,
            error=gathered.error,
            record_phase=recorded,
        )
    decision: Decision = decide(
        gathered.server.spec,
        gathered.desired,
        obs,
        record,
        now=now,
        spec_revision=revision,
        partners=gathered.partners,
        site=gathered.site,
        others=gathered.others,
        tuning=tuning,
        observation_error=str(gathered.observation_error) if gathered.observation_error else None,
        keystore_error=gathered.keystore_error,
        hook_error=gathered.hook_error,
        trust=gathered.trust,
        procedure=procedure,
    )
    rec = decision.record
    error = gathered.problem_for(rec)
    working = rec.working_phase
    in_sync = decision.phase is Phase.IN_SYNC
    notes: list[str] = []
    if spec.rollout.mode is Mode.REPORT:
        notes.append("report mode (spec.rollout.mode: report): the reconciler observes and never acts")
    lists = spec.rollout.management_server_list
    if lists is not None and lists.skip:
        notes.append(
            f"the management server list switch is skipped ({lists.reason}): every client counts at risk before the "
            "swap (clients on an HTTPS list fail TLS when the certificate changes)"
        )
    domains = domain_counts(rec)
    if (by_domain := domains_note(domains)) is not None:
        notes.append(by_domain)
    notes += carried_forward(rec)
    if rec.suspension is not None:
        notes.append(
            f"suspended by {rec.suspension.by} ({rec.suspension.reason}): sepm-reconciler resume {name}"
        )
    steps: tuple[PlannedStep, ...] = ()
    eta: datetime | None = None
    if not in_sync and working is not Phase.ROLLING_BACK and error is None:
        offset = now - obs.manager_time if obs is not None and obs.manager_time is not None else timedelta(0)
        held = spec.rollout.mode is Mode.REPORT or rec.suspension is not None
        laid = timeline(procedure, gathered.server.spec, rec, now=now, offset=offset, held=held)
        steps, eta = laid.steps, laid.eta
        if any(s.by.startswith("manual") for s in steps if s.status != "done"):
            notes.append("manual steps wait for an operator: the times shown assume they are done at once")
    elif working is Phase.ROLLING_BACK:
        notes.append("rolling back steps 1-3: verification on again where it was, then replication restored")
    action = decision.action
    if action is not None:
        next_action: str | None = f"{action.summary} ({action.performer.value})"
    elif decision.moved:
        next_action = f"move {(recorded or Phase.NEW).value} → {decision.phase.value}"
    else:
        next_action = None
    return ServerPlan(
        name=name,
        phase=decision.phase,
        step=decision.step,
        in_sync=in_sync and error is None,
        changes=not in_sync,
        reason=decision.reason,
        code=decision.code,
        desired=gathered.desired,
        served=served,
        next_action=next_action,
        remedy=decision.remedy,
        steps=steps,
        eta=eta,
        notes=tuple(notes),
        error=error,
        rollout_id=rec.rollout_id,
        record_phase=recorded,
        substep=procedure.substep_of(rec),
        domains=domains,
    )


def plan_offline(
    server: LoadedServer,
    record: RolloutRecord | None,
    *,
    now: datetime,
    revision: str,
    procedure: Procedure = STANDARD,
) -> ServerPlan:
    """The plan of one server without contacting it (``plan --offline``, a pull request's check without network
    or secrets): the desired certificate from the spec, what was served at the last observation the state keeps
    (none without a state), and the steps a rollout goes through with this spec — approvals, window, soaks. A server
    never observed, or last seen serving another certificate, counts as a change."""
    spec = server.spec
    try:
        desired: str | None = desired_fingerprint(server)
        error = None
    except CertificateError as exc:
        desired, error = None, f"desired certificate: {exc}"
    observed = record.observed if record is not None else None
    served = {port: observed.fingerprints.get(port) for port in PORT_NAMES} if observed is not None else {}
    known = observed is not None and all(served.get(p) is not None for p in PORT_NAMES)
    same = known and desired is not None and all(served[p] == desired for p in PORT_NAMES)
    rotating = record is not None and record.rollout_id is not None
    in_sync = same and not rotating
    if error is not None:
        reason = f"cannot plan: {error}"
    elif observed is None:
        reason = (
            f"never observed (offline: no state, or nothing recorded): a rollout to {wording.fingerprint(desired)} "
            "starts unless the manager already presents it"
        )
    elif in_sync:
        reason = f"in sync as last observed {wording.when(observed.observed_at)} (offline)"
    elif rotating and record is not None:
        reason = f"as last recorded {wording.when(record.updated_at)} (offline): {record.reason}"
    else:
        shown = ", ".join(f"{p} {wording.fingerprint(served.get(p))}" for p in PORT_NAMES)
        reason = (
            f"last observed {wording.when(observed.observed_at)} serving {shown} (offline); the spec wants "
            f"{wording.fingerprint(desired)}: a rollout starts"
        )
    steps: tuple[PlannedStep, ...] = ()
    eta = None
    notes = ["offline: nothing was contacted; times assume the rollout starts now"]
    if not in_sync and error is None:
        held = spec.spec.rollout.mode is Mode.REPORT or (record is not None and record.suspension is not None)
        laid = timeline(procedure, spec, record if rotating else None, now=now, held=held)
        steps, eta = laid.steps, laid.eta
        if spec.spec.rollout.mode is Mode.REPORT:
            notes.append("report mode (spec.rollout.mode: report): the reconciler observes and never acts")
    return ServerPlan(
        name=server.name,
        phase=record.phase if record is not None else Phase.NEW,
        step=record.step if record is not None else 0,
        in_sync=in_sync,
        changes=not in_sync,
        reason=reason,
        desired=desired,
        served=served,
        code=_code(record, in_sync),
        steps=steps,
        eta=eta,
        notes=tuple(notes),
        error=error,
        rollout_id=record.rollout_id if record is not None else None,
        record_phase=record.phase if record is not None else None,
        substep=procedure.substep_of(record) if rotating and record is not None else None,
    )


def _code(record: RolloutRecord | None, in_sync: bool) -> Code:
    if in_sync:
        return Code.IN_SYNC
    try:
        return Code(record.code) if record is not None else Code.NOT_OBSERVED_YET
    except ValueError:  # a code of a newer version
        return Code.UNRECORDED
