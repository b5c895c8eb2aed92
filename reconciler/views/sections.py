"""The parts of a server's view that the page and the report share, ready for ``_server_more.html.j2``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from markupsafe import Markup

from reconciler.core.events import Event
from reconciler.core.record import RolloutRecord
from reconciler.views.chart import ack_chart, series_of
from reconciler.views.models import AtRiskRow, TimelineRow, at_risk_rows, step_timeline

__all__ = ["Policy", "ServerMore", "server_more"]


@dataclass(frozen=True, slots=True)
class Policy:
    """The soak policy the charts mark (``spec.rollout.clients``)."""

    min_soak: timedelta
    max_soak: timedelta
    min_ratio: float


@dataclass(frozen=True, slots=True)
class ServerMore:
    name: str
    timeline: list[TimelineRow] = field(default_factory=list)
    charts: list[Markup] = field(default_factory=list)
    at_risk: list[AtRiskRow] = field(default_factory=list)
    at_risk_more: int = 0
    at_risk_total: int = 0
    csv_href: str = ""


def server_more(
    record: RolloutRecord, events: Sequence[Event], policy: Policy | None, *, csv_href: str
) -> ServerMore:
    """Timeline (from ``events``), acknowledgement charts (when ``policy`` is known) and the clients at risk."""
    charts: list[Markup] = []
    observed = record.observed
    if observed is not None and observed.acknowledgements and policy is not None:
        for series in series_of(
            observed.acknowledgements,
            verification_off_at=record.facts.verification_off_at,
            verification_on_at=record.facts.verification_on_at,
        ):
            charts.append(
                ack_chart(
                    series, min_soak=policy.min_soak, max_soak=policy.max_soak, min_ratio=policy.min_ratio
                )
            )
    rows, more = at_risk_rows(record)
    return ServerMore(
        name=record.server,
        timeline=step_timeline(record, events),
        charts=charts,
        at_risk=rows,
        at_risk_more=more,
        at_risk_total=len(rows) + more,
        csv_href=csv_href,
    )
