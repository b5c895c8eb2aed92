"""Checks of the spec side: a server whose spec cannot be used, and a server the specs no longer name."""

from __future__ import annotations

from reconciler.core import wording
from reconciler.core.drift.inputs import DriftInput
from reconciler.core.drift.model import Finding, Reason, Severity
from reconciler.core.phase import Phase
from reconciler.core.procedure.table import STANDARD

__all__ = ["spec_invalid", "unmanaged_server"]

_HOW = "sepm-reconciler validate lists every problem of the specs"


def spec_invalid(given: DriftInput) -> list[Finding]:
    """``SpecInvalid`` (error): each located problem of this server's spec — and a server in the state that is
    missing from specs that have errors (its document may be one of the invalid ones)."""
    findings = [
        Finding(Reason.SPEC_INVALID, Severity.ERROR, f"{problem} — fix it; {_HOW}")
        for problem in given.spec_problems
    ]
    if given.spec is None and given.record is not None and given.specs_invalid:
        findings.append(
            Finding(
                Reason.SPEC_INVALID,
                Severity.ERROR,
                f"{given.name} is in the state but not among the valid specs, and the specs have errors: if its "
                f"document is one of the invalid ones, fix it ({_HOW}); if it was removed on purpose, the reconciler "
                "leaves it as it is",
            )
        )
    return findings


def unmanaged_server(given: DriftInput) -> list[Finding]:
    """``UnmanagedServer``: in the state but no longer in the specs; left as it is. Info when it was left in sync,
    warning when drifted, error when left in the middle of a rollout (verification or replication may still be
    changed)."""
    record = given.record
    if given.spec is not None or record is None or given.specs_invalid:
        return []
    text = (
        f"{given.name} is in the state but no longer in the specs: the reconciler leaves it as it is (last handled "
        f"{wording.when(record.updated_at)}, phase {record.phase.value})"
    )
    if given.rollout_active:
        where = f"step {record.step} of {STANDARD.step_count}" if record.step else "rolling back"
        text += (
            f"; it was left in the middle of a rollout ({where}): certificate verification or replication may still "
            "be changed — restore its spec to finish or roll back the rollout, or restore them by hand"
        )
        severity = Severity.ERROR
    elif record.phase in (Phase.IN_SYNC, Phase.NEW):
        severity = Severity.INFO
    else:
        text += "; it was not in sync when last handled"
        severity = Severity.WARNING
    return [Finding(Reason.UNMANAGED_SERVER, severity, text, since=record.updated_at)]
