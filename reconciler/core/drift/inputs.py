"""The one input every drift check reads: everything known about one server, gathered beforehand (no I/O here)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from reconciler.core.drift.seen import Seen
from reconciler.core.phase import Phase
from reconciler.core.procedure.table import STANDARD
from reconciler.core.record import RolloutRecord
from reconciler.core.spec import ManagedServer, Mode

__all__ = ["DEFAULT_EXPIRY_WARNING", "DriftInput"]

DEFAULT_EXPIRY_WARNING = timedelta(days=30)
"""``spec.certificate.expiryWarning``'s default, used for servers that are no longer in the specs."""


@dataclass(frozen=True, slots=True)
class DriftInput:
    """What is known about server ``name`` at ``now`` (reconciler clock, timezone-aware UTC).

    * ``spec`` — its ManagedServer, None when it is only in the state (no longer in the specs);
    * ``desired`` — the fingerprint it must present (None when unknown: the spec or its certificate file is unusable);
    * ``seen`` — what was observed (live) or remembered (offline); None with ``seen_error`` saying why;
    * ``record`` — the rollout record, None when the reconciler never handled it (or no state was given);
    * ``spec_problems`` — located spec errors about this server (``file:line:col: field: message``);
    * ``specs_invalid`` — the spec set has errors: a server missing from it may sit in an invalid document;
    * ``site_peers`` — other managed servers of the same SEPM site;
    * ``drift_began`` — when the reconciler first saw the current drift (from the event log), when known.
    """

    name: str
    now: datetime
    spec: ManagedServer | None = None
    desired: str | None = None
    seen: Seen | None = None
    seen_error: str | None = None
    record: RolloutRecord | None = None
    spec_problems: tuple[str, ...] = ()
    specs_invalid: bool = False
    site_peers: tuple[str, ...] = ()
    drift_began: datetime | None = None

    @property
    def expiry_warning(self) -> timedelta:
        return self.spec.spec.certificate.expiry_warning if self.spec else DEFAULT_EXPIRY_WARNING

    @property
    def report_mode(self) -> bool:
        return self.spec is not None and self.spec.spec.rollout.mode is Mode.REPORT

    @property
    def step(self) -> int:
        """The procedure step the record is in (1..7; a stalled rollout keeps its step), 0 outside it."""
        return self.record.step if self.record is not None else 0

    @property
    def rolling_back(self) -> bool:
        return self.record is not None and self.record.working_phase is Phase.ROLLING_BACK

    @property
    def rollout_active(self) -> bool:
        """A rollout is under way (steps 1-7, rolling back, or stalled in one of them)."""
        return self.step > 0 or self.rolling_back

    def on_our_clock(self, manager_moment: datetime) -> datetime:
        """A moment of the manager's clock on the reconciler's, shifted by the offset seen when observing."""
        seen = self.seen
        if seen is None or seen.manager_time is None:
            return manager_moment
        return manager_moment + (seen.observed_at - seen.manager_time)

    @property
    def swapped(self) -> bool:
        """The rollout is past the point of no return: a port was seen presenting another certificate."""
        record = self.record
        if record is None or not self.rollout_active:
            return False
        return (
            STANDARD.past_no_return(record.working_phase) or record.facts.certificate_changed_at is not None
        )
