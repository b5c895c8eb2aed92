"""The settings-PATCH rehearsals recorded in the state (``probe --rehearse``), as ``status`` and ``report`` show them."""

from __future__ import annotations

from reconciler.core import wording
from reconciler.core.events import Event, EventKind
from reconciler.store import Store

__all__ = ["latest_rehearsals", "rehearsal_sentence"]


def latest_rehearsals(store: Store) -> dict[str, Event]:
    """The most recent rehearsal of each server (by name)."""
    found: dict[str, Event] = {}
    for event in store.events():
        if event.kind is EventKind.REHEARSAL:
            found[event.server] = event  # oldest first: the last one wins
    return found


def rehearsal_sentence(event: Event) -> str:
    """ "PATCH semantics rehearsed on this manager on DATE (group …, by …): …"."""
    summary = str(event.details.get("summary") or event.reason)
    group = event.details.get("group")
    where = f"group {group!r}, " if group else ""
    verdict = "" if event.details.get("safe") is not False else " — NOT SAFE for the reconciler as measured"
    return (
        f"PATCH semantics rehearsed on this manager on {wording.when(event.at)} ({where}by {event.actor}): "
        f"{summary}{verdict}"
    )
