"""Acknowledgements over time as an inline SVG: the share of eligible clients that applied our change, from the
change on, with the ``minAckRatio`` line, the ``minSoak`` mark and the ``maxSoak`` mark (the deadline past which the
rollout stalls). Times on the manager's clock, as the soaks are measured. No script, no external asset."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from markupsafe import Markup

from reconciler.core import wording
from reconciler.core.observed import AckSample
from reconciler.views.render import render

__all__ = ["ChartSeries", "ack_chart", "series_of"]

WIDTH, HEIGHT = 560, 180
LEFT, RIGHT, TOP, BOTTOM = 44, 16, 14, 30


@dataclass(frozen=True, slots=True)
class ChartSeries:
    """The samples of one change (steps 3-4: verification off; 6-7: on)."""

    title: str
    change: datetime
    samples: tuple[AckSample, ...]


def series_of(
    samples: Sequence[AckSample], *, verification_off_at: datetime | None, verification_on_at: datetime | None
) -> list[ChartSeries]:
    """One series per change in ``samples``, named by what it was (when the record still knows)."""
    changes = list(dict.fromkeys(s.change for s in samples))
    out = []
    for change in changes:
        if change == verification_on_at:
            title = "verification on (steps 6-7)"
        elif change == verification_off_at:
            title = "verification off (steps 3-4)"
        else:
            title = f"change of {wording.when(change)}"
        out.append(ChartSeries(title, change, tuple(s for s in samples if s.change == change)))
    return out


def _x(elapsed: timedelta, span: timedelta) -> float:
    share = elapsed / span if span > timedelta(0) else 0.0
    return LEFT + max(0.0, min(1.0, share)) * (WIDTH - LEFT - RIGHT)


def _y(ratio: float) -> float:
    return TOP + (1.0 - max(0.0, min(1.0, ratio))) * (HEIGHT - TOP - BOTTOM)


def ack_chart(
    series: ChartSeries,
    *,
    min_soak: timedelta,
    max_soak: timedelta,
    min_ratio: float,
    title: str | None = None,
) -> Markup:
    """The chart of one series. The x axis runs from the change to past the last sample and ``minSoak``; the
    ``maxSoak`` mark is drawn when it falls within three times that, else named at the right edge."""
    samples = series.samples
    last = max((s.at - series.change for s in samples), default=timedelta(0))
    span = max(last, min_soak, timedelta(minutes=1)) * 1.15
    far = max_soak > span * 3
    if not far:
        span = max(span, max_soak * 1.05)
    points = " ".join(f"{_x(s.at - series.change, span):.1f},{_y(s.ratio):.1f}" for s in samples)
    latest = samples[-1] if samples else None
    ticks = [(f"{round(r * 100)}%", _y(r)) for r in (0.0, 0.5, 1.0)]
    svg = render(
        "ack_chart.svg.j2",
        width=WIDTH,
        height=HEIGHT,
        left=LEFT,
        right=WIDTH - RIGHT,
        top=TOP,
        bottom=HEIGHT - BOTTOM,
        title=title or series.title,
        points=points,
        dots=[(_x(s.at - series.change, span), _y(s.ratio)) for s in samples[-1:]],
        need_y=_y(min_ratio),
        need=wording.percent(min_ratio),
        soak_x=_x(min_soak, span),
        soak=wording.span(min_soak),
        max_x=None if far else _x(max_soak, span),
        max_soak=wording.span(max_soak),
        max_far=far,
        ticks=ticks,
        span=wording.span(span),
        latest=None
        if latest is None
        else f"{wording.count(latest.acknowledged)} / {wording.count(latest.eligible)} "
        f"({wording.percent(latest.ratio)}) at {wording.when(latest.at)}",
        change=wording.when(series.change),
    )
    return Markup(svg)  # noqa: S704 - rendered by the autoescaping environment: every value in it is escaped
