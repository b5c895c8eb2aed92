"""``sepm-reconciler report``: drift reports people read and pipelines gate on.

:func:`collect` observes (live, through :func:`reconciler.engine.gather`, never acting) or reads the state
(offline), runs the drift chain of :mod:`reconciler.core.drift` over every server and returns a :class:`Report`;
:func:`render` turns it into text, JSON, Markdown or HTML. ``Report.exit_code`` is the command's exit code
(0 every server in sync, 2 drift or a rollout in progress, 1 an error). See docs/report.md.
"""

from __future__ import annotations

from pathlib import Path

from reconciler.report.collect import collect
from reconciler.report.html import render_html
from reconciler.report.jsonout import render_json
from reconciler.report.markdown import render_markdown
from reconciler.report.model import SCHEMA_VERSION, Report, ServerReport
from reconciler.report.text import render_text

__all__ = ["FORMATS", "JSON_SCHEMA", "SCHEMA_VERSION", "Report", "ServerReport", "collect", "render"]

FORMATS = ("text", "json", "markdown", "html")
JSON_SCHEMA = Path(__file__).with_name("schema.json")
"""The JSON Schema (draft 2020-12) of ``--output json``, shipped with the package."""


def render(report: Report, output: str, *, color: bool = False, width: int = 120) -> str:
    """``report`` in ``output`` format (one of :data:`FORMATS`); ``color``/``width`` apply to text only."""
    if output == "text":
        return render_text(report, color=color, width=width)
    if output == "json":
        return render_json(report)
    if output == "markdown":
        return render_markdown(report)
    if output == "html":
        return render_html(report)
    raise ValueError(f"unknown report format {output!r}: use one of {', '.join(FORMATS)}")
