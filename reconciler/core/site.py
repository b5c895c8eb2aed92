"""Sites and waves as data: which managed servers share one SEPM database (the specs naming the same
``spec.server.site``), what is remembered of each, and which servers belong to earlier waves.

A site is the unit of the policy steps (2a/2b, 3, 4b, 5a/5b, 6; steps 1 and 7 per site partnership): they are done
once, on one server's API — the *lead*. The server is the unit of the swap (4a): one server of a site at a time by
default. ``rollout.wave`` orders sites across the fleet. The checks that read this live in
:mod:`reconciler.core.procedure.site`; the engine builds one :class:`SiteView` per decision with :func:`site_view`.
Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from reconciler.core.phase import Phase
from reconciler.core.record import RolloutRecord
from reconciler.core.spec import ManagedServer

__all__ = [
    "SiteView",
    "healthy",
    "rotating",
    "site_lead",
    "site_members",
    "site_order",
    "site_status",
    "site_view",
    "swap_state",
]


@dataclass(frozen=True, slots=True)
class SiteView:
    """What one decision knows of its server's site and of the earlier waves.

    * ``name`` — the site (``spec.server.site``); ``members`` — every managed server of it, sorted by name;
    * ``peers`` — the records of the other members (a member never reconciled has none);
    * ``swap_concurrency`` — how many servers of the site may be in step 4a at once;
    * ``wave`` — this server's wave; ``earlier`` — ``{server: (wave, record or None)}`` of the servers of earlier
      waves (their swap must have passed 4b before this one begins 4a).
    """

    name: str
    members: tuple[str, ...]
    peers: Mapping[str, RolloutRecord] = field(default_factory=dict)
    swap_concurrency: int = 1
    wave: int = 1
    earlier: Mapping[str, tuple[int, RolloutRecord | None]] = field(default_factory=dict)

    @property
    def shared(self) -> bool:
        """More than one managed server serves this site."""
        return len(self.members) > 1


def rotating(record: RolloutRecord | None) -> bool:
    """A rollout is open and inside the procedure (steps 1-7, or stalled in one)."""
    if record is None or record.rollout_id is None:
        return False
    return record.working_phase not in (Phase.NEW, Phase.IN_SYNC, Phase.DRIFTED, Phase.ROLLING_BACK)


def healthy(record: RolloutRecord | None) -> bool:
    """The server's last observation was complete (a server never observed is not)."""
    return record is not None and record.observed is not None and record.observation_failures == 0


def site_members(server: ManagedServer, specs: Iterable[ManagedServer]) -> tuple[str, ...]:
    """The names of every managed server of ``server``'s site (itself included), sorted."""
    site = server.spec.server.site
    return tuple(sorted({s.name for s in specs if s.spec.server.site == site} | {server.name}))


def site_view(
    server: ManagedServer, specs: Iterable[ManagedServer], records: Mapping[str, RolloutRecord]
) -> SiteView:
    """The :class:`SiteView` of ``server`` given every spec and every record (by server name)."""
    all_specs = list(specs)
    members = site_members(server, all_specs)
    wave = server.spec.rollout.wave
    earlier = {
        s.name: (s.spec.rollout.wave, records.get(s.name))
        for s in all_specs
        if s.spec.rollout.wave < wave and s.spec.server.site != server.spec.server.site
    }
    return SiteView(
        name=server.spec.server.site,
        members=members,
        peers={n: records[n] for n in members if n != server.name and n in records},
        swap_concurrency=server.spec.rollout.site.swap_concurrency,
        wave=wave,
        earlier=dict(sorted(earlier.items())),
    )


def _order(phase: Phase) -> int:
    from reconciler.core.procedure.table import STANDARD  # the table imports this module's checks: on use

    order = [s.phase for s in STANDARD.steps]
    return order.index(phase) if phase in order else -1


def site_lead(records: Iterable[RolloutRecord]) -> str | None:
    """The server whose API does the site's policy steps, as the records tell (the first by name inside the
    procedure whose last observation was complete), or None when no server of the site rotates."""
    return next(
        (r.server for r in sorted(records, key=lambda r: r.server) if rotating(r) and healthy(r)), None
    )


def swap_state(record: RolloutRecord) -> str:
    """One server's own step 4a: ``pending`` (before it), ``swapping`` (in it), ``swapped`` (after it, in this
    rollout), or ``none`` (no rollout)."""
    if not rotating(record):
        return "none"
    phase = record.working_phase
    if phase is Phase.UPDATING_CERTIFICATE:
        return "swapping"
    return "swapped" if _order(phase) > _order(Phase.UPDATING_CERTIFICATE) else "pending"


def site_status(name: str, records: Iterable[RolloutRecord]) -> dict[str, object]:
    """The ``"site"`` block of ``status --output json``: the site's rollout id (the earliest-started rollout of
    its servers under way), its phase and step (those of its least advanced server under way; ``in_sync`` when
    every server is), its lead and each server's own 4a state."""
    members = sorted(records, key=lambda r: r.server)
    under_way = sorted(
        (r for r in members if rotating(r)), key=lambda r: (r.started_at or r.entered_at, r.server)
    )
    if under_way:
        slowest = min(under_way, key=lambda r: (_order(r.working_phase), r.server))
        phase, step, substep = slowest.working_phase.value, slowest.step, slowest.substep
    elif members and all(r.in_sync for r in members):
        phase, step, substep = Phase.IN_SYNC.value, 0, None
    else:
        phase, step, substep = (members[0].phase.value if members else Phase.NEW.value), 0, None
    return {
        "name": name,
        "rollout": under_way[0].rollout_id if under_way else None,
        "phase": phase,
        "step": step,
        "substep": substep,
        "lead": site_lead(members),
        "servers": {r.server: swap_state(r) for r in members},
    }


def site_order(names: Iterable[str], sites: Mapping[str, str]) -> list[str]:
    """``names`` grouped by site (then by name) when some site has several of them; else by name. Names without a
    site (not in the specs) come last in the grouped order."""
    listed = sorted(names)
    known = [sites[n] for n in listed if n in sites]
    if len(known) == len(set(known)):
        return listed
    return sorted(listed, key=lambda n: (n not in sites, sites.get(n, ""), n))
