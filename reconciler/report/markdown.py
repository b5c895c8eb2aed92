"""The Markdown report: fits a pull-request comment (the GitOps check on a spec change).

Every value that did not come from us (subjects and SANs of served certificates, messages quoting them, paths) is
escaped, so a certificate named ``<img src=x>`` or ``a|b`` cannot break the table or inject HTML.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from reconciler.core.drift import Severity
from reconciler.report.common import (
    domain_counts,
    event_title,
    header,
    history_of,
    history_summary,
    observed,
    port_cell,
    recent_events,
    status_tone,
    summary,
)
from reconciler.report.model import Report, ServerReport

__all__ = ["escape_md", "render_markdown"]

_ICON = {Severity.ERROR: "❌", Severity.WARNING: "⚠️", Severity.INFO: "ℹ️"}
_TONE_ICON = {"ok": "✅", "busy": "🔄", "warn": "⚠️", "bad": "❌", "muted": "➖"}
_SPECIAL = re.compile(r"([\\`*_\[\]|~#])")


def escape_md(value: object) -> str:
    """Text safe inside a Markdown table cell or list item: markup characters escaped, HTML neutralised."""
    text = " ".join(str(value).split())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _SPECIAL.sub(r"\\\1", text)


def _code(value: str) -> str:
    """A code span for our own identifiers (server names, fingerprints): never contains a backtick."""
    return f"`{value.replace('`', '')}`"


def _status(server: ServerReport) -> str:
    status = server.status
    return f"{_TONE_ICON[status_tone(status)]} {escape_md(status)}"


def _port(facts: Mapping[str, Any]) -> str:
    cell = port_cell(facts)
    return (
        "✅ desired"
        if cell == "desired"
        else (_code(cell) if facts.get("fingerprint") else f"❌ {escape_md(cell)}")
    )


def _overview(report: Report) -> list[str]:
    names = ["clients", "console", "api"]
    shared = report.shared_sites
    lines = [
        ("| Site " if shared else "") + "| Server | Status | Clients | Console | API | Findings |",
        ("|---" if shared else "") + "|---|---|" + "---|" * len(names) + "---|",
    ]
    for server in report.servers:
        ports = [_port(server.served[n]) if n in server.served else "" for n in names]
        reasons = "<br>".join(f"{_ICON[f.severity]} {f.reason.value}" for f in server.findings)
        site = f"| {report.site_of(server.name)} " if shared else ""
        lines.append(
            f"{site}| {_code(server.name)} | {_status(server)} | " + " | ".join(ports) + f" | {reasons} |"
        )
    return lines


def _certificates(server: ServerReport) -> list[str]:
    rows = [
        ("desired", server.desired),
        *((f"{name} {facts.get('port') or ''}".strip(), facts) for name, facts in server.served.items()),
    ]
    lines = [
        "<details><summary>Certificates</summary>",
        "",
        "| | Fingerprint | Subject | SANs | Not after |",
        "|---|---|---|---|---|",
    ]
    for label, facts in rows:
        fingerprint = facts.get("fingerprint")
        shown = (
            _code(str(fingerprint))
            if fingerprint
            else escape_md(facts.get("error") or facts.get("outcome") or "unknown")
        )
        sans = facts.get("sans")
        lines.append(
            f"| {escape_md(label)} | {shown} | {escape_md(facts.get('subject') or '')} | "
            f"{escape_md(', '.join(sans) if sans else '')} | {escape_md(facts.get('notAfter') or '')} |"
        )
    lines += ["", "</details>"]
    return lines


def _history(server: ServerReport) -> list[str]:
    history = history_of(server)
    if history is None:
        return []
    lines = [f"<details><summary>History: {escape_md(history_summary(history))}</summary>", ""]
    hidden, events = recent_events(history)
    if hidden:
        lines.append(f"- … {hidden} earlier event(s) (all of them in `--output json`)")
    for event in events:
        lines.append(
            f"- {escape_md(f'{event.at:%Y-%m-%d %H:%M}')} **{escape_md(event_title(event))}** "
            f"({escape_md(event.actor)}): {escape_md(event.reason)}"
        )
    lines += ["", "</details>"]
    return lines


def _server(server: ServerReport, report: Report) -> list[str]:
    lines = [f"### {_code(server.name)} — {_status(server)}", ""]
    note = observed(server, report)
    if note:
        lines += [f"*{escape_md(note)}*", ""]
    for finding in server.findings:
        lines.append(f"- {_ICON[finding.severity]} **{finding.reason.value}** — {escape_md(finding.message)}")
    lines.append("")
    domains = domain_counts(server)
    if domains:
        lines += ["| domain | clients |", "|---|---|"]
        lines += [f"| {escape_md(name)} | {escape_md(counts)} |" for name, counts in domains]
        lines.append("")
    lines += _certificates(server)
    history = _history(server)
    if history:
        lines += ["", *history]
    lines.append("")
    return lines


def render_markdown(report: Report) -> str:
    """The report as GitHub-flavoured Markdown."""
    code = report.exit_code
    verdict = {0: "✅ in sync", 1: "❌ errors", 2: "⚠️ drift"}[code]
    lines = [f"## SEPM certificate report: {verdict}", "", f"*{escape_md(header(report))}*", ""]
    lines += [f"> {escape_md(note)}" for note in report.notes]
    if report.notes:
        lines.append("")
    if report.servers:
        lines += [*_overview(report), ""]
    else:
        lines += ["No servers to report.", ""]
    if report.spec_errors:
        lines.append("**Spec errors** (no server can be named for them):")
        lines += [f"- ❌ {escape_md(issue)}" for issue in report.spec_errors]
        lines.append("")
    for server in report.servers:
        lines += _server(server, report)
    lines.append(f"**{escape_md(summary(report))}**")
    return "\n".join(lines) + "\n"
