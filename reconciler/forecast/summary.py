"""N runs of one server, summarised: each step's median and 90th-percentile duration, the clients at risk when the
swap and the return of verification began, stalls and their codes, approvals and windows waited for, and the latest
start that still finishes before the current certificate's ``notAfter``.

Percentiles are nearest-rank over the runs that reached the step (with 5 runs the 90th percentile is the longest).
Counts of clients are scaled back when the twin was a sample (:attr:`~.twin.TwinServer.scale`). The latest start
walks the steps backwards from ``notAfter`` with their 90th-percentile durations (time held by a closed window left
out), snapping to the last opening of the maintenance window before the step it gates — the measured counterpart of
the plan's :func:`~reconciler.core.procedure.timeline.latest_start`, with the same window arithmetic.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from reconciler.core._storage import iso_or_none
from reconciler.core.codes import Code
from reconciler.core.phase import Phase
from reconciler.core.procedure.gates import GateKind
from reconciler.core.procedure.table import STANDARD, Stage
from reconciler.core.spec import ManagedServer
from reconciler.core.window import last_open
from reconciler.forecast.reading import ServerReading
from reconciler.forecast.track import Track
from reconciler.forecast.twin import TwinServer

__all__ = ["AT_RISK_PHASES", "ServerForecast", "Spread", "StepForecast", "nearest_rank", "scrub", "summarise"]

_NAMED = re.compile(r" ?\([^()]*\bTWIN\d+-[^()]*\)")
_NAME = re.compile(r"\bTWIN\d+-\d+(?:-A\d+)?\b")


def scrub(text: str) -> str:
    """A sentence of the reconciler without the names of the twin's clients (made up: they mean nothing)."""
    return _NAME.sub("a client of the twin", _NAMED.sub("", text))


AT_RISK_PHASES = (Phase.UPDATING_CERTIFICATE, Phase.ENABLING_VERIFICATION)
"""The clients at risk are reported when the swap begins and when verification comes back."""


