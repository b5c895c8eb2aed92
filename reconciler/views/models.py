"""What the views show, computed from records and events (pure: no I/O, no clock read — ``now`` is given)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from reconciler.core import wording
from reconciler.core.actions import Performer
from reconciler.core.codes import Code
from reconciler.core.events import Event, EventKind
from reconciler.core.procedure.table import STANDARD
from reconciler.core.record import RolloutRecord
from reconciler.core.sentences import approve_command
from reconciler.core.status import pending_approval

__all__ = [
    "AtRiskRow",
    "NeedsYou",
    "TimelineRow",
    "at_risk_csv",
    "at_risk_rows",
    "needs_you",
    "step_timeline",
]

_REASON = '--reason "WHY"'


@dataclass(frozen=True, slots=True)
class NeedsYou:
    """Something only a person can do now: what, why, and the commands that do it (to copy)."""

    server: str
    what: str
    detail: str
    code: str
    commands: tuple[str, ...] = ()


def needs_you(records: Iterable[RolloutRecord], *, state: str | None = None) -> list[NeedsYou]:
    """Every server waiting for a person: an approval, an acceptance of clients at risk, a manual step, a stall, a
    suspension, a spec problem that holds the rollout. ``state`` is the ``--state`` to put in the commands (None:
    the default, or ``$SEPM_RECONCILER_STATE`` where they run)."""
    where = f" --state {state}" if state else ""
    found: list[NeedsYou] = []
    for record in records:
        name = record.server
        if record.stalled and record.stall is not None:
            found.append(
                NeedsYou(
                    name,
                    f"stalled at step {record.substep or record.step}" if record.step else "stalled",
                    f"{record.stall.reason} — remedy: {record.stall.remedy}",
                    record.stall.code,
                    (f"sepm-reconciler resume {name} {_REASON}{where}",),
                )
            )
        elif record.suspension is not None:
            s = record.suspension
            found.append(
                NeedsYou(
                    name,
                    "suspended",
                    f"by {s.by} at {wording.when(s.at)}: {s.reason}",
                    Code.SUSPENDED.value,
                    (f"sepm-reconciler resume {name} {_REASON}{where}",),
                )
            )
        elif (step := pending_approval(record)) is not None:
            found.append(
                NeedsYou(
                    name,
                    f"step {step} waits for an approval",
                    record.reason,
                    Code.APPROVAL_MISSING.value,
                    (approve_command(name, step).replace("--reason WHY", _REASON) + where,),
                )
            )
        elif record.pending_action is not None and record.pending_action.performer is Performer.MANUAL:
            action = record.pending_action
            commands = [f"sepm-reconciler status{where}"]
            confirm = approve_command(name, action.step)
            if (
                confirm.removesuffix(" --reason WHY") in action.instructions
            ):  # 2a/5b where lists are not shown
                commands.append(confirm.replace("--reason WHY", _REASON) + where)
            found.append(
                NeedsYou(
                    name,
                    f"step {record.substep or action.step} is yours to do by hand: {action.summary}",
                    action.instructions,
                    Code.MANUAL_STEP_PENDING.value,
                    tuple(commands),
                )
            )
        elif record.code == Code.SUSPECTED_ORPHANS.value:
            step = STANDARD.after(record.working_phase)
            command = approve_command(name, step, accept_at_risk=True).replace("--reason WHY", _REASON)
            found.append(
                NeedsYou(
                    name,
                    "clients probably orphaned by the swap: find out why, or accept them",
                    record.reason,
                    record.code,
                    (command + where,),
                )
            )
        elif record.code == Code.CLIENTS_NOT_READY.value:
            step = STANDARD.after(record.working_phase)
            command = approve_command(name, step, accept_at_risk=True).replace("--reason WHY", _REASON)
            found.append(
                NeedsYou(
                    name,
                    f"clients not ready for step {step}: wait, or accept those at risk",
                    record.reason,
                    record.code,
                    (command + where,),
                )
            )
        elif record.code in (
            Code.HOOK_UNUSABLE.value,
            Code.KEYSTORE_UNUSABLE.value,
            Code.CERTIFICATE_UNUSABLE.value,
            Code.UNDECLARED_PARTNER.value,
            Code.NEW_CERTIFICATE_UNTRUSTED.value,
            Code.MANAGEMENT_SERVER_LIST_MISSING.value,
        ):
            found.append(
                NeedsYou(
                    name,
                    "the rollout is held by its spec",
                    record.reason,
                    record.code,
                    ("sepm-reconciler validate --check-secrets",),
                )
            )
    return found


@dataclass(frozen=True, slots=True)
class TimelineRow:
    """One stage a rollout went through: entered when, left when (None: still there), moved by whom, and what a
    person did there (approvals, requests)."""

    title: str
    entered: datetime
    left: datetime | None
    by: str
    code: str | None
    notes: tuple[str, ...] = ()


def _title(event: Event) -> str:
    return "?" if event.to_phase is None else STANDARD.title(event.to_phase)


def step_timeline(record: RolloutRecord | None, events: Sequence[Event]) -> list[TimelineRow]:
    """The stages of the record's rollout (or, between rollouts, of its last one), from the event log."""
    rollouts = [e.rollout_id for e in events if e.rollout_id]
    rollout = (
        record.rollout_id
        if record is not None and record.rollout_id
        else (rollouts[-1] if rollouts else None)
    )
    if rollout is None:
        return []
    mine = [e for e in events if e.rollout_id == rollout]
    moves = [e for e in mine if e.kind is EventKind.TRANSITION and e.from_phase != e.to_phase]
    rows: list[TimelineRow] = []
    for index, move in enumerate(moves):
        left = moves[index + 1].at if index + 1 < len(moves) else None
        number = STANDARD.number_of(move.to_phase) if move.to_phase is not None else 0
        notes = []
        for event in mine:
            if (
                not (move.at <= event.at and (left is None or event.at < left))
                and event.kind is not EventKind.APPROVAL
            ):
                continue
            if event.kind is EventKind.APPROVAL and event.details.get("step") == number + 1:
                notes.append(f"step {number + 1} approved by {event.actor}")
            elif event.kind is EventKind.APPROVAL and event.details.get("step") == number and number:
                notes.append(f"step {number} confirmed by {event.actor}")  # a manual 2a/5b, while it waited
            elif event.kind in (
                EventKind.SUSPENDED,
                EventKind.RESUMED,
                EventKind.RESUME_REQUESTED,
                EventKind.ABORT_REQUESTED,
            ):
                notes.append(f"{event.kind.value.replace('_', ' ')} by {event.actor}")
        rows.append(TimelineRow(_title(move), move.at, left, move.actor, move.code, tuple(notes)))
    return rows


