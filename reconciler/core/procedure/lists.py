"""Steps 2a and 5b: the management server list the clients use around the swap (SEPM 14 and later, KB 187099).

Clients cache the server certificate in their management server list: on an HTTPS list they fail TLS when the
certificate changes, flag or no flag. So before verification is turned off (2b) every managed group gets the
HTTP copy of its list (2a, ``rollout.managementServerList.http``), and after verification is on again (5a) the
original list comes back (5b, ``…original``). SEPM has no REST endpoint for lists: a hook or an operator assigns
them (``rollout.actions.switchToHttpList`` / ``restoreOriginalList``), and the step is done by observation:

* where the manager shows a group's list in its settings (``communication_settings.sem_server.name``), when every
  managed group reads that list back (evidence ``read_back``);
* where it does not, when every managed group's policy serial moved after the sub-step began **and** the hook
  exited 0 (``serial_and_hook``) or an operator confirmed with ``approve SERVER --step N`` (``serial_and_confirmed``).

A manager before SEPM 14 needs neither (``not_needed``); ``managementServerList: {skip: true, reason}`` skips them
(``skipped``: every report warns, and every client counts at risk before the swap).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from reconciler.core.actions import ActionKind
from reconciler.core.checks import GroupFlags
from reconciler.core.codes import Code
from reconciler.core.observation import GroupObservation
from reconciler.core.phase import Phase
from reconciler.core.procedure import work
from reconciler.core.procedure.gates import Gate, observation_detail
from reconciler.core.procedure.given import Given
from reconciler.core.procedure.verdicts import Change, Check, Failed, Note, Passed, Stuck, Unknown, Verdict
from reconciler.core.record import AttemptOutcome, ListEvidence
from reconciler.core.said import Said
from reconciler.core.spec import ManagementServerList

__all__ = [
    "RESTORE",
    "SWITCH",
    "ListStep",
    "list_assigned",
    "list_began",
    "list_configured",
    "list_needed",
    "list_restored_in_rollback",
    "list_reverted",
    "restore_list_in_rollback",
    "sepm_major",
]

FIRST_VERSION = 14
"""The first SEPM version the KB's list switch is for."""

_MAJOR = re.compile(r"^\s*(\d+)\.")


def sepm_major(version: str | None) -> int | None:
    """``14`` for ``"14.3.9816.7000"``; None when the version is unknown or not in that form."""
    match = _MAJOR.match(version or "")
    return int(match[1]) if match else None


def list_needed(given: Given) -> bool:
    """The manager is SEPM 14 or later — or its version cannot be read (then it is assumed: the dangerous way)."""
    major = sepm_major(given.observation.api_version if given.observation is not None else None)
    return major is None or major >= FIRST_VERSION


@dataclass(frozen=True, slots=True)
class ListStep:
    """One of the two list sub-steps: what it assigns, where it records how it was seen done, its action."""

    to_http: bool
    phase: Phase  # the stage whose step number approvals and attempts use (a rollback's restore uses 5b's)
    evidence: str  # the fact holding its ListEvidence
    change: str  # the fact holding its change time (manager clock)
    code: Code
    kind: ActionKind
    failed: Code

    def list_name(self, lists: ManagementServerList) -> str:
        name = lists.http if self.to_http else lists.original
        assert name is not None  # noqa: S101 - the model requires both unless skip
        return name

    def evidence_of(self, given: Given) -> ListEvidence | None:
        value = getattr(given.facts, self.evidence)
        return value if isinstance(value, ListEvidence) else None

    def number(self, given: Given) -> int:
        return given.procedure.number_of(self.phase)


SWITCH = ListStep(
    True,
    Phase.SWITCHING_TO_HTTP_LIST,
    "list_switch",
    "list_switched_at",
    Code.LIST_SWITCHED,
    ActionKind.SWITCH_TO_HTTP_LIST,
    Code.SWITCH_LIST_FAILED,
)
RESTORE = ListStep(
    False,
    Phase.RESTORING_ORIGINAL_LIST,
    "list_restore",
    "list_restored_at",
    Code.LIST_RESTORED,
    ActionKind.RESTORE_ORIGINAL_LIST,
    Code.RESTORE_LIST_FAILED,
)


def _named(name: str, check: Check) -> Check:
    check.__name__ = check.__qualname__ = name
    return check


def _unknown(what: str, given: Given, **facts: object) -> Unknown:
    return Unknown(Said(Code.OBSERVATION_UNKNOWN, {"what": what, **facts, **observation_detail(given)}))


# --- the start gate ------------------------------------------------------------------------------------------------


