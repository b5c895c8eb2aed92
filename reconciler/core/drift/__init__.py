"""Drift: a chain of small, pure, named checks over what is known about one server.

Each check reads a :class:`DriftInput` (the spec, the desired fingerprint, what was seen — live or remembered —,
the rollout record, ``now``) and returns :class:`Finding` objects, each a stable :class:`Reason`, a
:class:`Severity` and a message a person acts on. ``sepm-reconciler report`` is this chain's output; the exit code
follows :data:`EXIT_BY_SEVERITY` (error 1, warning 2, info 0; the worst finding decides). See docs/report.md.

    findings = evaluate(DriftInput(name, now, spec=spec, desired=fp, seen=Seen.from_observation(obs, spec),
                                   record=record))
    code = exit_code(findings)
"""

from reconciler.core.drift.chain import DEFAULT_CHAIN, Chain, Check, evaluate
from reconciler.core.drift.history import drift_began
from reconciler.core.drift.inputs import DriftInput
from reconciler.core.drift.model import (
    EXIT_BY_SEVERITY,
    SEVERITY_ORDER,
    Finding,
    Reason,
    Severity,
    exit_code,
    worst,
)
from reconciler.core.drift.seen import ClientsSeen, PortSeen, Seen

__all__ = [
    "DEFAULT_CHAIN",
    "EXIT_BY_SEVERITY",
    "SEVERITY_ORDER",
    "Chain",
    "Check",
    "ClientsSeen",
    "DriftInput",
    "Finding",
    "PortSeen",
    "Reason",
    "Seen",
    "Severity",
    "drift_began",
    "evaluate",
    "exit_code",
    "worst",
]
