"""The manager's domains (``GET domains``) and which of them a spec's clients live in.

Groups and computers are per domain; a listing without ``domain`` answers for the login domain only on a strict
manager. So every listing the observation makes names its domain (its id), and the domains come from ``GET domains``
each tick: a domain named by ``rollout.clients.domains`` that the credentials do not see is reported missing, never
skipped (the core holds with ``DomainNotVisible``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reconciler.errors import ProtocolError
from reconciler.sepm.client import SepmClient

__all__ = ["Domain", "choose_domains", "fetch_domains"]


@dataclass(frozen=True, slots=True)
class Domain:
    id: str
    name: str


async def fetch_domains(client: SepmClient) -> tuple[Domain, ...]:
    """Every domain the credentials see, in the manager's order. Raises :class:`ProtocolError` on an answer that is
    not a list of domains (the domains are then unknown: never an empty fleet)."""
    data: Any = await client.get_json("domains")
    if not isinstance(data, list):
        raise ProtocolError(f"GET domains answered {str(data)[:80]!r}, not a list of domains")
    found: list[Domain] = []
    for item in data:
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("id"), str)
            or not isinstance(item.get("name"), str)
        ):
            raise ProtocolError(f"GET domains listed an entry without an id and a name: {str(item)[:80]!r}")
        found.append(Domain(item["id"], item["name"]))
    if not found:
        raise ProtocolError(
            "GET domains listed no domain: the credentials' own domain at least must be visible"
        )
    return tuple(found)


def choose_domains(
    visible: tuple[Domain, ...], named: tuple[str, ...] | None
) -> tuple[tuple[Domain, ...], tuple[str, ...]]:
    """The domains whose clients are counted (every visible one when ``named`` is None) and the named ones the
    credentials do not see (names compare without case)."""
    if named is None:
        return visible, ()
    by_name = {d.name.casefold(): d for d in visible}
    chosen = tuple(by_name[n.casefold()] for n in named if n.casefold() in by_name)
    missing = tuple(n for n in named if n.casefold() not in by_name)
    return chosen, missing
