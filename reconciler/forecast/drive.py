"""Driving the reconciler through a rollout on the twin, on its virtual clock — the daemon's tick, the daemon's
schedule, a patient operator.

The engine is the daemon's (:class:`~reconciler.engine.Engine`, the same ``tick``), its clock is the twin's virtual
clock, and each server is ticked when its record asks to be looked at again (``next_check_at``) — as the daemon's
scheduler does — with two differences that change no decision: the clock jumps straight to the next tick (nothing
happens in between on a twin), and while a stage waits on something that only clients or time can end, the next
look is at most ``resolution`` away (durations are measured to within it) — except for a minimum soak, a window or a
retry, whose end is known and looked at exactly.

The operator: a hook is replaced by the twin's console operation for its step (:class:`Console`); a manual step is
done the moment it is due, by the same operation; an approval is granted the moment it is first needed; a stall
``MaxSoakExceeded`` is answered by accepting the clients at risk and resuming (both reported); any other stall ends
the server's run (reported with its code).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

from reconciler.core import requests
from reconciler.core.actions import Action, Performer
from reconciler.core.codes import CODES, Code, Kind
from reconciler.core.events import Event
from reconciler.core.phase import Phase
from reconciler.core.procedure.table import STANDARD
from reconciler.core.procedure.timeline import missing_approvals
from reconciler.core.record import RolloutRecord
from reconciler.engine import Engine, TickResult
from reconciler.errors import ConflictError, PermanentError
from reconciler.forecast.track import Granted, Stall, Track, label_of
from reconciler.hooks import HookResult, OnStart
from reconciler.specs import SpecSet
from reconciler.store import Store

__all__ = ["OPERATOR", "Console", "ConsoleHooks", "Pacing", "drive"]

OPERATOR = "sepm-reconciler forecast"
_KNOWN_ENDS = frozenset({Code.SOAK_NOT_OVER.value, Code.WINDOW_CLOSED.value, Code.RETRY_PENDING.value})
_TICKS_AT_ONE_TIME = 25  # a server ticked this often without the clock moving is moved on by a second
_PASSING = frozenset({Code.APPROVAL_MISSING, Code.WINDOW_CLOSED, Code.OBSERVATION_UNKNOWN, Code.UNRECORDED})
"""Holds the rehearsal's operator or its clock ends; any other hold (a keystore the spec cannot open, a certificate
that would not be trusted, a list the spec does not name…) holds on the twin for good: the run ends there."""
_UNOBSERVED_TICKS = 20  # looks in a row that observed nothing usable: the twin cannot be watched


class Console(Protocol):
    """The twin's clock and the console operations an operator (or a hook) does on it."""

    def now(self) -> datetime: ...

    async def advance_to(self, when: datetime) -> None: ...

    async def perform(self, server: str, kind: str, *, partners: Sequence[str], list_name: str | None) -> str:
        """Do what step ``kind`` (an action kind: ``break_replication``, ``update_certificate``…) does on
        ``server``; a sentence of what was done. Raises :class:`~reconciler.errors.Error` when it cannot."""
        ...


class ConsoleHooks:
    """A hook runner (the engine's) that does the hook's step with the console instead of running a program."""

    def __init__(self, console: Console) -> None:
        self._console = console

    async def __call__(
        self,
        argv: Sequence[str],
        *,
        variables: Mapping[str, str],
        timeout_s: float,
        secrets: Sequence[str] = (),
        cwd: Path | None = None,
        environment: Mapping[str, str] | None = None,
        on_start: OnStart | None = None,
    ) -> HookResult:
        """No process runs, so ``on_start`` is never called (there is no process group to record) and ``cwd`` and
        ``environment`` (the hook's own settings) do not apply."""
        partners = [p for p in variables.get("SEPM_RECONCILER_PARTNERS", "").split(",") if p]
        try:
            said = await self._console.perform(
                variables["SEPM_RECONCILER_SERVER"],
                variables["SEPM_RECONCILER_STEP_NAME"],
                partners=partners,
                list_name=variables.get("SEPM_RECONCILER_LIST"),
            )
        except Exception as exc:  # the hook "failed": the engine records it and retries as it would
            return HookResult(tuple(argv), 1, False, 0.0, f"console operation failed: {exc}")
        return HookResult(tuple(argv), 0, False, 0.0, said)


@dataclass(frozen=True, slots=True)
class Pacing:
    """``resolution``: the longest step of the clock while a stage waits on clients; ``horizon``: the longest run."""

    resolution: timedelta = timedelta(hours=1)
    horizon: timedelta = timedelta(days=60)


async def _operate(
    engine: Engine, store: Store, console: Console, track: Track, result: TickResult, now: datetime
) -> bool:
    """What the operator does after a tick; True when the server must be looked at again at once."""
    name = result.server
    record = await asyncio.to_thread(store.get, name)
    if record is None:
        return False
    action: Action | None = result.action
    if action is not None and action.performer is Performer.MANUAL:
        await console.perform(
            name,
            action.kind.value,
            partners=tuple(getattr(action, "partners", ())),
            list_name=getattr(action, "list_name", None),
        )
        step = label_of(record.phase)
        if not track.manual or track.manual[-1][0] != step:
            track.manual.append((step, now))
        await _confirm(store, record, now)
        return True
    if result.code is Code.APPROVAL_MISSING:
        return await _grant(engine, store, track, record, now)
    if record.phase is Phase.STALLED and record.stall is not None:
        return await _stalled(store, track, record, now)
    return False


