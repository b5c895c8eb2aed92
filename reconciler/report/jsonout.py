"""The JSON report (``schemaVersion`` 1, see docs/report.md and ``schema.json`` beside this module)."""

from __future__ import annotations

import json

from reconciler.report.model import Report

__all__ = ["render_json"]


def render_json(report: Report) -> str:
    return json.dumps(report.to_json(), indent=2, ensure_ascii=False) + "\n"
