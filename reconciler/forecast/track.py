"""What one run of one server looked like, measured the same way whoever ran it: the forecast's driver on the twin,
or a test watching the real daemon on the real fleet.

A :class:`Track` is the server's record sampled over time (the time of each sample on the managers' clock).
Between two samples the server is where the first one left it, so each stage's duration is the time from the first
sample in it to the first sample after it (summed when a stage is entered again). The clients at risk when a stage
began are those the record counted in the first sample of that stage: the observation that moved it there.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from reconciler.core.codes import Code
from reconciler.core.phase import Phase
from reconciler.core.procedure.table import STANDARD, Procedure
from reconciler.core.record import RolloutRecord

__all__ = ["Granted", "Sample", "Stall", "Track", "stage_labels"]


@dataclass(frozen=True, slots=True)
class Sample:
    at: datetime
    phase: Phase
    code: str | None
    at_risk: int | None

    @classmethod
    def of(cls, at: datetime, record: RolloutRecord) -> Sample:
        observed = record.observed
        return cls(at, record.phase, record.code, None if observed is None else observed.at_risk_count)


@dataclass(frozen=True, slots=True)
class Granted:
    """An approval the forecast gave the moment it was first needed (``accept_at_risk``: for the clients at risk)."""

    step: int
    at: datetime
    accept_at_risk: bool = False
    at_risk: int | None = None


@dataclass(frozen=True, slots=True)
class Stall:
    code: str
    stage: str  # the step label ("3", "4b") or the phase
    at: datetime
    continued: bool  # the forecast accepted and resumed (MaxSoakExceeded), or the run ended there


def stage_labels(procedure: Procedure = STANDARD) -> dict[Phase, str]:
    """``{phase: "1", …, "4a", "4b", …}``: the step labels people read, for the phases of the procedure."""
    return {stage.phase: stage.step for stage in procedure.steps}


@dataclass(slots=True)
class Track:
    """One server's run: the samples, what the forecast did as operator, and how it ended."""

    server: str
    start: datetime
    samples: list[Sample] = field(default_factory=list)
    approvals: list[Granted] = field(default_factory=list)
    manual: list[tuple[str, datetime]] = field(default_factory=list)  # (step label, when done)
    stalls: list[Stall] = field(default_factory=list)
    end: str = "running"  # in_sync | stalled | horizon | error
    reason: str = ""
    orphaned: int | None = None  # the twin's ground truth at the end (clients orphaned)

    def add(self, at: datetime, record: RolloutRecord) -> Sample:
        sample = Sample.of(at, record)
        self.samples.append(sample)
        return sample

    def extend(self, samples: Iterable[Sample]) -> None:
        self.samples.extend(samples)

    # --- measures ------------------------------------------------------------------------------------------------

    def durations(self, *, skip: Code | None = None) -> dict[Phase, timedelta]:
        """Time spent in each phase (the last one, where the run ended, is not counted); ``skip``: not the time held
        with that code (a closed window, say)."""
        spent: dict[Phase, timedelta] = {}
        for here, after in zip(self.samples, self.samples[1:], strict=False):
            if after.at > here.at and (skip is None or here.code != skip.value):
                spent[here.phase] = spent.get(here.phase, timedelta(0)) + (after.at - here.at)
        return spent

    @property
    def finished_at(self) -> datetime | None:
        """When the rollout was seen done: the first sample in sync after a rollout phase."""
        started = False
        for sample in self.samples:
            if sample.phase in _ROLLOUT:
                started = True
            elif started and sample.phase is Phase.IN_SYNC:
                return sample.at
        return None

    @property
    def total(self) -> timedelta | None:
        """From the start of the run to in sync (None: not finished)."""
        done = self.finished_at
        return None if done is None else done - self.start

    def at_risk_entering(self, phase: Phase) -> int | None:
        """The clients at risk when the server entered ``phase`` (None: never entered, or not counted)."""
        return next((s.at_risk for s in self.samples if s.phase is phase), None)

    def waited(self, code: Code) -> timedelta:
        """Time spent held with ``code`` (e.g. ``WindowClosed``)."""
        spent = timedelta(0)
        for here, after in zip(self.samples, self.samples[1:], strict=False):
            if here.code == code.value and after.at > here.at:
                spent += after.at - here.at
        return spent


_ROLLOUT = frozenset(stage.phase for stage in STANDARD.steps)


def phases_in_order(procedure: Procedure = STANDARD) -> list[Phase]:
    return [stage.phase for stage in procedure.steps]


def label_of(phase: Phase, labels: Mapping[Phase, str] | None = None) -> str:
    labels = labels if labels is not None else stage_labels()
    return labels.get(phase) or phase.value.replace("_", " ")
