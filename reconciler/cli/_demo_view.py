"""What ``sepm-reconciler demo`` shows: live progress per server (step k/7, phase, client acknowledgement, why),
the at-risk predictions made before each certificate swap (4a) and before verification comes back (5a), and the
simulator's ground truth checked against them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text

from reconciler.core import wording
from reconciler.core.events import Event, EventKind
from reconciler.core.observation import Basis
from reconciler.core.procedure.table import STANDARD
from reconciler.core.record import RolloutRecord

__all__ = ["GroundTruth", "Predictions", "check_ground_truth", "event_line", "progress_table"]


def _steps(record: RolloutRecord) -> Text:
    done = 7 if record.in_sync else max(0, record.step - 1)
    current = record.step if not record.in_sync else 0
    text = Text()
    for number in range(1, 8):
        if number <= done:
            text.append("■", style="green")
        elif number == current:
            text.append("■", style="red" if record.stalled else "cyan")
        else:
            text.append("□", style="dim")
    label = (
        "in sync"
        if record.in_sync
        else f"{record.substep or record.step}/{STANDARD.step_count}"
        if record.step
        else record.phase.value
    )
    text.append(f" {label}")
    return text


def _clients(record: RolloutRecord) -> Text:
    observed = record.observed
    if record.acknowledgement_since is None or observed is None or not observed.eligible:
        return Text("—", style="dim")
    acknowledged = observed.acknowledged or 0
    ratio = acknowledged / observed.eligible
    filled = int(ratio * 12)  # rounded down: the bar is full only once every client acknowledged
    text = Text("█" * filled, style="green")
    text.append("░" * (12 - filled), style="dim")
    text.append(
        f" {wording.percent(ratio):>5} {wording.count(acknowledged)}/{wording.count(observed.eligible)}"
    )
    return text


def progress_table(
    records: Sequence[RolloutRecord],
    *,
    manager_time: datetime | None,
    elapsed: float,
    status_url: str,
    width: int = 120,
) -> Group:
    """One row per server (step k/7, phase, acknowledgement bar), then why each one is where it is."""
    clock = f"manager clock {wording.when(manager_time)}" if manager_time else "manager clock …"
    table = Table(title=f"{clock} · {elapsed:.0f} s elapsed", title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("SERVER", no_wrap=True)
    table.add_column("STEP", no_wrap=True)
    table.add_column("PHASE", no_wrap=True)
    table.add_column("CLIENTS ACKNOWLEDGED", no_wrap=True)
    reasons = []
    budget = max(40, (width - 4) * 2)  # about two lines each
    for record in records:
        phase = (
            STANDARD.stage(record.phase).title if record.step and not record.stalled else record.phase.value
        )
        table.add_row(record.server, _steps(record), phase, _clients(record))
        reason = record.reason if len(record.reason) <= budget else record.reason[: budget - 1] + "…"
        line = Text(f"{record.server}: ", style="bold")
        line.append(reason, style="red" if record.stalled else "")
        reasons.append(line)
    return Group(table, *reasons, Text(f"status page: {status_url}", style="dim"))


def event_line(event: Event) -> str | None:
    """A line for a non-interactive terminal (CI logs): moves and actions only."""
    if event.kind is EventKind.TRANSITION and event.to_phase is not None:
        source = event.from_phase.value if event.from_phase else "?"
        return f"{wording.when(event.at)}  {event.server}: {source} → {event.to_phase.value}: {event.reason}"
    if event.kind in (EventKind.ATTEMPT_FINISHED, EventKind.ATTEMPT_FAILED):
        return f"{wording.when(event.at)}  {event.server}: {event.reason}"
    return None


@dataclass
class Predictions:
    """Per server, the clients the reconciler listed at risk in the last observation of each wait that ends in a
    change clients must survive — before the swap (steps 3 and 4a: not on the HTTP list with verification off) and
    before verification comes back (step 4b: not checked in since the swap): ``counts`` in full, summed over the
    two; ``at_risk`` the names the state keeps — the first ones in name order of each (a list may be cut short)."""

    at_risk: dict[str, tuple[str, ...]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    _seen: dict[tuple[str, str], tuple[tuple[str, ...], int]] = field(default_factory=dict, repr=False)

    def update(self, records: Iterable[RolloutRecord]) -> None:
        for record in records:
            observed = record.observed
            acknowledging = STANDARD.acknowledging(record)
            if acknowledging is None or acknowledging.verifying or observed is None:
                continue
            if observed.at_risk_count is None:
                continue
            # before the swap: until a port changed; after it: while clients fetch the certificate (the wait itself)
            fetching = acknowledging.basis is Basis.CHECKIN
            if fetching and STANDARD.stage(record.working_phase).soak is acknowledging:
                slot = "before verification"
            elif not fetching and record.facts.certificate_changed_at is None:
                slot = "before the swap"
            else:
                continue
            self._seen[(record.server, slot)] = (observed.at_risk_names, observed.at_risk_count)
            names = [
                n for (server, _), (kept, _) in self._seen.items() if server == record.server for n in kept
            ]
            self.at_risk[record.server] = tuple(sorted(set(names)))
            self.counts[record.server] = sum(
                count for (server, _), (_, count) in self._seen.items() if server == record.server
            )

    def by_wait(self, server: str) -> dict[str, int]:
        """How many were listed at risk at the end of each wait: ``{"before the swap": n, "before verification": m}``
        (a client may be in both)."""
        return {slot: count for (s, slot), (_, count) in self._seen.items() if s == server}

    def unlisted(self, server: str, clients: Iterable[str]) -> list[str]:
        """Those of ``clients`` that contradict the prediction: more than were counted, or — where the kept names
        reach (each list holds the first names in order) — a name that is not listed."""
        names = set(self.at_risk.get(server, ()))
        complete = all(seen <= len(kept) for (s, _), (kept, seen) in self._seen.items() if s == server)
        reach = max(names, default="")
        return [c for c in clients if c not in names and (complete or c <= reach)]


@dataclass(frozen=True)
class GroundTruth:
    """The simulator's verdict, compared with the predictions."""

    orphaned: dict[str, list[str]]
    offline_untrusting: dict[str, list[str]]  # still offline, still trusting the old certificate
    unpredicted: dict[
        str, list[str]
    ]  # orphaned or offline-untrusting, but not predicted (see Predictions.unlisted)
    predicted_returned: dict[str, list[str]]  # listed at risk, but came back before the swap (acknowledged)
    served_ok: dict[str, bool]
    end_state: dict[str, list[str]] = field(default_factory=dict)  # what is not as it was: list, verification

    @property
    def ok(self) -> bool:
        return (
            all(self.served_ok.values())
            and not any(self.unpredicted.values())
            and not any(self.end_state.values())
        )