async def _confirm(store: Store, record: RolloutRecord, now: datetime) -> None:
    """A manual step whose effect the manager does not show (a list assigned, where the settings do not name
    lists) is confirmed the way an operator confirms it: an approval of the step while it waits."""
    confirms = getattr(STANDARD, "confirms", None)
    if confirms is None or not confirms(record):
        return
    with contextlib.suppress(PermanentError):
        await _save(
            store,
            requests.approve(
                record, step=record.step, by=OPERATOR, reason="done by hand (forecast)", now=now
            ),
        )


async def _save(store: Store, change: tuple[RolloutRecord, Event | None]) -> RolloutRecord | None:
    """The operator's change saved (compare-and-set): the record as stored, or None when it lost the race. No event:
    the request changed nothing (an approval already given), nothing to save."""
    record, event = change
    if event is None:
        return record
    try:
        return await asyncio.to_thread(store.save, record, [event])
    except ConflictError:
        return None


async def _grant(engine: Engine, store: Store, track: Track, record: RolloutRecord, now: datetime) -> bool:
    spec = engine.specs.servers[record.server].spec
    for step in missing_approvals(STANDARD, spec, record):
        try:
            change = requests.approve(
                record, step=step, by=OPERATOR, reason="granted when first needed (forecast)", now=now
            )
        except PermanentError:
            continue
        if await _save(store, change) is not None:
            track.approvals.append(Granted(step, now))
            return True
    return False


async def _stalled(store: Store, track: Track, record: RolloutRecord, now: datetime) -> bool:
    stall = record.stall
    assert stall is not None  # noqa: S101 - checked by the caller
    where = label_of(record.stalled_from) if record.stalled_from is not None else "?"
    if stall.code == Code.MAX_SOAK_EXCEEDED.value and record.stalled_from is not None:
        step = STANDARD.number_of(record.stalled_from) + 1
        try:
            accepted = requests.approve(
                record,
                step=step,
                by=OPERATOR,
                reason="clients at risk accepted when maxSoak passed (forecast)",
                now=now,
                accept_at_risk=True,
            )
        except PermanentError:
            accepted = None
        approved = await _save(store, accepted) if accepted is not None else None
        if approved is not None:
            resumed = requests.resume(approved, by=OPERATOR, now=now, reason="at risk accepted (forecast)")
            if await _save(store, resumed) is not None:
                risk = record.observed.at_risk_count if record.observed else None
                track.approvals.append(Granted(step, now, accept_at_risk=True, at_risk=risk))
                track.stalls.append(Stall(stall.code, where, now, continued=True))
                return True
    track.stalls.append(Stall(stall.code, where, now, continued=False))
    track.end, track.reason = "stalled", stall.reason
    return False


def _next_look(result: TickResult, now: datetime, pacing: Pacing) -> datetime:
    due = max(result.next_check_at, now)
    code = result.code.value if result.code is not None else None
    if code in _KNOWN_ENDS:
        return due
    return min(due, now + pacing.resolution)


async def drive(
    engine: Engine,
    store: Store,
    console: Console,
    specs: SpecSet,
    *,
    pacing: Pacing = Pacing(),
) -> dict[str, Track]:
    """Run every server of ``specs`` until it is in sync after its rollout, stalls, or ``pacing.horizon`` passes."""
    start = console.now()
    names = sorted(specs.servers)
    tracks = {name: Track(name, start) for name in names}
    due = dict.fromkeys(names, start)
    running = set(names)
    repeats: dict[str, int] = {}
    blind: dict[str, int] = {}
    while running:
        now = console.now()
        for name in sorted(running):
            if due[name] > now:
                continue
            track = tracks[name]
            result = await engine.tick(name)
            record = await asyncio.to_thread(store.get, name)
            if record is not None:
                track.add(now, record)
            if result.moved:  # a partner may have waited for this: let the others look again soon
                for other in running - {name}:
                    if tracks[other].samples and tracks[other].samples[-1].code not in _KNOWN_ENDS:
                        due[other] = min(due[other], now + engine.tuning.after_move)
            if result.error and result.observation is None and result.phase_after is Phase.NEW:
                track.end, track.reason = "error", result.error
                running.discard(name)
                continue
            again = await _operate(engine, store, console, track, result, now)
            code = result.code
            blind[name] = blind.get(name, 0) + 1 if code is Code.OBSERVATION_UNKNOWN else 0
            if code is not None and CODES[code].kind is Kind.HOLD and code not in _PASSING and not again:
                track.end, track.reason = "held", result.reason
            elif blind[name] >= _UNOBSERVED_TICKS:
                track.end, track.reason = "error", result.reason
            if track.end != "running":
                running.discard(name)
                continue
            if track.finished_at is not None:
                track.end = "in_sync"
                running.discard(name)
                continue
            if track.samples and track.samples[-1].phase is Phase.IN_SYNC and len(track.samples) == 1:
                track.end, track.reason = "in_sync", "already presents the desired certificate: nothing to do"
                running.discard(name)
                continue
            if now - start >= pacing.horizon:
                track.end, track.reason = "horizon", f"not in sync after {pacing.horizon}"
                running.discard(name)
                continue
            repeats[name] = repeats.get(name, 0) + 1 if again or result.next_check_at <= now else 0
            bump = timedelta(seconds=1) if repeats[name] >= _TICKS_AT_ONE_TIME else timedelta(0)
            due[name] = now + bump if again else _next_look(result, now, pacing)
        if running:
            soonest = min(due[n] for n in running)
            if soonest > now:
                await console.advance_to(soonest)
            elif all(due[n] <= now for n in running) and all(
                repeats.get(n, 0) >= _TICKS_AT_ONE_TIME for n in running
            ):
                await console.advance_to(now + timedelta(seconds=1))
    await engine.aclose()
    return tracks
