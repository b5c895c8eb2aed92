"""The text report: an overview table a person reads at a glance (one row per server: status, what each port
presents, the reason codes), then each server's findings in full, then history and a one-line verdict."""

from __future__ import annotations

import io
import re

from rich.console import Console
from rich.table import Table
from rich.text import Text

from reconciler.core import wording
from reconciler.core.drift import Reason, Severity
from reconciler.report.common import (
    MARK,
    domain_counts,
    event_title,
    header_parts,
    history_of,
    history_summary,
    observed,
    port_cell,
    recent_events,
    status_tone,
    summary,
)
from reconciler.report.model import Report, ServerReport

__all__ = ["render_text"]

_TONE = {"ok": "green", "busy": "cyan", "warn": "yellow", "bad": "bold red", "muted": "dim"}
_SEVERITY = {Severity.ERROR: "red", Severity.WARNING: "yellow", Severity.INFO: "dim"}
_PORTS = ("clients", "console", "api")
_TRAILING = re.compile(r"\s+((?:\x1b\[[0-9;]*m)*)$")  # padding at the end of a line, before any colour reset


def _port(server: ServerReport, name: str) -> Text:
    facts = server.served.get(name)
    if facts is None:
        return Text("")
    cell = port_cell(facts, short=True)
    style = "green" if cell == "desired" else ("yellow" if facts.get("fingerprint") else "red")
    return Text(cell, style=style)


def _reasons(server: ServerReport) -> Text:
    text = Text()
    for i, finding in enumerate(server.findings):
        if i:
            text.append("\n")
        text.append(f"{MARK[finding.severity]} {finding.reason.value}", style=_SEVERITY[finding.severity])
    return text


def _overview(report: Report) -> Table:
    table = Table(expand=False, show_lines=False)
    shared = report.shared_sites
    if shared:
        table.add_column("SITE", no_wrap=True)
    table.add_column("SERVER", no_wrap=True)
    table.add_column("STATUS", no_wrap=True)
    for name in _PORTS:
        table.add_column(name.upper(), no_wrap=True)
    table.add_column("FINDINGS", no_wrap=True)
    for server in report.servers:
        status = server.status
        table.add_row(
            *([Text(report.site_of(server.name))] if shared else []),
            Text(server.name, style="bold"),
            Text(status, style=_TONE[status_tone(status)]),
            *(_port(server, name) for name in _PORTS),
            _reasons(server),
        )
    return table


def _details(console: Console, server: ServerReport, report: Report) -> None:
    domains = domain_counts(server)
    if [f.reason for f in server.findings] == [Reason.IN_SYNC] and not domains:
        return  # the overview said it all
    title = Text(f"{server.name}", style="bold")
    title.append(f" · {server.status}", style=_TONE[status_tone(server.status)])
    note = observed(server, report)
    if note:
        title.append(f" · {note}", style="dim")
    console.print(title)
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True)
    grid.add_column()
    for finding in server.findings:
        grid.add_row(
            Text(f"  {MARK[finding.severity]} {finding.reason.value}", style=_SEVERITY[finding.severity]),
            Text(finding.message),
        )
    for name, counts in domains:
        grid.add_row(Text(f"  domain {name}", style="dim"), Text(counts))
    console.print(grid)


def _history(console: Console, server: ServerReport) -> None:
    history = history_of(server)
    if history is None:
        return
    console.print(Text(f"{server.name}", style="bold"), Text(history_summary(history)))
    hidden, events = recent_events(history)
    if hidden:
        console.print(Text(f"  … {hidden} earlier event(s), all of them in --output json", style="dim"))
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True)
    grid.add_column()
    for event in events:
        what = Text(event_title(event), style="bold")
        what.append(f" ({event.actor}) ", style="dim")
        what.append(event.reason)
        grid.add_row(Text(f"  {event.at:%Y-%m-%d %H:%M}", style="dim"), what)
    console.print(grid)


def render_text(report: Report, *, color: bool = False, width: int = 120) -> str:
    """The report as text. ``color`` adds ANSI colours (for a terminal that wants them)."""
    buffer = io.StringIO()
    console = Console(
        file=buffer,
        width=width,
        force_terminal=color,
        no_color=not color,
        color_system="standard" if color else None,
        highlight=False,
        emoji=False,
    )
    mode, *where = header_parts(report)
    console.print(Text("SEPM certificate report", style="bold"), Text(f"— {mode}"))
    console.print(Text(" · ".join(where), style="dim"))
    for note in report.notes:
        console.print(Text(note, style="dim"))
    if report.servers:
        console.print(_overview(report))
    else:
        console.print("no servers to report")
    if report.spec_errors:
        console.print(Text("spec errors (no server can be named for them)", style="bold red"))
        for issue in report.spec_errors:
            console.print(Text(f"  {MARK[Severity.ERROR]} {issue}"))
    for server in report.servers:
        _details(console, server, report)
    if report.since is not None:
        console.print(Text(f"history since {wording.when(report.since)}", style="bold"))
        for server in report.servers:
            _history(console, server)
    console.print(Text(summary(report), style="bold"))
    return "".join(_TRAILING.sub(r"\1", line) + "\n" for line in buffer.getvalue().splitlines())
