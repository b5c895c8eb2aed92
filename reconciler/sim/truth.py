"""The ground truth, ``GET /_sim/state``: what really happened, for tests and the demo to compare against.

Per manager: what its ports serve, its services and restarts, its faults and behaviours, and its site's database
(groups across every domain, lists, replication); ``clients`` counts the live clients whose **home** server it is
(so counts add up over the managers of a site). The top level adds ``sites``: which managers serve each site.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

import numpy as np

from reconciler.sim.clients import REASONS
from reconciler.sim.clock import iso
from reconciler.sim.manager import PORTS, Manager
from reconciler.sim.population import Population

if TYPE_CHECKING:
    from reconciler.sim.site import Site
    from reconciler.sim.world import World

__all__ = ["client_row", "fleet_state"]


def fleet_state(world: World, now: int, *, clients: bool) -> dict[str, Any]:
    return {
        "clock": iso(now),
        "managers": {m.name: _manager_state(world, m, now, clients) for m in world.managers.values()},
        "sites": {s.name: {"managers": [m.name for m in s.managers]} for s in world.sites.values()},
    }


def _manager_state(world: World, m: Manager, now: int, detail: bool) -> dict[str, Any]:
    site = m.site_obj
    homed = site.homed(m.slot)
    groups = []
    for domain, g in site.all_groups():
        tree = domain.tree
        policy = tree.current(g)
        members = sum(int(((p.fleet.group == g.index) & p.fleet.live).sum()) for p in site.in_domain(domain))
        groups.append(
            {
                "id": g.id,
                "name": g.path,
                "secure_communications": tree.effective_secure(g),
                "policySerialNumber": policy.serial,
                "policyDate": policy.time_ms,
                "inherits": g.inherits,
                "clients": members,
                "domain": domain.name,
                "list": tree.effective_list(g).name,
            }
        )
    counts: Counter[str] = Counter()
    by_list: Counter[str] = Counter()
    orphaned_by: Counter[str] = Counter(dict.fromkeys(REASONS.values(), 0))
    orphan_names: list[str] = []
    for p in homed:
        _count(world, m, p, now, counts, by_list, orphaned_by, orphan_names)
    out: dict[str, Any] = {
        "site": m.site,
        "served": {port: world.fingerprint(m.served(port)) for port in PORTS},
        "presents_when_up": {port: world.fingerprint(m.current[port]) for port in PORTS},
        "staged": world.fingerprint(m.staged),
        "services": {
            s: ("running" if up else ("restarting" if m.restart else "stopped"))
            for s, up in m.running.items()
        },
        "restarts": list(m.restarts),
        "replication": {
            "partners": [p.other(m.site) for p in world.partners_of(m)],
            "status": {p.other(m.site): p.status for p in world.partners_of(m)},
        },
        "groups": groups,
        "domains": [d.name for d in site.domains],
        "lists": [entry.to_json() for entry in site.lists.present()],
        "clients": {
            "total": counts["total"],
            "online": counts["online"],
            "offline": counts["offline"],
            "orphaned": counts["orphaned"],
            "with_current_policy": counts["with_current_policy"],
            "verifying": counts["verifying"],
            "trusting_served": counts["trusting_served"],
            "deleted": counts["deleted"],
            "by_list": dict(sorted(by_list.items())),
            "orphaned_by": dict(orphaned_by),
        },
        "orphaned_clients": orphan_names,
        "faults": m.faults.to_json(),
        "behaviours": m.behaviours.to_json(),
        "throttle": {"refused": m.throttle.refused},
    }
    if detail:
        out["client_rows"] = [
            client_row(world, site, p, int(row), now) for p in homed for row in p.order() if p.fleet.live[row]
        ]
    return out


def _count(
    world: World,
    m: Manager,
    p: Population,
    now: int,
    counts: Counter[str],
    by_list: Counter[str],
    orphaned_by: Counter[str],
    orphan_names: list[str],
) -> None:
    fleet, site = p.fleet, m.site_obj
    tree = site.domains[p.domain].tree
    live = fleet.live
    current = tree.current_policies()[fleet.group] if fleet.count else np.zeros(0, dtype=np.int32)
    counts["total"] += int(live.sum())
    counts["deleted"] += int(fleet.deleted.sum())
    counts["online"] += int(fleet.online(now).sum())
    counts["offline"] += int((fleet.offline_at(now) & live).sum())
    orphaned = fleet.orphaned & live
    counts["orphaned"] += int(orphaned.sum())
    counts["with_current_policy"] += int(((fleet.applied == current) & live).sum())
    counts["verifying"] += int((tree.policy_secure[fleet.applied] & live).sum()) if fleet.count else 0
    counts["trusting_served"] += int(((fleet.trusted[:, m.slot] == m.current["clients"]) & live).sum())
    lists = site.lists.lists
    for index, n in zip(*np.unique(tree.policy_list[fleet.applied[live]], return_counts=True), strict=True):
        by_list[lists[int(index)].name] += int(n)
    for code, n in zip(*np.unique(fleet.reason[orphaned], return_counts=True), strict=True):
        orphaned_by[REASONS[int(code)]] += int(n)
    order = p.order()
    orphan_names.extend(p.name(int(row)) for row in order[orphaned[order]])


def client_row(world: World, site: Site, p: Population, i: int, now: int) -> dict[str, Any]:
    fleet = p.fleet
    tree = site.domains[p.domain].tree
    policy = tree.versions[int(fleet.applied[i])]
    away = bool(fleet.off_start[i] <= now < fleet.off_end[i])
    home = site.managers[p.home]
    uid = f"{int(fleet.uid[i, 0]):016X}{int(fleet.uid[i, 1]):016X}"
    return {
        "name": p.name(i),
        "group": tree.groups[int(fleet.group[i])].path,
        "online": not away and not bool(fleet.orphaned[i]) and not bool(fleet.deleted[i]),
        "orphaned": bool(fleet.orphaned[i]),
        "orphaned_at": iso(int(fleet.orphaned_at[i])) if fleet.orphaned[i] else None,
        "orphaned_by": REASONS.get(int(fleet.reason[i])) if fleet.orphaned[i] else None,
        "verifies": policy.secure,
        "policySerialNumber": policy.serial,
        "list": site.lists.lists[policy.list].name,
        "list_protocol": "https" if policy.https else "http",
        "trusts": world.certs[int(fleet.trusted[i, home.slot])].fingerprint,
        "lastUpdateTime": int(fleet.last_ok[i]),
        "offline_until": iso(int(fleet.off_end[i])) if away and fleet.off_end[i] < 2**60 else None,
        "uniqueId": uid,
        "deleted": bool(fleet.deleted[i]),
        "domain": site.domains[p.domain].name,
        "home": home.name,
        "last_server": site.managers[int(fleet.last_server[i])].name,
    }
