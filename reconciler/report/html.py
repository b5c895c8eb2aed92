"""The HTML report: one self-contained file (inline CSS and SVG, no script, no external asset; a
Content-Security-Policy forbids loading anything), rendered by the autoescaping Jinja2 templates of
:mod:`reconciler.views` — what needs a person first, then each server: findings, certificates (with their issuers),
its rollout's timeline, acknowledgements over time, every client at risk (and their CSV, inside the file)."""

from __future__ import annotations

import base64
from collections.abc import Mapping
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
from reconciler.views import Policy, at_risk_csv, needs_you, render, server_more

__all__ = ["render_html"]

_SEVERITY_TONE = {Severity.ERROR: "bad", Severity.WARNING: "warn", Severity.INFO: "muted"}
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; base-uri 'none'; form-action 'none'"
_NAMES = ("clients", "console", "api")


def _cell(facts: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if facts is None:
        return None
    text = port_cell(facts)
    return {"desired": text == "desired", "fingerprint": facts.get("fingerprint"), "text": text}


def _certificates(server: ServerReport) -> list[dict[str, str | None]]:
    rows = [("desired", server.desired)] + [
        (f"{name} {facts.get('port') or ''}".strip(), facts) for name, facts in server.served.items()
    ]
    return [
        {
            "label": label,
            "fingerprint": facts.get("fingerprint"),
            "problem": str(facts.get("error") or facts.get("outcome") or "unknown"),
            "issuer": facts.get("issuer") or "",
            "subject": facts.get("subject") or "",
            "sans": ", ".join(facts.get("sans") or ()),
            "not_after": facts.get("notAfter") or "",
        }
        for label, facts in rows
    ]


def _more(server: ServerReport) -> Any:
    record = server.record
    if record is None:
        return None
    policy = server.policy
    href = "data:text/csv;base64," + base64.b64encode(at_risk_csv(record).encode("utf-8")).decode("ascii")
    return server_more(
        record,
        server.timeline,
        None if policy is None else Policy(policy.min_soak, policy.max_soak, policy.min_ack_ratio),
        csv_href=href,
    )


def _server(server: ServerReport, report: Report) -> dict[str, Any]:
    history = history_of(server)
    return {
        "name": server.name,
        "status": server.status,
        "tone": status_tone(server.status),
        "ports": [_cell(server.served.get(n)) for n in _NAMES],
        "findings": [
            {
                "reason": f.reason.value,
                "message": f.message,
                "severity": f.severity.value,
                "tone": _SEVERITY_TONE[f.severity],
            }
            for f in server.findings
        ],
        "observed": observed(server, report),
        "certificates": _certificates(server),
        "domains": domain_counts(server),
        "more": _more(server),
        "history_summary": history_summary(history) if history is not None else None,
        "history": [
            {"at": f"{e.at:%Y-%m-%d %H:%M}", "title": event_title(e), "actor": e.actor, "reason": e.reason}
            for e in (history.events if history is not None else ())
        ],
    }


def render_html(report: Report) -> str:
    """The report as one standalone HTML document."""
    code = report.exit_code
    records = [s.record for s in report.servers if s.record is not None and s.managed]
    state = None
    if report.state_url is not None and not report.state_url.startswith("sqlite:///./"):
        state = report.state_url
    return render(
        "report.html.j2",
        csp=_CSP,
        verdict=EXIT_MEANING[code],
        tone={0: "ok", 1: "bad", 2: "warn"}[code],
        header=header(report),
        notes=list(report.notes),
        needs=needs_you(records, state=state),
        servers=[_server(s, report) for s in report.servers],
        spec_errors=[str(issue) for issue in report.spec_errors],
        summary=summary(report),
    )