def _end_state(manager: Mapping[str, Any], original_list: str | None) -> list[str]:
    """What the rollout did not put back: a group not verifying, a group not on the original list."""
    problems = [f"{g['name']} does not verify" for g in manager["groups"] if not g["secure_communications"]]
    if original_list is not None:
        problems += [
            f"{g['name']} is on {g['list']}" for g in manager["groups"] if g["list"] != original_list
        ]
    return problems


def check_ground_truth(
    state: Mapping[str, Any],
    desired: Mapping[str, str],
    predictions: Predictions,
    *,
    original_list: str | None = None,
) -> GroundTruth:
    """Compare ``GET /_sim/state?clients=true`` with what the reconciler predicted before each swap: every client
    orphaned or still offline with the old certificate must have been counted at risk, and named where the kept
    list of names reaches; and every group verifies again, on ``original_list`` (when given)."""
    orphaned, offline, unpredicted, returned, served_ok, end_state = {}, {}, {}, {}, {}, {}
    for name, manager in state["managers"].items():
        if name not in desired:
            continue
        served = manager["served"]
        served_ok[name] = all(fp == desired[name] for fp in served.values())
        rows = manager.get("client_rows", [])
        lost = sorted(manager["orphaned_clients"])
        away = sorted(
            r["name"]
            for r in rows
            if not r["online"] and not r["orphaned"] and r["trusts"] != served["clients"]
        )
        orphaned[name], offline[name] = lost, away
        count = predictions.counts.get(name, 0)
        wrong = predictions.unlisted(name, [*lost, *away])
        excess = len(lost) + len(away) - count
        if excess > 0:
            wrong.append(f"{excess} more than the {count} counted at risk")
        unpredicted[name] = wrong
        returned[name] = sorted(set(predictions.at_risk.get(name, ())) - set(away) - set(lost))
        end_state[name] = _end_state(manager, original_list)
    return GroundTruth(orphaned, offline, unpredicted, returned, served_ok, end_state)
