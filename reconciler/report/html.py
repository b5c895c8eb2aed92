"""The HTML report: one self-contained file (inline CSS, no script, no external asset; a Content-Security-Policy
forbids loading anything), every value escaped."""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

from reconciler.core.drift import Severity
from reconciler.report.common import (
    EXIT_MEANING,
    domain_counts,
    event_title,
    header,
    history_of,
    history_summary,
    observed,
    port_cell,
    status_tone,
    summary,
)
from reconciler.report.model import Report, ServerReport

__all__ = ["render_html"]

_CSS = """
:root { color-scheme: light dark; --ok: #1a7f37; --busy: #0969da; --warn: #9a6700; --bad: #cf222e; --muted: #6e7781;
        --line: #d0d7de; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 80rem;
       padding: 0 1rem; }
h1 { font-size: 1.4rem; margin-bottom: .2rem; }
h2 { font-size: 1.1rem; margin: 2rem 0 .5rem; }
.meta, .note, .observed { color: var(--muted); }
table { border-collapse: collapse; width: 100%; margin: .5rem 0 1rem; }
th, td { border: 1px solid var(--line); padding: .35rem .5rem; text-align: left; vertical-align: top; }
th { background: color-mix(in srgb, var(--line) 35%, transparent); }
code { font: 12px/1.4 ui-monospace, "SFMono-Regular", Consolas, monospace; overflow-wrap: anywhere; }
.tone-ok { color: var(--ok); } .tone-busy { color: var(--busy); } .tone-warn { color: var(--warn); }
.tone-bad { color: var(--bad); font-weight: 600; } .tone-muted { color: var(--muted); }
ul.findings { list-style: none; padding: 0; }
ul.findings li { border-left: 4px solid var(--line); margin: .4rem 0; padding: .2rem .6rem; }
li.sev-error { border-color: var(--bad) !important; } li.sev-warning { border-color: var(--warn) !important; }
li.sev-info { border-color: var(--muted) !important; }
.reason { font-weight: 600; margin-right: .4rem; }
.verdict { font-weight: 600; }
"""

_SEVERITY_TONE = {Severity.ERROR: "bad", Severity.WARNING: "warn", Severity.INFO: "muted"}
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; base-uri 'none'; form-action 'none'"


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _status(server: ServerReport) -> str:
    status = server.status
    return f'<span class="tone-{status_tone(status)}">{_e(status)}</span>'


def _port(facts: Mapping[str, Any]) -> str:
    cell = port_cell(facts)
    if cell == "desired":
        return '<span class="tone-ok">desired</span>'
    if facts.get("fingerprint"):
        return f'<code title="{_e(facts["fingerprint"])}">{_e(cell)}</code>'
    return f'<span class="tone-bad">{_e(cell)}</span>'


def _reasons(server: ServerReport) -> str:
    return "<br>".join(
        f'<span class="tone-{_SEVERITY_TONE[f.severity]}">{_e(f.reason.value)}</span>'
        for f in server.findings
    )


def _overview(report: Report) -> str:
    names = ("clients", "console", "api")
    head = "".join(f"<th>{_e(n)}</th>" for n in names)
    rows = []
    for server in report.servers:
        ports = "".join(f"<td>{_port(server.served[n]) if n in server.served else ''}</td>" for n in names)
        rows.append(
            f'<tr><td><a href="#server-{_e(server.name)}"><code>{_e(server.name)}</code></a></td>'
            f"<td>{_status(server)}</td>{ports}<td>{_reasons(server)}</td></tr>"
        )
    return (
        f'<table class="overview"><thead><tr><th>server</th><th>status</th>{head}<th>findings</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _certificates(server: ServerReport) -> str:
    rows = [("desired", server.desired)] + [
        (f"{name} {facts.get('port') or ''}".strip(), facts) for name, facts in server.served.items()
    ]
    body = []
    for label, facts in rows:
        fingerprint = facts.get("fingerprint")
        shown = (
            f"<code>{_e(fingerprint)}</code>"
            if fingerprint
            else f'<span class="tone-bad">{_e(facts.get("error") or facts.get("outcome") or "unknown")}</span>'
        )
        sans = facts.get("sans")
        body.append(
            f"<tr><th>{_e(label)}</th><td>{shown}</td><td>{_e(facts.get('subject') or '')}</td>"
            f"<td>{_e(', '.join(sans) if sans else '')}</td><td>{_e(facts.get('notAfter') or '')}</td></tr>"
        )
    return (
        '<table class="certificates"><thead><tr><th></th><th>fingerprint</th><th>subject</th><th>SANs</th>'
        f"<th>not after</th></tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


def _history(server: ServerReport) -> str:
    history = history_of(server)
    if history is None:
        return ""
    items = [
        f"<tr><td>{_e(f'{event.at:%Y-%m-%d %H:%M}')}</td><td>{_e(event_title(event))}</td>"
        f"<td>{_e(event.actor)}</td><td>{_e(event.reason)}</td></tr>"
        for event in history.events
    ]
    table = (
        '<table class="history"><thead><tr><th>time (UTC)</th><th>event</th><th>actor</th><th>reason</th></tr>'
        f"</thead><tbody>{''.join(items)}</tbody></table>"
        if items
        else ""
    )
    return f"<p><strong>History:</strong> {_e(history_summary(history))}</p>{table}"


def _server(server: ServerReport, report: Report) -> str:
    note = observed(server, report)
    findings = "".join(
        f'<li class="sev-{finding.severity.value}"><span class="reason">{_e(finding.reason.value)}</span>'
        f"{_e(finding.message)}</li>"
        for finding in server.findings
    )
    return (
        f'<section class="server" id="server-{_e(server.name)}">'
        f"<h2><code>{_e(server.name)}</code> — {_status(server)}</h2>"
        + (f'<p class="observed">{_e(note)}</p>' if note else "")
        + f'<ul class="findings">{findings}</ul>{_domains(server)}{_certificates(server)}{_history(server)}'
        "</section>"
    )


def _domains(server: ServerReport) -> str:
    rows = "".join(
        f"<tr><td>{_e(name)}</td><td>{_e(counts)}</td></tr>" for name, counts in domain_counts(server)
    )
    if not rows:
        return ""
    return f'<table class="domains"><thead><tr><th>domain</th><th>clients</th></tr></thead><tbody>{rows}</tbody></table>'


def render_html(report: Report) -> str:
    """The report as one standalone HTML document."""
    code = report.exit_code
    tone = {0: "ok", 1: "bad", 2: "warn"}[code]
    notes = "".join(f'<p class="note">{_e(note)}</p>' for note in report.notes)
    spec_errors = ""
    if report.spec_errors:
        items = "".join(
            f'<li class="sev-{Severity.ERROR.value}">{_e(issue)}</li>' for issue in report.spec_errors
        )
        spec_errors = f'<h2>Spec errors</h2><ul class="findings">{items}</ul>'
    body = _overview(report) if report.servers else "<p>No servers to report.</p>"
    sections = "".join(_server(server, report) for server in report.servers)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>SEPM certificate report — {_e(EXIT_MEANING[code])}</title><style>{_CSS}</style></head>\n"
        f'<body><header><h1>SEPM certificate report: <span class="tone-{tone}">{_e(EXIT_MEANING[code])}</span></h1>'
        f'<p class="meta">{_e(header(report))}</p>{notes}</header>\n'
        f"<main>{body}{spec_errors}{sections}</main>\n"
        f'<footer><p class="verdict">{_e(summary(report))}</p></footer></body></html>\n'
    )
