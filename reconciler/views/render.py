"""The Jinja2 environment: package templates, autoescaping on for every template, strict undefined values."""

from __future__ import annotations

from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from reconciler.core import wording

__all__ = ["environment", "render"]


@cache
def environment() -> Environment:
    """The one environment. Autoescape is on for every template (HTML and SVG alike): a value — a server name, a
    reason, an operator's text, hook output — is escaped exactly once, by Jinja2, wherever it lands."""
    env = Environment(
        loader=PackageLoader("reconciler.views", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["when"] = lambda moment: wording.when(moment) if moment is not None else "—"
    env.filters["fingerprint"] = wording.fingerprint
    env.filters["count"] = wording.count
    env.filters["percent"] = wording.percent
    env.filters["span"] = wording.span
    return env


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)
