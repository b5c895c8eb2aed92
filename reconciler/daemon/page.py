"""The read-only status page (``GET /``): what needs a person first (with the commands to copy), then each server —
its step of 7, why it waits, client acknowledgement progress and over time, its clients at risk (all of them, with
their last check-in, and a CSV), the timeline of its rollout — and the recent events.

Rendered by the Jinja2 templates of :mod:`reconciler.views` with autoescaping: every value that comes from outside —
names, reasons, operator texts, hook output, spec errors — is escaped by Jinja2. The page has no script and no
external asset (its CSS is inline, its charts inline SVG), and refreshes itself every ``refresh`` seconds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from reconciler import __version__
from reconciler.core import wording
from reconciler.core.actions import Performer
from reconciler.core.events import Event
from reconciler.core.observation import PORT_NAMES
from reconciler.core.procedure import STANDARD, STEP_TITLES, Phase
from reconciler.core.record import RolloutRecord
from reconciler.daemon.state import DaemonState, Role, ServerRuntime
from reconciler.views import Policy, needs_you, render, server_more

__all__ = ["ServerInfo", "csv_href", "render_page"]


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """What the specs in force say about a server (shown beside its record)."""

    site: str
    api_url: str
    mode: str
    policy: Policy | None = None


def csv_href(server: str) -> str:
    """Where the page links a server's clients at risk as CSV (relative to the page)."""
    return f"servers/{quote(server, safe='')}/at-risk.csv"


def _label(record: RolloutRecord, managed: bool) -> tuple[str, str]:
    """(text, css class) of the state badge."""
    if not managed:
        return "unmanaged", "warn"
    if record.suspended:
        return "suspended", "warn"
    step = record.substep or record.step
    if record.stalled:
        return f"stalled at step {step}/{STANDARD.step_count}" if record.step else "stalled", "bad"
    if record.in_sync:
        return "in sync", "ok"
    if record.step:
        return f"step {step}/{STANDARD.step_count}", "info"
    if record.phase is Phase.NEW:
        return "not observed yet", "info"
    return record.phase.value.replace("_", " "), "warn"


def _cells(record: RolloutRecord) -> list[dict[str, str]]:
    current = record.step
    cells = []
    for number, name in enumerate(STEP_TITLES, start=1):
        if record.in_sync or (current and number < current):
            css = "done"
        elif number == current:
            css = "current" + (" stalled" if record.stalled else "")
        else:
            css = ""
        cells.append({"css": css, "title": f"{number} · {name}"})
    return cells


def _progress(record: RolloutRecord) -> dict[str, Any] | None:
    observed = record.observed
    if record.acknowledgement_since is None:  # no policy change of ours is being acknowledged
        return None
    if observed is None or observed.eligible is None or observed.acknowledged is None:
        return None
    ratio = observed.ack_ratio if observed.ack_ratio is not None else 1.0
    return {
        "eligible": observed.eligible,
        "acknowledged": observed.acknowledged,
        "width": max(0.0, min(100.0, ratio * 100)),
        "text": f"{wording.count(observed.acknowledged)} / {wording.count(observed.eligible)} eligible clients "
        f"acknowledged ({wording.percent(ratio)})",
    }


def _served(record: RolloutRecord) -> str:
    """Each port's fingerprint with its issuer (who signed what clients will have to trust)."""
    observed = record.observed
    assert observed is not None  # noqa: S101 - the caller checked
    parts = []
    for port in PORT_NAMES:
        fingerprint = observed.fingerprints.get(port)
        certificate = observed.certificates.get(port)
        issuer = f" (issuer {certificate.issuer})" if certificate is not None and certificate.issuer else ""
        parts.append(f"{port} {wording.fingerprint(fingerprint)}{issuer}")
    return f"{', '.join(parts)} (observed {wording.when(observed.observed_at)})"


def _rows(
    record: RolloutRecord, info: ServerInfo | None, runtime: ServerRuntime | None
) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    if record.stall is not None:
        rows.append(("remedy", record.stall.remedy))
    if record.suspension is not None:
        s = record.suspension
        rows.append(("suspended", f"by {s.by} at {wording.when(s.at)}: {s.reason}"))
    action = record.pending_action
    if action is not None and action.performer is Performer.MANUAL:
        rows.append((f"to do by hand (step {action.step})", action.instructions))
    if record.abort_request is not None:
        rows.append(("abort", f"requested by {record.abort_request.by}: carried out at the next check"))
    rows.append(("desired", wording.fingerprint(record.desired_fingerprint)))
    if record.observed is not None:
        rows.append(("served", _served(record)))
    rows.append(("next check", wording.when(record.next_check_at)))
    if info is not None and info.mode != "enforce":
        rows.append(("mode", f"{info.mode}: observes and reports, never acts"))
    if runtime is not None and runtime.last_outcome is not None:
        last = f"{runtime.last_outcome}"
        if runtime.last_duration is not None:
            last += f" in {runtime.last_duration:.1f} s"
        if runtime.last_error:
            last += f": {runtime.last_error}"
        rows.append(("last tick", last))
    return rows