@dataclass(frozen=True, slots=True)
class AtRiskRow:
    name: str
    last_seen: datetime | None
    unseen_for: timedelta | None
    online: bool | None


def at_risk_rows(record: RolloutRecord) -> tuple[list[AtRiskRow], int]:
    """The clients at risk now, by name with their last check-in (while a certificate change is ahead), and how
    many more are counted but not listed."""
    observed = record.observed
    if observed is None or not STANDARD.clients_at_risk(record) or not observed.at_risk_count:
        return [], 0
    clock = observed.manager_time
    rows = [
        AtRiskRow(
            c.name,
            c.last_seen,
            None if clock is None or c.last_seen is None else max(timedelta(0), clock - c.last_seen),
            c.online,
        )
        for c in observed.at_risk_clients
    ]
    if not rows:  # a record written before the list was kept: the names alone
        rows = [AtRiskRow(name, None, None, None) for name in observed.at_risk_names]
    return rows, max(0, observed.at_risk_count - len(rows))


def at_risk_csv(record: RolloutRecord) -> str:
    """The clients at risk as CSV: ``name,last_seen_utc,unseen_hours,online``."""
    rows, _ = at_risk_rows(record)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["name", "last_seen_utc", "unseen_hours", "online"])
    for row in rows:
        writer.writerow(
            [
                _no_formula(row.name),
                "" if row.last_seen is None else row.last_seen.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "" if row.unseen_for is None else f"{row.unseen_for.total_seconds() / 3600:.1f}",
                "" if row.online is None else ("yes" if row.online else "no"),
            ]
        )
    return out.getvalue()


def _no_formula(text: str) -> str:
    """A cell a spreadsheet would run as a formula (=, +, -, @) is quoted as text (CSV injection)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
