"""Replication between sites (manager ↔ manager, over the console port).

A partnership runs every ``replication.interval``. A run fails with ``FAILED_CONNECT`` unless, on each side, some
server's console service is up and presents a certificate the other side trusts (each side trusts the console
certificates the other presented when the partnership was added). A successful run merges what changed on either
side: management server lists (a list only one side has is copied; for one list changed on both, the most recent
change wins; two different lists of one name are both kept and the newer is renamed ``NAME ~1``), then, group by
group (matched by domain and full path), the newer policy.

Adding a partnership (``/_sim/replication/partners/add`` on a manager of the *joining* site): behaviour ``rejoin``
``overwrite`` (strict, the older vendor page: a new partner's database is overwritten) makes the joining site take
the other site's lists and group settings wholesale; ``merge`` (the vendor's "resolve data conflicts between sites"
page) runs one ordinary merging replication instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from reconciler.sim.msl import MsList
from reconciler.sim.site import Site

__all__ = ["Pair", "connectable", "join_overwrite", "merge_lists", "replicate"]

Sync = Callable[[Site, int], None]


@dataclass(slots=True)
class Pair:
    """A replication partnership between two sites."""

    sites: tuple[str, str]
    trust: dict[str, set[int]]  # site -> the console certificates it trusts for the *other* site
    interval_ms: int
    next_run: int
    status: str = "NEVER_REPLICATED"
    last_run: int = 0
    last_success: int = 0

    def other(self, site: str) -> str:
        return self.sites[1] if self.sites[0] == site else self.sites[0]


def new_pair(a: Site, b: Site, now_ms: int) -> Pair:
    interval = min(m.cfg.replication_interval for m in (*a.managers, *b.managers) if m.cfg.owns_site)
    trust = {a.name: _consoles(b), b.name: _consoles(a)}
    interval_ms = int(interval * 1000)
    return Pair(sites=(a.name, b.name), trust=trust, interval_ms=interval_ms, next_run=now_ms + interval_ms)


def _consoles(site: Site) -> set[int]:
    return {m.current["console"] for m in site.managers}


def connectable(pair: Pair, a: Site, b: Site) -> bool:
    def reachable(side: Site, trusted: set[int]) -> bool:
        return any((fp := m.served("console")) is not None and fp in trusted for m in side.managers)

    return reachable(b, pair.trust[a.name]) and reachable(a, pair.trust[b.name])


def merge_lists(a: Site, b: Site, at_ms: int, sync: Sync) -> None:
    """Both sites end with the union of their lists (see the module docstring); a list whose protocol changes on a
    side gives the groups using it there a new policy version."""
    for source, target in ((a, b), (b, a)):
        for entry in source.lists.present():
            mine = target.lists.by_id(entry.id)
            if mine is None or not mine.present:
                copy = MsList(entry.id, entry.name, entry.protocol, entry.created_ms, entry.modified_ms)
                if mine is None:
                    target.lists.add(copy)
                else:
                    mine.name, mine.protocol, mine.modified_ms, mine.present = (
                        entry.name, entry.protocol, entry.modified_ms, True
                    )  # fmt: skip
            elif entry.modified_ms > mine.modified_ms and entry.protocol != mine.protocol:
                sync(target, at_ms)
                mine.protocol, mine.modified_ms = entry.protocol, entry.modified_ms
                for d in target.domains:
                    d.tree.list_edited(mine, at_ms)
    _rename_same_named(a, b)


def _rename_same_named(a: Site, b: Site) -> None:
    """Two different lists of one name: both kept, the newer renamed ``NAME ~1`` (``~2``… if that is taken)."""
    for site in (a, b):
        by_name: dict[str, list[MsList]] = {}
        for entry in site.lists.present():
            by_name.setdefault(entry.name, []).append(entry)
        for name, entries in by_name.items():
            for entry in sorted(entries, key=lambda e: (e.created_ms, e.id))[1:]:
                taken = {e.name for e in site.lists.present()}
                k = 1
                while f"{name} ~{k}" in taken:
                    k += 1
                new_name = f"{name} ~{k}"
                for side in (a, b):  # the same object gets the same name on both sites
                    twin = side.lists.by_id(entry.id)
                    if twin is not None:
                        twin.name = new_name


def replicate(pair: Pair, a: Site, b: Site, at_ms: int, sync: Sync) -> None:
    pair.last_run = at_ms
    pair.next_run = at_ms + pair.interval_ms
    if not connectable(pair, a, b):
        pair.status = "FAILED_CONNECT"
        return
    merge_lists(a, b, at_ms, sync)
    for mine_site, theirs_site in ((a, b), (b, a)):
        for domain in mine_site.domains:
            found = theirs_site.domain_by_name(domain.name)
            if found is None:
                continue
            other = found.tree
            newer = [
                g.path
                for g in domain.tree.groups
                if g.path in other.by_path
                and other.current(other.by_path[g.path]).time_ms > domain.tree.current(g).time_ms
            ]
            if newer:
                sync(mine_site, at_ms)
                domain.tree.adopt(other, newer)
    pair.status = "SUCCEEDED"
    pair.last_success = at_ms


def join_overwrite(joining: Site, other: Site, at_ms: int) -> None:
    """``joining`` takes ``other``'s lists and group settings wholesale (call ``sync`` on it first)."""
    for entry in joining.lists.lists:
        theirs = other.lists.by_id(entry.id)
        if theirs is None or not theirs.present:
            entry.present = False
    for entry in other.lists.present():
        mine = joining.lists.by_id(entry.id)
        if mine is None:
            joining.lists.add(
                MsList(entry.id, entry.name, entry.protocol, entry.created_ms, entry.modified_ms)
            )
        else:
            mine.name, mine.protocol, mine.modified_ms, mine.present = (
                entry.name, entry.protocol, entry.modified_ms, True
            )  # fmt: skip
    for domain in joining.domains:
        found = other.domain_by_name(domain.name)
        if found is not None:
            domain.tree.adopt(found.tree, [g.path for g in domain.tree.groups])
    joining.repoint_missing_lists(at_ms)
