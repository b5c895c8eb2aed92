"""Collecting a report: load the specs, read the state, observe every server live (never acting) or read back the
last observation each record keeps (offline), read the event log for ``--since``, then assemble."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path

from reconciler.core import wording
from reconciler.core.clock import Clock
from reconciler.core.drift import Seen
from reconciler.core.events import Event
from reconciler.core.record import RolloutRecord
from reconciler.engine import ClientFactory, Gathered, gather
from reconciler.errors import CertificateError, SpecError, StateError
from reconciler.report.assemble import Source, assemble
from reconciler.report.model import TIMELINE_EVENTS, Report
from reconciler.specs import LoadedServer, SpecSet, desired_fingerprint, load_specs
from reconciler.store import Store

__all__ = ["collect"]


def _select(
    spec_set: SpecSet, records: Mapping[str, RolloutRecord], names: Sequence[str], store: Store | None
) -> tuple[list[str], list[str]]:
    """(servers of the specs, servers only in the state) to report; every name given must be one or the other."""
    if not names:
        return sorted(spec_set.servers), sorted(set(records) - set(spec_set.servers))
    unknown = [n for n in dict.fromkeys(names) if n not in spec_set.servers and n not in records]
    if unknown:
        known = sorted({*spec_set.servers, *records})
        where = f"the specs at {spec_set.path}" + (f" nor in the state at {store.url}" if store else "")
        invalid = f"; the specs have {len(spec_set.errors)} error(s)" if spec_set.errors else ""
        raise SpecError(
            f"no server named {', '.join(map(repr, unknown))} in {where} (known: {', '.join(known) or 'none'}"
            f"{invalid}): check --server against metadata.name"
        )
    chosen = list(dict.fromkeys(names))
    return [n for n in chosen if n in spec_set.servers], [n for n in chosen if n not in spec_set.servers]


def _remembered(server: LoadedServer | None, record: RolloutRecord | None) -> tuple[Seen | None, str | None]:
    if record is not None and record.observed is not None:
        return Seen.from_summary(record.observed, server.spec if server else None), None
    if record is None:
        return (
            None,
            "never observed: the state has no record of it (run sepm-reconciler reconcile, or drop --offline)",
        )
    return None, f"never observed: its record holds no observation yet (phase {record.phase.value})"


def _desired(server: LoadedServer) -> tuple[str | None, str | None]:
    try:
        return desired_fingerprint(server), None
    except CertificateError as exc:
        return None, str(exc)


def _from_gathered(g: Gathered) -> Source:
    server = g.server
    problems: tuple[str, ...] = ()
    seen_error = None
    error = g.observation_error
    if isinstance(error, SpecError):  # an unresolvable secret: the spec's problem, not the manager's
        problems = (f"{server.locate('spec.server.credentials')}: spec.server.credentials: {error}",)
    elif error is not None:
        seen_error = str(error)
    return Source(
        name=g.name,
        server=server,
        desired=g.desired,
        desired_error=None if g.desired_error is None else str(g.desired_error),
        seen=None if g.observation is None else Seen.from_observation(g.observation, server.spec),
        seen_error=seen_error,
        record=g.record,
        problems=problems,
    )


def _age_note(sources: Sequence[Source], now: datetime) -> str:
    times = [s.seen.observed_at for s in sources if s.seen is not None]
    if not times:
        return "offline: read from the state only (no network); no server has been observed yet"
    youngest, eldest = wording.span(now - max(times)), wording.span(now - min(times))
    age = f"{eldest} old" if youngest == eldest else f"between {youngest} and {eldest} old"
    return (
        f"offline: read from the state only (no network); the observations are {age} "
        "(drop --offline to observe now)"
    )


async def collect(
    specs_path: Path,
    store: Store | None,
    *,
    clock: Clock,
    names: Sequence[str] = (),
    offline: bool = False,
    since: timedelta | None = None,
    client_factory: ClientFactory | None = None,
    notes: Sequence[str] = (),
) -> Report:
    """The report of the servers named (default: every server of the specs and every server of the state).

    Live (default): each server of the specs is observed now, concurrently, through
    :func:`reconciler.engine.gather` — nothing is acted on, nothing is written. Offline: the last observation each
    record keeps. Servers only in the state are reported from their record either way. ``since`` needs a store.

    Raises :class:`~reconciler.errors.SpecError` for a name that is neither in the specs nor in the state, and
    :class:`~reconciler.errors.StateError` when the state cannot be read.
    """
    if since is not None and store is None:
        raise StateError("--since reads the event log of the state, and there is no state: pass --state URL")
    if offline and store is None:
        raise StateError("--offline reads the state, and there is no state: pass --state URL")
    spec_set = await asyncio.to_thread(load_specs, specs_path)
    records: dict[str, RolloutRecord] = {}
    if store is not None:
        records = {r.server: r for r in await asyncio.to_thread(store.all)}
    in_specs, only_in_state = _select(spec_set, records, names, store)
    now = clock.now().replace(microsecond=0)  # a report speaks in whole seconds
    sources: list[Source] = []
    if offline:
        for name in in_specs:
            server = spec_set.servers[name]
            desired, desired_error = _desired(server)
            seen, seen_error = _remembered(server, records.get(name))
            sources.append(Source(name, server, desired, desired_error, seen, seen_error, records.get(name)))
    elif in_specs:
        gathered = await gather(spec_set, store, names=in_specs, clock=clock, client_factory=client_factory)
        sources += [_from_gathered(g) for g in gathered.values()]
    for name in only_in_state:
        seen, seen_error = _remembered(None, records.get(name))
        sources.append(Source(name, None, seen=seen, seen_error=seen_error, record=records.get(name)))
    events: dict[str, list[Event]] = {}
    if (
        store is not None
    ):  # --since reads each whole log; otherwise the recent events draw the rollout's timeline
        limit = None if since is not None else TIMELINE_EVENTS
        for source in sources:
            events[source.name] = await asyncio.to_thread(store.events, source.name, limit=limit)
    all_notes = list(notes)
    if offline:
        all_notes.append(_age_note(sources, now))
    return assemble(
        spec_set,
        sources,
        now=now,
        live=not offline,
        state_url=store.url if store is not None else None,
        since=now - since if since is not None else None,
        events=events,
        notes=all_notes,
    )
