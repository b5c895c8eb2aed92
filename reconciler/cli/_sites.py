"""The site order ``plan`` shows: by wave, each site's servers in the order they swap (step 4a), with the earliest
moment each swap can begin."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from reconciler.core import wording
from reconciler.core._storage import iso_or_none
from reconciler.engine.plan import ServerPlan
from reconciler.specs import SpecSet

__all__ = ["SitePlan", "site_lines", "site_plans"]


@dataclass(frozen=True, slots=True)
class SitePlan:
    """One site: its wave, its servers in swap order (``(name, earliest 4a start or None, 4a status)``), how many
    swap at once."""

    name: str
    wave: int
    swaps: tuple[tuple[str, datetime | None, str], ...]
    concurrency: int

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "wave": self.wave,
            "swap_concurrency": self.concurrency,
            "swap_order": [
                {"server": name, "earliest_start": iso_or_none(start), "status": status}
                for name, start, status in self.swaps
            ],
        }


def _swap(plan: ServerPlan) -> tuple[datetime | None, str]:
    step = next((s for s in plan.steps if s.label == "4a"), None)
    if step is None:
        return None, "done" if plan.in_sync else "—"
    return step.earliest_start, step.status


def site_plans(plans: list[ServerPlan], spec_set: SpecSet) -> list[SitePlan]:
    """The sites of the planned servers, by wave then name. The servers of a site swap one after the other (at most
    ``swapConcurrency`` at once): the first by name first — the one whose API does the site's policy steps when it
    answers — each next swap no earlier than the one before it."""
    by_site: dict[str, list[ServerPlan]] = {}
    for plan in plans:
        server = spec_set.servers.get(plan.name)
        if server is not None:
            by_site.setdefault(server.spec.spec.server.site, []).append(plan)
    out = []
    for site, members in by_site.items():
        ordered = sorted(members, key=lambda p: p.name)
        rollout = spec_set.servers[ordered[0].name].spec.spec.rollout
        swaps = []
        previous: datetime | None = None
        for plan in ordered:
            start, status = _swap(plan)
            if start is not None and previous is not None and rollout.site.swap_concurrency == 1:
                start = max(start, previous)
            previous = start or previous
            swaps.append((plan.name, start, status))
        out.append(SitePlan(site, rollout.wave, tuple(swaps), rollout.site.swap_concurrency))
    return sorted(out, key=lambda s: (s.wave, s.name))


def site_lines(sites: list[SitePlan]) -> list[str]:
    """One line per site: ``wave 1 · Site East: sepm-a (4a pending, from …) → sepm-b (4a pending, from …)`` —
    none when every site has one server and every server is in wave 1 (nothing to order)."""
    if all(len(s.swaps) == 1 for s in sites) and {s.wave for s in sites} <= {1}:
        return []
    lines = []
    for site in sites:
        order = " → ".join(
            f"{name} (4a {status}{', from ' + wording.when(start) if start and status != 'done' else ''})"
            for name, start, status in site.swaps
        )
        lines.append(f"wave {site.wave} · {site.name}: {order}")
    if len({s.wave for s in sites}) > 1:
        lines.append("a later wave begins 4a only when every earlier wave has passed 4b")
    return lines
