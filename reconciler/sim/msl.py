"""Management server lists of one site (Policies > Policy Components > Management Server Lists).

A list tells clients which servers to talk to and over which protocol. Clients cache the server certificate in the
list they applied: on an **HTTPS** list a client that does not trust the certificate it is shown fails TLS — the
KB 187099 hazard. Lists have no REST endpoint (console only), so ``POST /_sim/lists`` copies or edits one and
``POST /_sim/lists/assign`` assigns one to groups.

Entries are never removed (client and policy records refer to them by index); a list that a replication overwrite
took away is marked ``present = False`` and no longer shown.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ListStore", "MsList"]


@dataclass(slots=True)
class MsList:
    id: str  # identity across replicating sites
    name: str
    protocol: str  # "https" | "http"
    created_ms: int
    modified_ms: int
    present: bool = True

    @property
    def https(self) -> bool:
        return self.protocol == "https"

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "protocol": self.protocol}


class ListStore:
    def __init__(self) -> None:
        self.lists: list[MsList] = []

    def present(self) -> list[MsList]:
        return [entry for entry in self.lists if entry.present]

    def by_name(self, name: str) -> MsList | None:
        return next((entry for entry in self.lists if entry.present and entry.name == name), None)

    def by_id(self, list_id: str) -> MsList | None:
        return next((entry for entry in self.lists if entry.id == list_id), None)

    def index(self, entry: MsList) -> int:
        return next(i for i, e in enumerate(self.lists) if e is entry)

    def add(self, entry: MsList) -> MsList:
        self.lists.append(entry)
        return entry

    def first(self) -> MsList:
        return self.present()[0]
