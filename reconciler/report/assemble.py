"""From what was gathered (live) or remembered (offline) to a :class:`~reconciler.report.model.Report`: one
:class:`~reconciler.core.drift.DriftInput` per server, the drift chain, and the facts the renderers show."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from reconciler.core.drift import DriftInput, PortSeen, Seen, drift_began, evaluate
from reconciler.core.events import Event
from reconciler.core.observation import PORT_NAMES
from reconciler.core.record import RolloutRecord
from reconciler.report.facts import desired_facts, port_facts
from reconciler.report.model import TIMELINE_EVENTS, History, Report, ServerReport
from reconciler.specs import LoadedServer, SpecIssue, SpecSet

__all__ = ["Source", "assemble", "attribute_issues"]


@dataclass(frozen=True, slots=True)
class Source:
    """Everything known about one server before the checks run. ``server`` None: only in the state."""

    name: str
    server: LoadedServer | None
    desired: str | None = None
    desired_error: str | None = None
    seen: Seen | None = None
    seen_error: str | None = None
    record: RolloutRecord | None = None
    problems: tuple[str, ...] = ()  # spec problems found while gathering (an unresolvable secret…)


def attribute_issues(spec_set: SpecSet) -> tuple[dict[str, list[SpecIssue]], list[SpecIssue]]:
    """The spec errors located in each loaded server's document (by name), and those of no loaded server
    (a document that did not validate, a YAML syntax error…)."""
    by_server: dict[str, list[SpecIssue]] = {}
    unplaced: list[SpecIssue] = []
    servers = [spec_set.servers[name] for name in sorted(spec_set.servers)]
    for issue in spec_set.errors:
        owner = next(
            (
                s
                for s in servers
                if issue.field is not None
                and s.file == issue.file
                and s.locate(issue.field) == issue.location
            ),
            None,
        )
        if owner is None:
            unplaced.append(issue)
        else:
            by_server.setdefault(owner.name, []).append(issue)
    return by_server, unplaced


def _site_peers(spec_set: SpecSet, server: LoadedServer | None) -> tuple[str, ...]:
    if server is None:
        return ()
    site = server.spec.spec.server.site
    return tuple(
        sorted(
            other.name
            for other in spec_set.servers.values()
            if other.name != server.name and other.spec.spec.server.site == site
        )
    )


def _ports(seen: Seen | None, server: LoadedServer | None, why: str | None) -> tuple[PortSeen, ...]:
    """The ports seen — or, when nothing was, each port of the spec (or the usual three) as not observed."""
    if seen is not None:
        return seen.ports
    numbers: dict[str, int | None] = dict.fromkeys(PORT_NAMES)
    if server is not None:
        numbers.update(server.spec.spec.server.ports.items())
    return tuple(
        PortSeen(name, number, None, error=why or "not observed") for name, number in numbers.items()
    )


def _history(events: Sequence[Event], cutoff: datetime) -> History:
    return History(cutoff, drift_began(events), tuple(e for e in events if e.at >= cutoff))


def assemble(
    spec_set: SpecSet,
    sources: Iterable[Source],
    *,
    now: datetime,
    live: bool,
    state_url: str | None = None,
    since: datetime | None = None,
    events: Mapping[str, Sequence[Event]] | None = None,
    notes: Sequence[str] = (),
) -> Report:
    """Run the drift chain over every source and gather the facts of each server, sorted by name.

    ``since`` (with ``events``: each server's whole event log, oldest first) adds when each drift began and the
    events from ``since`` on.
    """
    by_server, unplaced = attribute_issues(spec_set)
    reports = []
    for source in sorted(sources, key=lambda s: s.name):
        server = source.server
        spec = server.spec if server is not None else None
        problems = [str(issue) for issue in by_server.get(source.name, [])]
        if source.desired_error is not None and server is not None:
            where = server.locate("spec.certificate.file")
            problems.append(f"{where}: spec.certificate.file: {source.desired_error}")
        problems += source.problems
        history = None
        logged = tuple((events or {}).get(source.name, ()))
        if since is not None:
            history = _history(logged, since)
        given = DriftInput(
            name=source.name,
            now=now,
            spec=spec,
            desired=source.desired,
            seen=source.seen,
            seen_error=source.seen_error,
            record=source.record,
            spec_problems=tuple(problems),
            specs_invalid=bool(spec_set.errors),
            site_peers=_site_peers(spec_set, server),
            drift_began=history.drift_began if history is not None else None,
        )
        seen = source.seen
        reports.append(
            ServerReport(
                name=source.name,
                findings=evaluate(given),
                desired=desired_facts(server, source.desired, source.desired_error),
                served={
                    p.name: port_facts(p, source.desired) for p in _ports(seen, server, source.seen_error)
                },
                seen=seen,
                record=source.record,
                managed=server is not None,
                history=history,
                timeline=logged[-TIMELINE_EVENTS:],
                policy=spec.spec.rollout.clients if spec is not None else None,
            )
        )
    return Report(
        generated_at=now,
        live=live,
        specs_path=str(spec_set.path),
        revision=spec_set.revision,
        servers=tuple(reports),
        spec_errors=tuple(unplaced),
        state_url=state_url,
        since=since,
        notes=tuple(notes),
    )