def _list_configured(given: Given) -> Verdict:
    """SEPM 14 and later: ``rollout.managementServerList`` says which lists (or that they are skipped)."""
    version = given.observation.api_version if given.observation is not None else None
    said = Said(Code.MANAGEMENT_SERVER_LIST_MISSING, {"server": given.name, "version": version})
    if given.rollout.management_server_list is not None or not list_needed(given):
        return Passed(said)
    return Failed(said)


list_configured = Gate(_named("management_server_list_configured", _list_configured))


# --- notes ---------------------------------------------------------------------------------------------------------


def list_began(step: ListStep) -> Note:
    """The sub-step began (noted once): a rollback from here on puts the original list back."""

    def note(given: Given) -> Change:
        if step.evidence_of(given) is not None:
            return Change()
        return Change(facts={step.evidence: ListEvidence.STARTED})

    note.__name__ = note.__qualname__ = f"{'switch' if step.to_http else 'restore'}_list_began"
    return note


# --- the done check of 2a and 5b -----------------------------------------------------------------------------------


def _confirmation(given: Given, step: ListStep) -> ListEvidence | None:
    """What backs a serial move where lists are not shown: a hook of this sub-step that exited 0, or an operator's
    ``approve --step N`` — both since the sub-step was entered."""
    record = given.record
    entered = record.entered_at
    for attempt in record.attempts:
        if (
            attempt.rollout_id == record.rollout_id
            and attempt.kind is step.kind
            and attempt.outcome is AttemptOutcome.SUCCEEDED
            and attempt.started_at >= entered
        ):
            return ListEvidence.SERIAL_AND_HOOK
    number = step.number(given)
    if any(a.step == number and a.at >= entered for a in record.current_approvals()):
        return ListEvidence.SERIAL_AND_CONFIRMED
    return None


def _change_time(groups: tuple[GroupObservation, ...]) -> datetime | None:
    times = [g.policy_time for g in groups if g.policy_time is not None]
    return min(times) if times else None


def _passed(
    step: ListStep, said: Said, evidence: ListEvidence, change: datetime | None = None, *, given: Given
) -> Passed:
    facts: dict[str, object] = {step.evidence: evidence, step.change: change}
    if step.to_http and given.manager_time is not None:
        # 2b measures its own policy serials from now: the list switch's serial is not the verification change's
        facts["step_started_manager_time"] = given.manager_time
    return Passed(said.but(evidence=evidence), Change(facts=facts))


def assigned(
    step: ListStep, given: Given, *, started: datetime | None = None, rollback: bool = False
) -> Verdict:
    """Every managed group is on the list ``step`` assigns (see the module docstring for the evidence)."""
    lists = given.rollout.management_server_list
    base = Said(step.code, {"server": given.name, "rollback": rollback})
    if lists is None:
        if not list_needed(given):
            version = given.obs.api_version
            return _passed(step, base.but(version=version), ListEvidence.NOT_NEEDED, given=given)
        if not step.to_http and not _switched(given):
            return _passed(
                step, base, ListEvidence.NOT_NEEDED, given=given
            )  # a rollout that never switched (begun before 2a)
        return Stuck(Said(Code.MANAGEMENT_SERVER_LIST_MISSING, {"server": given.name, "stalls": True}))
    if lists.skip:
        said = Said(Code.LIST_SWITCH_SKIPPED, {"reason": lists.reason}) if step.to_http else base
        return _passed(step, said, ListEvidence.SKIPPED, given=given)
    name = step.list_name(lists)
    flags = given.flags()
    if flags.unknown:
        return _unknown("groups", given)
    if not flags.groups:
        return Stuck(Said(Code.NO_MANAGED_GROUPS, {"chosen": tuple(given.rollout.clients.groups)}))
    started = started or given.facts.step_started_manager_time or given.manager_time
    if started is None:
        return _unknown("clock", given)
    shown = tuple(g for g in flags.groups if g.list_name is not None)
    hidden = tuple(g for g in flags.groups if g.list_name is None)
    wrong = tuple(g for g in shown if g.list_name != name)
    unmoved = tuple(g for g in hidden if g.policy_time is None or g.policy_time < started)
    facts = {
        "list": name,
        "groups": len(flags.groups),
        "shown": len(shown),
        "hidden": GroupFlags.names(hidden) if hidden else "",
        "wrong": GroupFlags.names(wrong) if wrong else "",
        "unmoved": GroupFlags.names(unmoved) if unmoved else "",
        "started": started,
    }
    said = base.but(**facts)
    if not wrong and not hidden:
        return _passed(step, said, ListEvidence.READ_BACK, _change_time(flags.groups), given=given)
    confirmed = _confirmation(given, step) if not wrong and not unmoved else None
    if confirmed is not None:
        return _passed(step, said, confirmed, _change_time(flags.groups), given=given)
    how = (
        given.rollout.actions.switch_to_http_list
        if step.to_http
        else given.rollout.actions.restore_original_list
    )
    return Failed(
        said,
        work=work.assign_list(
            given,
            step.number(given),
            kind=step.kind,
            how=how,
            list_name=name,
            copy_of=lists.original if step.to_http else None,
            waiting=said,
            failed=step.failed,
        ),
    )