def _phase_title(record: RolloutRecord) -> str:
    phase = record.working_phase
    title = STANDARD.title(phase) if record.step else phase.value.replace("_", " ")
    if record.stalled:
        title = f"stalled in {title}"
    return f"{title} (since {wording.when(record.entered_at)})"


def _card(
    record: RolloutRecord,
    info: ServerInfo | None,
    runtime: ServerRuntime | None,
    events: Sequence[Event],
    *,
    managed: bool,
) -> dict[str, Any]:
    text, css = _label(record, managed)
    return {
        "name": record.server,
        "phase": record.phase.value,
        "step": record.step,
        "label": text,
        "css": css,
        "site": f"{info.site} · {info.api_url}"
        if info is not None
        else "not in the specs in force: left as it is",
        "record": True,
        "cells": _cells(record),
        "phase_title": _phase_title(record),
        "reason": record.reason,
        "progress": _progress(record),
        "rows": _rows(record, info, runtime),
        "more": server_more(
            record, events, info.policy if info is not None else None, csv_href=csv_href(record.server)
        ),
    }


def _events(events: Sequence[Event]) -> list[dict[str, Any]]:
    rows = []
    for event in reversed(events):
        move = ""
        if event.from_phase is not None and event.to_phase is not None and event.from_phase != event.to_phase:
            move = f"{event.from_phase.value} → {event.to_phase.value}"
        rows.append(
            {
                "at": event.at,
                "server": event.server,
                "kind": event.kind.value,
                "move": move,
                "actor": event.actor,
                "reason": event.reason,
            }
        )
    return rows


def render_page(
    state: DaemonState,
    *,
    now: datetime,
    records: Sequence[RolloutRecord],
    events: Sequence[Event],
    servers: Mapping[str, ServerInfo | None],
    refresh: int = 10,
    server_events: Mapping[str, Sequence[Event]] | None = None,
    state_url: str | None = None,
) -> str:
    """The whole page. ``servers`` are the servers of the specs in force (by name); records of other servers are
    shown as unmanaged. ``server_events``: each server's recent events (its rollout's timeline); ``state_url``:
    the ``--state`` the copyable commands name."""
    by_name = {r.server: r for r in records}
    if not state.has_specs:  # no specs in force: show what the state holds, nobody is "unmanaged"
        servers = {**{r.server: None for r in records}, **servers}
    own = server_events or {}
    cards: list[dict[str, Any]] = []
    for name in sorted(servers):
        record = by_name.get(name)
        info = servers[name]
        if record is None and info is not None:
            cards.append(
                {
                    "name": name,
                    "phase": "new",
                    "step": 0,
                    "label": "not observed yet",
                    "css": "info",
                    "site": f"{info.site} · {info.api_url}",
                    "record": False,
                }
            )
        elif record is not None:
            cards.append(_card(record, info, state.servers.get(name), own.get(name, ()), managed=True))
    unmanaged = [_card(r, None, None, (), managed=False) for r in records if r.server not in servers]
    in_sync = sum(1 for n in servers if n in by_name and by_name[n].in_sync)
    specs = state.specs
    managed_records = [r for r in records if r.server in servers]
    return render(
        "status.html.j2",
        refresh=max(1, refresh),
        title=f"sepm-reconciler — {in_sync}/{len(servers)} in sync",
        role=state.role.value,
        role_css={Role.LEADER: "ok", Role.STANDBY: "warn"}.get(state.role, "bad"),
        summary=f"{in_sync} of {len(servers)} servers in sync · specs revision {specs.revision or 'none'} · "
        f"updated {wording.when(now)}",
        standby=state.role_reason if state.role is Role.STANDBY else None,
        specs_errors="\n".join(specs.errors) if specs.errors else None,
        rejected_revision=specs.rejected_revision or "unknown revision",
        specs_kept=f"The specs of revision {specs.revision} stay in force; nothing acts on the invalid ones."
        if specs.revision
        else "No valid specs are in force: nothing is reconciled until they are fixed.",
        needs=needs_you(managed_records, state=state_url),
        cards=cards,
        unmanaged=unmanaged,
        step_count=STANDARD.step_count,
        events=_events(events),
        footer=f"sepm-reconciler {__version__} · {state.holder} · read-only; refreshes every {refresh} s · "
        "JSON: /api/status · metrics: /metrics",
    )
