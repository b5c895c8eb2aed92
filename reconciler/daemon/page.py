"""The read-only status page (``GET /``): each server, its step of 7, why it waits, client acknowledgement progress,
at-risk clients, and the recent events.

Every value that comes from outside this module — names, reasons, operator texts, hook output, spec errors — goes
through :func:`html.escape` exactly once, in :func:`_e`; the page has no script, no external asset (its CSS is
package data, inlined), and refreshes itself every ``refresh`` seconds.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib import resources
from string import Template

from reconciler import __version__
from reconciler.core import wording
from reconciler.core.actions import Performer
from reconciler.core.events import Event
from reconciler.core.observation import PORT_NAMES
from reconciler.core.procedure import STANDARD, STEP_TITLES, Phase
from reconciler.core.record import RolloutRecord
from reconciler.daemon.state import DaemonState, Role, ServerRuntime

__all__ = ["ServerInfo", "render_page"]

AT_RISK_SHOWN = 12


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """What the specs in force say about a server (shown beside its record)."""

    site: str
    api_url: str
    mode: str


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


@cache
def _asset(name: str) -> str:
    return resources.files("reconciler.daemon").joinpath("templates", name).read_text(encoding="utf-8")


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


def _steps(record: RolloutRecord) -> str:
    current = record.step
    stalled = " stalled" if record.stalled else ""
    cells = []
    for number, name in enumerate(STEP_TITLES, start=1):
        if record.in_sync or (current and number < current):
            css = "done"
        elif number == current:
            css = "current" + stalled
        else:
            css = ""
        cells.append(f'<span class="{css}" title="{number} · {_e(name)}"></span>')
    return f'<div class="steps" aria-label="step {current} of {STANDARD.step_count}">{"".join(cells)}</div>'


def _progress(record: RolloutRecord) -> str:
    observed = record.observed
    if record.acknowledgement_since is None:  # no policy change of ours is being acknowledged
        return ""
    if observed is None or observed.eligible is None or observed.acknowledged is None:
        return ""
    ratio = observed.ack_ratio if observed.ack_ratio is not None else 1.0
    width = max(0.0, min(100.0, ratio * 100))
    text = (
        f"{wording.count(observed.acknowledged)} / {wording.count(observed.eligible)} eligible clients "
        f"acknowledged ({wording.percent(ratio)})"
    )
    return (
        f'<div class="bar" role="progressbar" aria-valuemin="0" aria-valuemax="{observed.eligible}" '
        f'aria-valuenow="{observed.acknowledged}" aria-label="client acknowledgement">'
        f'<span style="width: {width:.1f}%"></span><em>{_e(text)}</em></div>'
    )


def _details(record: RolloutRecord, info: ServerInfo | None, runtime: ServerRuntime | None) -> str:
    rows: list[tuple[str, str]] = []
    observed = record.observed
    if STANDARD.before_swap(record) and observed is not None and observed.at_risk_count:
        names = list(observed.at_risk_names)
        shown = wording.names(names, limit=AT_RISK_SHOWN) if names else ""
        more = observed.at_risk_count - len(names)
        if more > 0 and names:
            shown += f" (+{wording.count(more)} not listed)"
        rows.append(
            ("at risk", f"{wording.count(observed.at_risk_count)} clients" + (f": {shown}" if shown else ""))
        )
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
    if observed is not None:
        served = ", ".join(
            f"{port} {wording.fingerprint(observed.fingerprints.get(port))}" for port in PORT_NAMES
        )
        rows.append(("served", f"{served} (observed {wording.when(observed.observed_at)})"))
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
    cells = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in rows)
    return f"<dl>{cells}</dl>"


def _server(
    record: RolloutRecord, info: ServerInfo | None, runtime: ServerRuntime | None, managed: bool
) -> str:
    text, css = _label(record, managed)
    site = f"{info.site} · {info.api_url}" if info is not None else "not in the specs in force: left as it is"
    return (
        f'<article class="server" id="server-{_e(record.server)}" data-server="{_e(record.server)}" '
        f'data-phase="{_e(record.phase.value)}" data-step="{record.step}">'
        f'<h3><span>{_e(record.server)}</span><span class="badge {css}">{_e(text)}</span></h3>'
        f'<div class="site">{_e(site)}</div>'
        f"{_steps(record)}"
        f'<div class="phase">{_e(_phase_title(record))}</div>'
        f'<div class="reason">{_e(record.reason)}</div>'
        f"{_progress(record)}"
        f"{_details(record, info, runtime)}"
        "</article>"
    )


def _phase_title(record: RolloutRecord) -> str:
    phase = record.working_phase
    title = STANDARD.title(phase) if record.step else phase.value.replace("_", " ")
    if record.stalled:
        title = f"stalled in {title}"
    return f"{title} (since {wording.when(record.entered_at)})"


def _events(events: Sequence[Event]) -> str:
    if not events:
        return '<p class="meta">no events yet</p>'
    rows = []
    for event in reversed(events):
        move = ""
        if event.from_phase is not None and event.to_phase is not None and event.from_phase != event.to_phase:
            move = f"{event.from_phase.value} → {event.to_phase.value}"
        rows.append(
            f"<tr><td>{_e(wording.when(event.at))}</td><td>{_e(event.server)}</td><td>{_e(event.kind.value)}</td>"
            f'<td>{_e(move)}</td><td>{_e(event.actor)}</td><td class="reason">{_e(event.reason)}</td></tr>'
        )
    head = "<tr><th>time</th><th>server</th><th>event</th><th>move</th><th>by</th><th>why</th></tr>"
    return f'<table id="events"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>'


def _banners(state: DaemonState) -> str:
    parts = []
    if state.role is Role.STANDBY:
        parts.append(
            f'<div class="banner standby" id="standby"><strong>Standby</strong>: this daemon does not act. '
            f"{_e(state.role_reason)}</div>"
        )
    specs = state.specs
    if specs.errors:
        kept = (
            f"The specs of revision {specs.revision} stay in force; nothing acts on the invalid ones."
            if specs.revision
            else "No valid specs are in force: nothing is reconciled until they are fixed."
        )
        parts.append(
            f'<div class="banner" id="specs-invalid"><strong>Spec commit refused</strong> '
            f"({_e(specs.rejected_revision or 'unknown revision')}): {_e(kept)}"
            f"<pre>{_e(chr(10).join(specs.errors))}</pre></div>"
        )
    return "\n".join(parts)


def render_page(
    state: DaemonState,
    *,
    now: datetime,
    records: Sequence[RolloutRecord],
    events: Sequence[Event],
    servers: Mapping[str, ServerInfo | None],
    refresh: int = 10,
) -> str:
    """The whole page. ``servers`` are the servers of the specs in force (by name); records of other servers are
    shown as unmanaged."""
    by_name = {r.server: r for r in records}
    if not state.has_specs:  # no specs in force: show what the state holds, nobody is "unmanaged"
        servers = {**{r.server: None for r in records}, **servers}
    cards = []
    for name in sorted(servers):
        record = by_name.get(name)
        info = servers[name]
        if record is None and info is not None:
            cards.append(
                f'<article class="server" id="server-{_e(name)}" data-server="{_e(name)}" data-phase="new" '
                f'data-step="0"><h3><span>{_e(name)}</span><span class="badge info">not observed yet</span></h3>'
                f'<div class="site">{_e(info.site)} · {_e(info.api_url)}</div></article>'
            )
        elif record is not None:
            cards.append(_server(record, info, state.servers.get(name), managed=True))
    unmanaged = [r for r in records if r.server not in servers]
    unmanaged_html = ""
    if unmanaged:
        unmanaged_html = (
            '<section aria-labelledby="unmanaged-h"><h2 id="unmanaged-h">Unmanaged</h2>'
            '<p class="meta">In the state but no longer in the specs: left as they are, not acted on.</p>'
            f'<div class="servers" id="unmanaged">{"".join(_server(r, None, None, managed=False) for r in unmanaged)}'
            "</div></section>"
        )
    in_sync = sum(1 for n in servers if n in by_name and by_name[n].in_sync)
    role_css = {Role.LEADER: "ok", Role.STANDBY: "warn"}.get(state.role, "bad")
    revision = state.specs.revision or "none"
    summary = (
        f"{in_sync} of {len(servers)} servers in sync · specs revision {revision} · "
        f"updated {wording.when(now)}"
    )
    return Template(_asset("status.html")).substitute(
        refresh=str(max(1, refresh)),
        title=_e(f"sepm-reconciler — {in_sync}/{len(servers)} in sync"),
        css=_asset("status.css"),
        role=f'<span class="badge {role_css}" id="role">{_e(state.role.value)}</span>',
        summary=_e(summary),
        banners=_banners(state),
        servers="\n".join(cards) or '<p class="meta">no servers in the specs in force</p>',
        unmanaged=unmanaged_html,
        events=_events(events),
        footer=_e(
            f"sepm-reconciler {__version__} · {state.holder} · read-only; refreshes every {refresh} s · "
            "JSON: /api/status · metrics: /metrics"
        ),
    )
