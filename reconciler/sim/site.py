"""A site: one SEPM database — its domains and their groups, its management server lists, its clients — served by
one or more managers (each with its own ports, certificate and services).

Clients have a home server (the manager whose ``clients:`` block made them) and fail over to another server of
the site, in file order, while their home server's clients port is down; the check-in rule applies to the
certificate of the server they reach, and a client learns every server's certificate (its list names them all).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from reconciler.sim.behaviours import Behaviours
from reconciler.sim.clients import ClientFleet, Environment
from reconciler.sim.fleet import DEFAULT_DOMAIN, ROOT_GROUP, ClientsConfig, ManagerConfig
from reconciler.sim.fleetfile import default_prefix
from reconciler.sim.groups import Group, GroupTree, hex_id
from reconciler.sim.msl import ListStore, MsList
from reconciler.sim.population import Population

if TYPE_CHECKING:
    from reconciler.sim.manager import Manager

__all__ = ["Domain", "Site"]

_YEAR_MS = 365 * 86_400_000


@dataclass(slots=True)
class Domain:
    index: int
    name: str
    id: str
    tree: GroupTree
    created_ms: int


class Site:
    def __init__(self, name: str, managers: list[Manager], *, seed: int, start_ms: int) -> None:
        self.name = name
        self.managers = managers  # server slots, in file order; the first owns the definition
        self.seed = seed
        owner = managers[0].cfg
        self.behaviours: Behaviours = owner.behaviours
        self.lists = ListStore()
        for spec in owner.behaviours.management_server_lists:
            created = start_ms - _YEAR_MS
            self.lists.add(
                MsList(hex_id(seed, "list", spec.name), spec.name, spec.protocol, created, created)
            )
        heartbeat = owner.clients.heartbeat
        trees = [(DEFAULT_DOMAIN, owner.groups)] + [(d.name, d.groups) for d in owner.domains]
        self.domains: list[Domain] = []
        for index, (domain, groups) in enumerate(trees):
            domain_id = hex_id(seed, "domain", domain)
            tree = GroupTree(
                groups,
                seed=seed,
                domain=domain,
                domain_id=domain_id,
                start_ms=start_ms,
                heartbeat=heartbeat,
                lists=self.lists,
            )
            self.domains.append(Domain(index, domain, domain_id, tree, start_ms - 2 * _YEAR_MS))
        self.populations: list[Population] = []
        for slot, m in enumerate(managers):
            m.site_obj, m.slot = self, slot
            self._populate(m.cfg, slot, start_ms)

    def _populate(self, cfg: ManagerConfig, slot: int, start_ms: int) -> None:
        blocks: list[tuple[int, ClientsConfig]] = [(0, cfg.clients)]
        for d in cfg.domains:
            domain = self.domain_by_name(d.name)
            if d.clients is not None and domain is not None:  # the fleet file is checked: the domain exists
                blocks.append((domain.index, d.clients))
        certs = self.site_certs()
        for k, (domain_index, clients) in enumerate(blocks):
            tree = self.domains[domain_index].tree
            weights = _weights(tree, clients)
            manager_index = self.managers[slot].index
            seed = (self.seed, manager_index) if k == 0 else (self.seed, manager_index, k)
            fleet = ClientFleet(
                clients,
                seed=seed,
                start_ms=start_ms,
                group_weights=weights,
                initial_policy=tree.current_policies(),
                initial_certs=certs,
                home_slot=slot,
                absence_groups=[
                    None if a.group is None else tree.by_path[a.group].index for a in clients.absences
                ],
            )
            prefix = clients.name_prefix or default_prefix(cfg.name, self.domains[domain_index].name)
            width = max(6, len(str(max(clients.count - 1, 0))))
            self.populations.append(
                Population(
                    fleet=fleet,
                    cfg=clients,
                    home=slot,
                    domain=domain_index,
                    prefix=prefix,
                    width=width,
                    start_ms=start_ms,
                    churn_seed=(*seed, 7919),
                )
            )

    # --- looking things up ---------------------------------------------------------------------------------------
    def domain_by_name(self, name: str) -> Domain | None:
        wanted = DEFAULT_DOMAIN if name in ("", DEFAULT_DOMAIN) else name
        return next((d for d in self.domains if d.name.casefold() == wanted.casefold()), None)

    def domain_by_id(self, domain_id: str) -> Domain | None:
        return next((d for d in self.domains if d.id.upper() == domain_id.upper()), None)

    def group_by_id(self, group_id: str) -> tuple[Domain, Group] | None:
        for d in self.domains:
            g = d.tree.by_id.get(group_id)
            if g is not None:
                return d, g
        return None

    def groups_by_path(self, path: str) -> list[tuple[Domain, Group]]:
        return [(d, d.tree.by_path[path]) for d in self.domains if path in d.tree.by_path]

    def homed(self, slot: int) -> list[Population]:
        return [p for p in self.populations if p.home == slot]

    def in_domain(self, domain: Domain) -> list[Population]:
        """The populations of ``domain``, in name order of their prefixes (so concatenated rows are in name
        order: no prefix of a site starts another)."""
        return sorted(
            (p for p in self.populations if p.domain == domain.index), key=lambda p: p.prefix.upper()
        )

    def find_client(self, name: str) -> tuple[Population, int] | None:
        """The live record named ``name`` (or the newest deleted one when no record of that name is live)."""
        for p in self.populations:
            rows = p.rows_named(name)
            if rows.size:
                live = rows[~p.fleet.deleted[rows]]
                return p, int((live if live.size else rows)[-1])
        return None

    def site_certs(self) -> npt.NDArray[np.int16]:
        """What each server of the site presents on its clients port when up: what a client learns."""
        return np.array([m.current["clients"] for m in self.managers], dtype=np.int16)

    # --- clients -------------------------------------------------------------------------------------------------
    def environment(self, population: Population) -> Environment:
        home = self.managers[population.home]
        reached = home if home.served("clients") is not None else None
        if reached is None:
            reached = next((m for m in self.managers if m.served("clients") is not None), None)
        tree = self.domains[population.domain].tree
        served = -1 if reached is None else reached.current["clients"]
        return Environment(
            served=served,
            slot=0 if reached is None else reached.slot,
            site_certs=self.site_certs(),
            group_policy=tree.current_policies(),
            policy_secure=tree.policy_secure,
            policy_https=tree.policy_https,
            learn_with_policy=self.behaviours.certificate_with_policy,
        )

    def sync(self, now_ms: int) -> None:
        """Bring every client of the site up to ``now_ms``: check-ins, then the churn due."""
        certs = self.site_certs()
        for p in self.populations:
            p.fleet.sync(now_ms, self.environment(p))
            p.churn(now_ms, self.domains[p.domain].tree.current_policies(), certs)

    # --- console operations (call sync(now) first) ---------------------------------------------------------------
    def set_list(self, name: str, protocol: str, copy_of: str | None, now_ms: int) -> MsList:
        """Copy (``copy_of``) and paste a list under ``name``, or edit the protocol of the list ``name``."""
        existing = self.lists.by_name(name)
        if copy_of is not None:
            if self.lists.by_name(copy_of) is None:
                raise LookupError(f"no management server list named {copy_of!r} to copy")
            if existing is not None:
                raise FileExistsError(f"a management server list named {name!r} exists already")
            list_id = hex_id(self.seed, "list", self.name, name, now_ms, len(self.lists.lists))
            return self.lists.add(MsList(list_id, name, protocol, now_ms, now_ms))
        if existing is None:
            raise LookupError(f"no management server list named {name!r} (give copyOf to create it)")
        if existing.protocol != protocol:
            existing.protocol, existing.modified_ms = protocol, now_ms
            for d in self.domains:
                d.tree.list_edited(existing, now_ms)
        return existing

    def assign_list(self, entry: MsList, paths: list[str] | None, now_ms: int) -> list[str]:
        """Assign ``entry`` to the groups at ``paths`` (``None``: every group and location); returns the paths
        of the groups assigned. Raises :class:`LookupError` (unknown group) or :class:`ValueError` (a group that
        inherits) before changing anything."""
        targets: list[tuple[Domain, Group]] = []
        if paths is None:
            targets = [(d, g) for d in self.domains for g in d.tree.groups if not g.inherits]
        else:
            for path in paths:
                found = self.groups_by_path(path)
                if not found:
                    raise LookupError(f"no group {path!r} in site {self.name!r}")
                for d, g in found:
                    if g.inherits:
                        source = d.tree.source(g)
                        raise ValueError(
                            f"group {path!r} inherits its policies from {source.path!r}: assign the list to "
                            f"{source.path!r} (or give null for every group and location)"
                        )
                    targets.append((d, g))
        for d, g in targets:
            d.tree.assign_list(g, entry, now_ms)
        return sorted({g.path for _, g in targets})

    def repoint_missing_lists(self, now_ms: int) -> None:
        """After a replication overwrite: a group whose list is gone is given the site's first list."""
        first = self.lists.first()
        for d in self.domains:
            for g in d.tree.groups:
                entry = self.lists.by_id(g.list_id)
                if not g.inherits and (entry is None or not entry.present):
                    d.tree.assign_list(g, first, now_ms)

    def set_behaviours(self, behaviours: Behaviours) -> None:
        """Apply the site's part of ``behaviours`` (lists are created or edited; see ``POST /_sim/behaviours``)."""
        self.behaviours = behaviours
        for m in self.managers:
            m.behaviours = dataclasses.replace(
                m.behaviours,
                management_server_lists=behaviours.management_server_lists,
                certificate_with_policy=behaviours.certificate_with_policy,
                deleted_rows=behaviours.deleted_rows,
                rejoin=behaviours.rejoin,
            )

    def all_groups(self) -> Iterator[tuple[Domain, Group]]:
        for d in self.domains:
            for g in d.tree.groups:
                yield d, g


def _weights(tree: GroupTree, clients: ClientsConfig) -> list[tuple[int, float]]:
    if clients.group_shares:
        return [(tree.by_path[p].index, s) for p, s in clients.group_shares]
    leaves = [g.index for g in tree.groups if g.path != ROOT_GROUP] or [0]
    return [(i, 1.0) for i in leaves]