def nearest_rank(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


@dataclass(frozen=True, slots=True)
class Spread:
    """A measure over runs: median, 90th percentile, least and greatest, and how many runs had it."""

    median: float
    p90: float
    least: float
    most: float
    runs: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread | None:
        if not values:
            return None
        return cls(
            nearest_rank(values, 0.5), nearest_rank(values, 0.9), min(values), max(values), len(values)
        )

    def to_json(self, *, whole: bool = False) -> dict[str, Any]:
        def shape(value: float) -> float:
            return float(round(value)) if whole else round(value, 1)

        return {
            "median": shape(self.median),
            "p90": shape(self.p90),
            "min": shape(self.least),
            "max": shape(self.most),
            "runs": self.runs,
        }


@dataclass(frozen=True, slots=True)
class StepForecast:
    label: str  # "1", "4a"…
    phase: Phase
    title: str
    seconds: Spread | None  # None: no run spent time in it

    def to_json(self) -> dict[str, Any]:
        return {
            "step": self.label,
            "phase": self.phase.value,
            "title": self.title,
            "seconds": None if self.seconds is None else self.seconds.to_json(),
        }


@dataclass(frozen=True, slots=True)
class ServerForecast:
    server: str
    reading: ServerReading
    twin: TwinServer
    runs: int
    finished: int
    steps: tuple[StepForecast, ...]
    total: Spread | None  # seconds from the start to in sync, over the finished runs
    at_risk: Mapping[str, Spread | None]  # step label → clients at risk when it began (scaled)
    stalls: tuple[tuple[str, str, int, bool], ...]  # (code, step, runs, continued)
    approvals: tuple[
        tuple[int, bool, int, float], ...
    ]  # (step, accept at risk, runs, median seconds after start)
    manual: tuple[tuple[str, int], ...]  # (step, runs) done by hand
    window_wait: Spread | None  # seconds held by a closed window
    orphaned: Spread | None  # the twin's ground truth (scaled)
    ends: Mapping[str, int]
    not_after: datetime | None
    latest_start: datetime | None
    reasons: tuple[str, ...] = ()  # why runs did not finish
    assumed: tuple[str, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        r = self.reading
        return {
            "server": self.server,
            "read": {
                "manager_time": iso_or_none(r.manager_time),
                "version": r.version,
                "clients": r.clients,
                "away": r.away,
                "domains": [d.name for d in r.domains],
                "groups": sum(len(d.groups) for d in r.domains),
                "heartbeat_s": r.heartbeat_s,
                "partners": list(r.partners),
                "lists_shown": r.lists_shown,
            },
            "twin": {
                "clients": self.twin.twin_clients,
                "away": self.twin.twin_away,
                "scale": self.twin.scale,
            },
            "runs": self.runs,
            "finished": self.finished,
            "ends": dict(self.ends),
            "steps": [s.to_json() for s in self.steps],
            "total_seconds": None if self.total is None else self.total.to_json(),
            "at_risk": {k: None if v is None else v.to_json(whole=True) for k, v in self.at_risk.items()},
            "stalls": [{"code": c, "step": s, "runs": n, "continued": k} for c, s, n, k in self.stalls],
            "approvals": [
                {"step": s, "accept_at_risk": a, "runs": n, "median_seconds_after_start": round(t)}
                for s, a, n, t in self.approvals
            ],
            "manual_steps": [{"step": s, "runs": n} for s, n in self.manual],
            "window_wait_seconds": None if self.window_wait is None else self.window_wait.to_json(),
            "orphaned_in_twin": None if self.orphaned is None else self.orphaned.to_json(whole=True),
            "not_after": iso_or_none(self.not_after),
            "latest_start": iso_or_none(self.latest_start),
            "not_finished": list(self.reasons),
            "assumed": list(self.assumed),
        }


def _windowed(stage: Stage) -> bool:
    return any(g.kind is GateKind.WINDOW for g in (*stage.entry, *stage.inside))


def latest_start(
    spec: ManagedServer, deadline: datetime, durations: Mapping[Phase, float], before: float
) -> datetime | None:
    """The latest start that ends by ``deadline``: backwards over the steps with ``durations`` (seconds, window waits
    left out), snapping to the window's last opening before the step it gates, then ``before`` (held before step 1).
    None when the window does not open in time or cannot be evaluated."""
    window = spec.spec.rollout.window
    moment = deadline
    for stage in reversed(STANDARD.steps):
        moment -= timedelta(seconds=durations.get(stage.phase, 0.0))
        if _windowed(stage):
            opening = last_open(window, moment)
            if opening is None:
                return None
            moment = opening
    return moment - timedelta(seconds=before)


def summarise(
    spec: ManagedServer, reading: ServerReading, twin: TwinServer, tracks: Sequence[Track]
) -> ServerForecast:
    """The forecast of one server from its runs."""
    scale = twin.scale or 1.0
    steps = []
    p90s: dict[Phase, float] = {}
    for stage in STANDARD.steps:
        values = [t.durations()[stage.phase].total_seconds() for t in tracks if stage.phase in t.durations()]
        spread = Spread.of(values)
        steps.append(StepForecast(stage.step, stage.phase, stage.title, spread))
        working = [t.durations(skip=Code.WINDOW_CLOSED).get(stage.phase) for t in tracks]
        present = [w.total_seconds() for w in working if w is not None]
        if present:
            p90s[stage.phase] = nearest_rank(present, 0.9)
    totals = [t.total.total_seconds() for t in tracks if t.total is not None]
    labels = {stage.phase: stage.step for stage in STANDARD.steps}
    at_risk: dict[str, Spread | None] = {}
    for phase in AT_RISK_PHASES:
        if STANDARD.has(phase):
            counts = [t.at_risk_entering(phase) for t in tracks]
            at_risk[labels[phase]] = Spread.of([c / scale for c in counts if c is not None])
    stalls = Counter((s.code, s.stage, s.continued) for t in tracks for s in t.stalls)
    granted: dict[tuple[int, bool], list[float]] = {}
    for t in tracks:
        for g in t.approvals:
            granted.setdefault((g.step, g.accept_at_risk), []).append((g.at - t.start).total_seconds())
    manual = Counter(label for t in tracks for label, _ in dict.fromkeys(t.manual))
    held = [d.get(Phase.DRIFTED, timedelta(0)).total_seconds() for d in (t.durations() for t in tracks)]
    not_after = reading.not_after
    latest = (
        latest_start(spec, not_after, p90s, nearest_rank(held, 0.9) if held else 0.0)
        if not_after is not None and totals
        else None
    )
    orphaned = [t.orphaned / scale for t in tracks if t.orphaned is not None]
    return ServerForecast(
        server=reading.server,
        reading=reading,
        twin=twin,
        runs=len(tracks),
        finished=len(totals),
        steps=tuple(steps),
        total=Spread.of(totals),
        at_risk=at_risk,
        stalls=tuple((c, s, n, k) for (c, s, k), n in sorted(stalls.items())),
        approvals=tuple(
            (step, accept, len(times), nearest_rank(times, 0.5))
            for (step, accept), times in sorted(granted.items())
        ),
        manual=tuple(sorted(manual.items())),
        window_wait=Spread.of([t.waited(Code.WINDOW_CLOSED).total_seconds() for t in tracks]),
        orphaned=Spread.of(orphaned),
        ends=dict(Counter(t.end for t in tracks)),
        not_after=not_after,
        latest_start=latest,
        reasons=tuple(
            dict.fromkeys(scrub(t.reason) for t in tracks if t.end not in ("in_sync",) and t.reason)
        ),
        assumed=twin.assumed,
    )