def list_assigned(step: ListStep) -> Check:
    """The done check of 2a (``SWITCH``) and 5b (``RESTORE``)."""

    def check(given: Given) -> Verdict:
        return assigned(step, given)

    return _named("http_list_assigned" if step.to_http else "original_list_assigned", check)


def _switched(given: Given) -> bool:
    evidence = given.facts.list_switch
    return evidence is not None and evidence.switched


def restore_list_in_rollback(given: Given) -> Verdict:
    """Rolling back: the original list is put back when 2a switched it (or began to); else nothing to do. Once seen
    done it stays done (:func:`list_restored_in_rollback` records it): the re-join that follows may overwrite the
    groups' settings and serials with the partner's, which the serial evidence could not tell from an undone
    restore."""
    lists = given.rollout.management_server_list
    said = Said(Code.LIST_RESTORED, {"server": given.name, "rollback": True})
    if lists is None or lists.skip or not _switched(given):
        return Passed(said.but(evidence=ListEvidence.NOT_NEEDED))
    recorded = given.facts.list_restore
    if recorded is not None and recorded is not ListEvidence.STARTED:
        return Passed(said.but(evidence=recorded))
    return assigned(RESTORE, given, rollback=True)


def list_restored_in_rollback(given: Given) -> Change:
    """Rolling back: the moment the original list is seen back, how is recorded (a note, noted before the done check
    that goes on to replication)."""
    if given.facts.list_restore not in (None, ListEvidence.STARTED) or given.observation is None:
        return Change()
    verdict = restore_list_in_rollback(given)
    if isinstance(verdict, Passed) and verdict.said.get("evidence") is not ListEvidence.NOT_NEEDED:
        return Change(facts={"list_restore": verdict.said.get("evidence")})
    return Change()


# --- reverts -------------------------------------------------------------------------------------------------------


def _not_on(step: ListStep, given: Given) -> tuple[GroupObservation, ...] | None:
    """The managed groups that show another list than ``step``'s (None: the groups could not be read)."""
    lists = given.rollout.management_server_list
    if lists is None or lists.skip:
        return ()
    flags = given.flags()
    if flags.unknown:
        return None
    name = step.list_name(lists)
    return tuple(g for g in flags.groups if g.list_name is not None and g.list_name != name)


def _never_switched(given: Given) -> bool:
    """A rollout begun before 2a existed (procedure version 1) on a manager that needs the HTTP list."""
    if given.facts.list_switch is not None:
        return False
    lists = given.rollout.management_server_list
    return (lists is None and list_needed(given)) or (lists is not None and not lists.skip)


def list_reverted(step: ListStep, *, before_swap: bool = False, after: Check | None = None) -> Check:
    """While waiting, a managed group shows another list than the one ``step`` assigned: back to that sub-step.
    ``before_swap``: only until a port changed certificate, and — switching — also when the rollout never switched
    (it began before 2a existed). ``after``: only once that check passes (step 7: once replication is restored)."""

    def check(given: Given) -> Verdict:
        to = "http" if step.to_http else "original"
        said = Said(Code.LIST_REVERTED, {"to": to})
        if before_swap and given.facts.certificate_changed_at is not None:
            return Failed(said)
        if after is not None and not isinstance(after(given), Passed):
            return Failed(said)
        off = _not_on(step, given)
        if off is None:
            return _unknown("groups", given)
        never = step.to_http and _never_switched(given)
        if not off and not never:
            return Failed(said)
        if before_swap and _swap_may_run(given):
            return _unknown("list", given, groups=GroupFlags.names(off) if off else "")
        if given.manager_time is None:
            return _unknown("clock", given)
        change = Change(
            facts={"step_started_manager_time": given.manager_time, step.change: None, step.evidence: None}
        )
        return Passed(said.but(groups=GroupFlags.names(off) if off else "", never=never), change)

    name = f"{'http' if step.to_http else 'original'}_list_went_back"
    return _named(name + ("_before_swap" if before_swap else ""), check)


def _swap_may_run(given: Given) -> bool:
    """An attempt of the certificate update of this rollout has no result yet (it may still swap)."""
    record = given.record
    return any(
        a.kind is ActionKind.UPDATE_CERTIFICATE
        and a.rollout_id == record.rollout_id
        and a.outcome is AttemptOutcome.PENDING
        for a in record.attempts
    )
