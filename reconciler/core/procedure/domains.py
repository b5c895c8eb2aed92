"""The domains of a manager: a domain the rollout's clients live in that the API credentials cannot see is a hold
(``DomainNotVisible``) — never a silent skip, never a smaller fleet.

Which domains count is ``rollout.clients.domains`` (``all``: every domain the credentials see). The rollout remembers
the domains it counted (``Facts.domains``): one that disappears from ``GET domains`` mid-rollout holds every step,
like one the spec names that the credentials never saw.
"""

from __future__ import annotations

from reconciler.core.codes import Code
from reconciler.core.procedure.gates import Gate
from reconciler.core.procedure.given import Given
from reconciler.core.procedure.verdicts import Change, Check, Failed, Passed, Verdict
from reconciler.core.said import Said

__all__ = ["domains_visible", "remember_domains"]


def _domains_visible(given: Given) -> Verdict:
    """Every domain the spec names, and every domain the rollout counted, is visible to the credentials (domains that
    could not be read: the parts that need them are unknown and hold on their own)."""
    obs = given.observation
    said = Said(Code.DOMAIN_NOT_VISIBLE, {"domains": ()})
    if obs is None or obs.domains is None:
        return Passed(said)
    visible = tuple(d.name for d in obs.domains)
    if obs.domains_missing:
        return Failed(said.but(domains=obs.domains_missing, visible=visible))
    gone = tuple(name for name in given.facts.domains if obs.domain_visible(name) is False)
    if gone and given.record.rollout_id is not None:
        return Failed(said.but(domains=gone, visible=visible, gone=True))
    return Passed(said)


def remember_domains(given: Given) -> Change:
    """While a rollout is open: add the domains counted now to those it remembers (a domain never leaves the list
    before the rollout ends)."""
    obs = given.observation
    if given.record.rollout_id is None or obs is None or obs.domains is None:
        return Change()
    known = given.facts.domains
    folded = {name.casefold() for name in known}
    new = tuple(d.name for d in obs.domains if d.counted and d.name.casefold() not in folded)
    return Change(facts={"domains": (*known, *new)}) if new else Change()


def _named(name: str, check: Check) -> Check:
    check.__name__ = check.__qualname__ = name
    return check


domains_visible = Gate(_named("domains_visible", _domains_visible))
