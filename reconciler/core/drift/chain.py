"""The chain of named checks (cert-manager's ``policies.Chain``): every check runs, each returns zero or more
findings; the chain lists them worst first, in chain order within a severity."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from reconciler.core.clock import require_aware
from reconciler.core.drift.deadline import rollout_must_start_by
from reconciler.core.drift.inputs import DriftInput
from reconciler.core.drift.lists import duplicate_lists, list_switch_skipped
from reconciler.core.drift.model import SEVERITY_ORDER, Finding
from reconciler.core.drift.rollout import (
    at_risk_clients,
    legacy_agents,
    replication_broken,
    rollout_in_progress,
    rollout_stalled,
    suspected_orphans,
    verification_disabled,
)
from reconciler.core.drift.served import certificate_expiry, handshake_failed, served_vs_desired, unreachable
from reconciler.core.drift.specs import spec_invalid, unmanaged_server

__all__ = ["DEFAULT_CHAIN", "Chain", "Check", "evaluate"]

Check = Callable[[DriftInput], list[Finding]]
"""A named, pure check: one input, its findings (none when it has nothing to say)."""


@dataclass(frozen=True, slots=True)
class Chain:
    checks: tuple[Check, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(check.__name__ for check in self.checks)

    def evaluate(self, given: DriftInput) -> tuple[Finding, ...]:
        require_aware(given.now, "now")
        found: Sequence[Finding] = [finding for check in self.checks for finding in check(given)]
        return tuple(sorted(found, key=lambda f: SEVERITY_ORDER[f.severity]))


DEFAULT_CHAIN = Chain(
    (
        spec_invalid,
        unmanaged_server,
        unreachable,
        handshake_failed,
        served_vs_desired,
        certificate_expiry,
        rollout_must_start_by,
        rollout_stalled,
        rollout_in_progress,
        verification_disabled,
        replication_broken,
        at_risk_clients,
        suspected_orphans,
        list_switch_skipped,
        duplicate_lists,
        legacy_agents,
    )
)
"""Every check, in the order their findings are listed within a severity."""


def evaluate(given: DriftInput, chain: Chain = DEFAULT_CHAIN) -> tuple[Finding, ...]:
    """The findings of ``chain`` (default: every check) about one server."""
    return chain.evaluate(given)
