"""HTML views shared by the daemon's status page and the HTML report: one Jinja2 environment (autoescaping every
value), the templates, and what they show that both need — what needs a person now, each server's timeline of
steps, its acknowledgements over time (an inline SVG), its clients at risk (and their CSV).

Layer: below ``daemon`` and ``report`` (both render through it), above ``engine``; it reads only the core's records
and events. No script and no external asset in what it renders: styles are inline, charts are inline SVG.
"""

from reconciler.views.chart import ack_chart
from reconciler.views.models import (
    AtRiskRow,
    NeedsYou,
    TimelineRow,
    at_risk_csv,
    at_risk_rows,
    needs_you,
    step_timeline,
)
from reconciler.views.render import environment, render
from reconciler.views.sections import Policy, ServerMore, server_more

__all__ = [
    "AtRiskRow",
    "NeedsYou",
    "Policy",
    "ServerMore",
    "TimelineRow",
    "ack_chart",
    "at_risk_csv",
    "at_risk_rows",
    "environment",
    "needs_you",
    "render",
    "server_more",
    "step_timeline",
]
