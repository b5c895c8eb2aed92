"""The tick: one server, once — gather → decide → persist → act (at most once) → record the outcome.

::

    engine = Engine(spec_set, store, clock=SystemClock())
    result = await engine.tick("sepm-east-01")       # a TickResult: phases, step, action and outcome, reason…
    engine.update_specs(new_valid_spec_set)          # the next ticks use it; ledgers of unchanged servers are kept

Guarantees:

* **Persist before acting.** The decision (its record carries the pending attempt) is saved in one transaction with
  a compare-and-set on the record's version before any hook or API call. A lost compare-and-set
  (:class:`~reconciler.errors.ConflictError`) means another process moved first: the tick is dropped, nothing is
  done.
* **At most one action**, then its result is recorded as the attempt's completion (exit status / API answer);
  only a later observation completes the step.
* **After a crash** the next tick observes first; ``decide()`` re-runs an action only when its effect is still not
  observed after the attempt's timeout plus a grace period.
* **Failures hold, never move.** A manager that cannot be observed — not reached, or its REST API unusable
  (credentials refused, certificate not trusted) — holds where it is, with the reason recorded and the next check
  backed off (active interval × 2ⁿ, at most the waiting interval; longer when the manager asks with
  ``Retry-After``): ``decide`` counts the failures in the record, so a restart does not forget them. A spec problem
  of one server (its certificate file, its secrets) holds that server only.
* **Secrets** reach hooks only through their environment; they are never stored, logged or put in arguments.
* **One session per manager**: each tick builds its REST client (secrets resolved again) and takes over the last
  tick's session, the manager's clock and what is known of its throttle, so a token is reused until shortly before
  it expires; :meth:`Engine.aclose` logs every session out (the daemon at its stop, one-shot commands at their end).
* **Stalls found by an action**: a settings PATCH that changed other fields than the one sent
  (``CollateralSettingsChange``) stalls the rollout at once, before any other group is touched.

The engine does not schedule: ``next_check_at`` says when to call :meth:`Engine.tick` again (the daemon's business).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from reconciler.core.actions import (
    Action,
    Performer,
    RestoreOriginalList,
    SetVerification,
    SwitchToHttpList,
    UpdateCertificate,
)
from reconciler.core.attempts import AttemptKey, attempt_key, complete_attempt
from reconciler.core.checks import summarize, swap_refused
from reconciler.core.clock import Clock
from reconciler.core.codes import Code
from reconciler.core.decide import (
    DEFAULT_TUNING,
    Decision,
    Tuning,
    decide,
    partner_records,
    stall_now,
)
from reconciler.core.events import Event
from reconciler.core.observation import ServerObservation
from reconciler.core.phase import Phase
from reconciler.core.record import AttemptOutcome, HookProcess, RolloutRecord, new_record
from reconciler.core.said import Said
from reconciler.core.sentences import sentence
from reconciler.core.site import site_view
from reconciler.engine.act import ActionOutcome, HookRunner, StallRequest, perform_action, spec_secrets
from reconciler.engine.gather import ClientFactory, Gathered, default_client, gather_one, select_servers
from reconciler.engine.result import TickResult
from reconciler.errors import ConflictError, Error, SpecError, StateError, TemporaryError
from reconciler.hooks import process as hook_process
from reconciler.hooks import run_hook
from reconciler.sepm import ClientLedger, SepmClient, reread_groups
from reconciler.sepm.client import ClientState
from reconciler.specs import LoadedServer, SpecSet
from reconciler.store import Store

__all__ = ["Engine", "SystemClock"]

log = logging.getLogger("reconciler.engine")

_OUTCOME_TRIES = 3


class SystemClock:
    """The real clock (UTC)."""

    def now(self) -> datetime:
        return datetime.now(UTC)


def _require_valid(spec_set: SpecSet) -> SpecSet:
    errors = spec_set.errors
    if errors:
        raise SpecError(
            f"the specs at {spec_set.path} have {len(errors)} error(s) (first: {errors[0]}); the engine acts only on "
            "a valid spec set: run sepm-reconciler validate and fix them"
        )
    return spec_set


class Engine:
    """Ticks the servers of a valid spec set against a store. One tick per server at a time (a lock per name);
    ticks of different servers may run concurrently.

    ``clock`` (default: the system clock) is the reconciler's time; ``client_factory`` builds each server's REST
    client (tests inject transports and retry policies); ``hook_runner`` runs hooks (default
    :func:`reconciler.hooks.run_hook`); ``tuning`` the loop's timings; ``observe_timeout`` bounds one observation
    (seconds, None: only the client's own timeouts); ``hook_withheld`` are secret values of the caller (the daemon's
    webhook URL) that no hook may inherit — the specs' own secrets are withheld anyway; ``action_guard(server,
    action)`` runs (in a thread) right before an action starts, after its attempt was saved — raising
    :class:`~reconciler.errors.ConflictError` there (a daemon that no longer holds its lease) drops the action: the
    attempt stays recorded and is judged by observation; ``observe_concurrency`` bounds how many managers are
    observed at once (None: no bound beyond the caller's).
    """

    def __init__(
        self,
        spec_set: SpecSet,
        store: Store,
        *,
        clock: Clock | None = None,
        client_factory: ClientFactory | None = None,
        hook_runner: HookRunner = run_hook,
        tuning: Tuning = DEFAULT_TUNING,
        observe_timeout: float | None = None,
        hook_withheld: Sequence[str] = (),
        action_guard: Callable[[str, Action], None] | None = None,
        observe_concurrency: int | None = None,
    ) -> None:
        self._specs = _require_valid(spec_set)
        self._hook_withheld = tuple(hook_withheld)
        self._action_guard = action_guard
        self._observe_slots = asyncio.Semaphore(observe_concurrency) if observe_concurrency else None
        self._store = store
        self._clock: Clock = clock or SystemClock()
        self._client_factory = client_factory or default_client
        self._hook_runner = hook_runner
        self.tuning = tuning
        self._observe_timeout = observe_timeout
        self._ledgers: dict[str, ClientLedger] = {}
        self._carried: dict[str, ClientState] = {}  # each manager's session, clock, throttle, between ticks
        self._locks: dict[str, asyncio.Lock] = {}

    # --- configuration ---------------------------------------------------------------------------------------------

    @property
    def specs(self) -> SpecSet:
        return self._specs

    @property
    def names(self) -> list[str]:
        """The servers of the current spec set, sorted."""
        return sorted(self._specs.servers)

    def update_specs(self, spec_set: SpecSet) -> None:
        """Use ``spec_set`` (it must be valid) from the next tick on. Client ledgers are kept for servers whose
        connection did not change; those of removed servers are dropped."""
        _require_valid(spec_set)
        old = self._specs.servers
        for name in {*self._ledgers, *self._carried}:
            new = spec_set.servers.get(name)
            if new is None or name not in old or new.spec.spec.server != old[name].spec.spec.server:
                self._ledgers.pop(name, None)
                self._carried.pop(name, None)  # its token expires by itself
        self._specs = spec_set

    def ledger(self, name: str) -> ClientLedger:
        """The client ledger kept for ``name`` between ticks."""
        ledger = self._ledgers.get(name)
        if ledger is None:
            server = self._specs.servers.get(name)
            size = server.spec.spec.server.api.page_size if server is not None else 1000
            ledger = self._ledgers[name] = ClientLedger(page_size=size)
        return ledger

    def session_of(self, name: str) -> ClientState | None:
        """What the engine carries for ``name`` between ticks (its session, the manager's clock…), if anything."""
        return self._carried.get(name)

    async def aclose(self) -> None:
        """End every session the engine carries on its manager (logout): call it when the daemon stops and at the
        end of a one-shot command. The engine can tick again afterwards (with new sessions)."""
        carried, self._carried = self._carried, {}

        async def logout(name: str, state: ClientState) -> None:
            server = self._specs.servers.get(name)
            if server is None or state.session is None:
                return
            try:
                client = self._client_factory(server)
            except Error:
                return
            client.adopt(state)
            await client.close()

        await asyncio.gather(*(logout(n, s) for n, s in carried.items()), return_exceptions=True)

    # --- ticks -----------------------------------------------------------------------------------------------------

    async def tick_all(self, names: Iterable[str] | None = None, *, concurrency: int = 8) -> list[TickResult]:
        """One tick for each server (``names``, default all), concurrently; results in name order. A name not in
        the specs raises :class:`~reconciler.errors.SpecError` before anything is done."""
        servers = [s.name for s in select_servers(self._specs, names)]
        limit = asyncio.Semaphore(max(1, concurrency))

        async def one(name: str) -> TickResult:
            async with limit:
                return await self.tick(name)

        return list(await asyncio.gather(*(one(n) for n in servers)))

    async def tick(self, name: str) -> TickResult:
        """One tick of ``name``. Never raises for the server's own problems: they are in the result's ``error``.
        The ticks of the servers of one site run one at a time (each decides on the others' saved records)."""
        server = self._specs.servers.get(name)
        key = f"site:{server.spec.spec.server.site}" if server is not None else name
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            return await self._tick(name)

    def _read_fleet(self) -> dict[str, RolloutRecord]:
        """Every stored record, by server name."""
        return {r.server: r for r in self._store.all()}

    async def _tick(self, name: str) -> TickResult:
        run = _Run(name, self._clock.now(), time.monotonic())
        spec_set = self._specs
        server = spec_set.servers.get(name)
        # every record: the site's other servers, the earlier waves and the canary analyses of every other server
        # gate this one (reading only its own and its partners' would be cheaper: a cached view of the fleet is the
        # follow-up, see benchmarks/fleet.py)
        try:
            records = await asyncio.to_thread(self._read_fleet)
        except StateError as exc:
            return run.result(
                None,
                Phase.NEW,
                reason="the state store cannot be read: nothing was done",
                next_check_at=run.started + self.tuning.waiting_interval,
                error=str(exc),
            )
        record = records.get(name)
        if server is None:
            phase = record.phase if record else Phase.NEW
            return run.result(
                record,
                phase,
                step=record.step if record else 0,
                reason=f"{name} is not in the specs (revision {spec_set.revision}): left as it is",
                next_check_at=run.started + self.tuning.idle_interval,
                error=f"{name} is not in the specs at {spec_set.path}",
            )
        all_specs = [s.spec for s in spec_set.servers.values()]
        partners = partner_records(server.spec, all_specs, records)
        client: SepmClient | None = None
        client_error: Error | None = None
        try:
            client = self._client_factory(server)
        except Error as exc:
            client_error = exc
        carried = self._carried.pop(name, None)
        if client is not None and carried is not None:
            client.adopt(carried)  # the same session, clock and throttle as the last tick
        try:
            async with self._observe_slots or contextlib.nullcontext():
                gathered = await gather_one(
                    server,
                    record,
                    partners,
                    client=client,
                    client_error=client_error,
                    ledger=self.ledger(name),
                    clock=self._clock,
                    observe_timeout=self._observe_timeout,
                    site=site_view(server.spec, all_specs, records),
                    others={n: r for n, r in records.items() if n in spec_set.servers},
                )
            if gathered.desired is None:
                return await self._hold(run, gathered)
            return await self._decide_and_act(
                run, server, gathered, gathered.desired, spec_set.revision, client
            )
        finally:
            if client is not None:
                if client.session is not None:
                    self._carried[name] = client.carry()
                await client.aclose()  # the connections; the session is carried to the next tick

    async def _hold(self, run: _Run, gathered: Gathered) -> TickResult:
        """The desired certificate is unusable: hold this server (the reason is recorded), touch nothing."""
        now = self._clock.now()
        record = gathered.record
        base = record or new_record(gathered.name, now)
        said = Said(
            Code.CERTIFICATE_UNUSABLE,
            {"error": gathered.error, "server": gathered.name, "file": gathered.server.file},
        )
        reason = sentence(said)
        held = replace(
            base,
            reason=reason,
            code=said.code.value,
            updated_at=now,
            next_check_at=now + self.tuning.waiting_interval,
            observed=summarize(gathered.observation, base.observed)
            if gathered.observation
            else base.observed,
        )
        result = run.result(
            record,
            base.phase,
            step=base.step,
            reason=reason,
            code=said.code,
            next_check_at=held.next_check_at,
            observation=gathered.observation,
            error=gathered.error,
            rollout_id=base.rollout_id,
        )
        try:
            await asyncio.to_thread(self._store.save, held)
        except ConflictError:
            return replace(result, conflict=True)
        except StateError as exc:
            return replace(result, error=f"{gathered.error}; and the state could not be saved: {exc}")
        log.warning("%s: %s", gathered.name, reason)
        return result

    async def _decide_and_act(
        self,
        run: _Run,
        server: LoadedServer,
        gathered: Gathered,
        desired: str,
        revision: str,
        client: SepmClient | None,
    ) -> TickResult:
        name = server.name
        record = gathered.record
        now = self._clock.now()
        error = gathered.observation_error
        delay = error.delay if isinstance(error, TemporaryError) else None
        alive = await asyncio.to_thread(_running_attempts, record, now)
        decision = decide(
            server.spec,
            desired,
            gathered.observation,
            record,
            alive=alive,
            now=now,
            spec_revision=revision,
            partners=gathered.partners,
            site=gathered.site,
            others=gathered.others,
            tuning=self.tuning,
            observation_error=str(error) if error else None,
            keystore_error=gathered.keystore_error,
            hook_error=gathered.hook_error,
            trust=gathered.trust,
            retry_after=timedelta(seconds=delay) if delay else None,
        )
        to_save = decision.record
        result = run.result(
            record,
            decision.phase,
            step=decision.step,
            reason=decision.reason,
            code=decision.code,
            remedy=decision.remedy,
            next_check_at=to_save.next_check_at,
            observation=gathered.observation,
            error=gathered.problem_for(to_save),
            rollout_id=to_save.rollout_id,
            events=decision.events,
            action=decision.action,
            substep=to_save.substep,
        )
        unchanged = replace(
            result,
            phase_after=record.phase if record else Phase.NEW,
            step=record.step if record else 0,
            code=None,
            remedy=None,
            events=(),
            action=None,
            substep=record.substep if record else None,
        )
        try:
            saved = await asyncio.to_thread(self._store.save, to_save, decision.events)
        except ConflictError as exc:
            # Usually another process moved the record first; a stopping or standby daemon refuses the save that
            # would start an action the same way. Either way the store says why: log that, not a guess.
            log.info("%s: the decision was not saved (%s); this tick is dropped, nothing done", name, exc)
            return replace(
                unchanged,
                reason=f"this tick was dropped and nothing done: {exc}",
                conflict=True,
            )
        except StateError as exc:
            return replace(unchanged, error=f"the decision could not be saved, so nothing was done: {exc}")
        self._log_decision(name, record, decision)
        action = decision.action
        if action is None or action.performer is Performer.MANUAL:
            return result
        if self._action_guard is not None:
            try:
                await asyncio.to_thread(self._action_guard, name, action)
            except ConflictError as exc:
                log.warning("%s: %s not started: %s", name, action.summary, exc)
                return replace(result, reason=f"{action.summary} was not started: {exc}", conflict=True)
        recorder = _ProcessRecorder(self._store, saved, action)
        refused = await self._swap_refused(server, action, client, self.ledger(name))
        if refused is not None:
            outcome = ActionOutcome(False, f"not run: {refused}")
        else:
            outcome = await perform_action(
                action,
                server=server,
                client=client,
                observation=gathered.observation,
                rollout_id=saved.rollout_id or "",
                desired=desired,
                runner=self._hook_runner,
                withheld=[*spec_secrets(self._specs.servers.values()), *self._hook_withheld],
                on_start=recorder,
            )
            saved = recorder.record
        log.info(
            "%s: %s — attempt %d %s (%s)",
            name,
            action.summary,
            action.attempt,
            "succeeded" if outcome.succeeded else "failed",
            outcome.detail,
        )
        self._forget_settings(name, action, gathered.observation)
        not_recorded = await self._record_outcome(saved, action, outcome)
        result = replace(
            result, outcome=outcome, error=not_recorded or result.error, duration_s=time.monotonic() - run.t0
        )
        if outcome.stall is not None:
            result = await self._stall(result, outcome.stall, gathered.observation)
        return result

    def _forget_settings(self, name: str, action: Action, observation: ServerObservation | None) -> None:
        """The settings documents cached for the groups ``action`` may have changed (our PATCH, a list hook) are
        read again at the next look, whatever their serial says: a serial is a time to the millisecond, and a manager
        whose clock did not move since the last save (or went back) gives the next save the same one."""
        if isinstance(action, SetVerification):
            ids = [target.id for target in action.groups]
        elif isinstance(action, SwitchToHttpList | RestoreOriginalList) and observation is not None:
            ids = [group.id for group in observation.groups or ()]
        else:
            return
        cache = self.ledger(name).settings
        for gid in ids:
            cache.forget(gid)

    async def _stall(
        self, result: TickResult, request: StallRequest, observation: ServerObservation | None
    ) -> TickResult:
        """Stall the rollout now, after an action found what no retry fixes, through the table's ``stall`` move
        (compare-and-set, re-read on a lost race); the tick's result says so."""
        name = result.server
        server = self._specs.servers[name]
        for _ in range(_OUTCOME_TRIES):
            record = await asyncio.to_thread(self._store.get, name)
            if record is None or record.phase is Phase.STALLED or record.desired_fingerprint is None:
                break
            decision = stall_now(
                server.spec,
                record.desired_fingerprint,
                observation,
                record,
                request.said,
                now=self._clock.now(),
                spec_revision=self._specs.revision,
                tuning=self.tuning,
            )
            try:
                saved = await asyncio.to_thread(self._store.save, decision.record, decision.events)
            except ConflictError:
                continue
            except StateError as exc:
                return replace(result, error=f"the rollout should stall ({request.said.code}) but: {exc}")
            log.warning("%s: stalled (%s): %s", name, decision.code, decision.reason)
            return replace(
                result,
                phase_after=saved.phase,
                step=decision.step,
                code=decision.code,
                reason=decision.reason,
                remedy=decision.remedy,
                next_check_at=saved.next_check_at,
                events=(*result.events, *decision.events),
            )
        return result

    @staticmethod
    async def _swap_refused(
        server: LoadedServer, action: Action, client: SepmClient | None, ledger: ClientLedger
    ) -> str | None:
        """Right before the swap hook starts, the managed groups are read again: one that verifies again (someone
        turned it back on while the tick decided) keeps the hook from starting; the next tick goes back to step 2."""
        if not isinstance(action, UpdateCertificate) or action.performer is not Performer.COMMAND:
            return None
        if client is None:
            return "no connection to the manager to read the client groups again"
        try:
            groups = await reread_groups(server.spec, client, ledger)
        except Error as exc:
            return f"the client groups could not be read again right before the swap: {exc}"
        return swap_refused(groups)

    async def _record_outcome(
        self, saved: RolloutRecord, action: Action, outcome: ActionOutcome
    ) -> str | None:
        """Complete the attempt in the store (compare-and-set, re-read on a lost race). Returns an error, if any."""

        def complete(record: RolloutRecord) -> tuple[RolloutRecord, Event]:
            return complete_attempt(
                record,
                action,
                now=self._clock.now(),
                succeeded=outcome.succeeded,
                exit_code=outcome.exit_code,
                detail=outcome.detail,
            )

        record = saved
        for _ in range(_OUTCOME_TRIES):
            try:
                updated, event = complete(record)
            except ValueError:
                # The record no longer holds the attempt (another process replaced it): keep the result in the log.
                try:
                    await asyncio.to_thread(self._store.append, [complete(saved)[1]])
                except StateError as exc:
                    return f"the action's result could not be recorded: {exc}"
                return None
            try:
                await asyncio.to_thread(self._store.save, updated, [event])
            except ConflictError:
                fresh = await asyncio.to_thread(self._store.get, saved.server)
                if fresh is None:
                    return "the record disappeared while the action ran"
                record = fresh
                continue
            except StateError as exc:
                return f"the action's result could not be recorded (it is judged by observation later): {exc}"
            return None
        return "the action's result could not be recorded: the record kept changing (judged by observation later)"

    @staticmethod
    def _log_decision(name: str, record: RolloutRecord | None, decision: Decision) -> None:
        before = record.phase if record else Phase.NEW
        if decision.phase is not before:
            log.info("%s: %s → %s: %s", name, before.value, decision.phase.value, decision.reason)
        else:
            log.debug("%s: %s: %s", name, decision.phase.value, decision.reason)


_END_GRACE = timedelta(seconds=10)  # past an attempt's deadline (+ the watchdog's kill grace): ended here


def _running_attempts(record: RolloutRecord | None, now: datetime) -> frozenset[AttemptKey]:
    """The attempts of the current rollout whose hook process group still runs on this host. One past its
    deadline (its watchdog should have ended it) is ended here; it counts as running until it is seen gone."""
    if record is None or record.rollout_id is None:
        return frozenset()
    running = set()
    for attempt in record.attempts:
        process = attempt.process
        if attempt.rollout_id != record.rollout_id or process is None or not hook_process.checkable(process):
            continue
        if not hook_process.group_alive(process):
            continue
        if now >= attempt.deadline + _END_GRACE:
            log.warning(
                "%s: attempt %d of %s (process group %d) still runs past its timeout: ending it",
                record.server,
                attempt.number,
                attempt.kind.value,
                process.pgid,
            )
            hook_process.end_group(process)
        running.add(attempt_key(attempt))
    return frozenset(running)


class _ProcessRecorder:
    """Records the hook's process group in its attempt (compare-and-set) before the hook is let go. A save that
    fails (another process moved the record, the lease was lost) raises: the hook then never runs."""

    def __init__(self, store: Store, saved: RolloutRecord, action: Action) -> None:
        self._store = store
        self.record = saved
        self._action = action

    async def __call__(self, process: HookProcess) -> None:
        action = self._action
        record = self.record
        attempts = list(record.attempts)
        for i in range(len(attempts) - 1, -1, -1):
            a = attempts[i]
            if (
                a.rollout_id == record.rollout_id
                and a.step == action.step
                and a.kind is action.kind
                and a.number == action.attempt
                and a.outcome is AttemptOutcome.PENDING
            ):
                attempts[i] = replace(a, process=process)
                break
        else:
            raise ConflictError("the attempt is no longer recorded: the hook is not started")
        self.record = await asyncio.to_thread(self._store.save, replace(record, attempts=tuple(attempts)))


@dataclass(frozen=True, slots=True)
class _Run:
    """A tick in progress: builds its :class:`TickResult`."""

    name: str
    started: datetime
    t0: float

    def result(
        self,
        before: RolloutRecord | None,
        phase: Phase,
        *,
        reason: str,
        next_check_at: datetime,
        step: int = 0,
        code: Code | None = None,
        remedy: str | None = None,
        observation: ServerObservation | None = None,
        error: str | None = None,
        rollout_id: str | None = None,
        events: tuple[Event, ...] = (),
        action: Action | None = None,
        substep: str | None = None,
    ) -> TickResult:
        return TickResult(
            server=self.name,
            started_at=self.started,
            duration_s=time.monotonic() - self.t0,
            phase_before=before.phase if before else None,
            phase_after=phase,
            step=step,
            reason=reason,
            code=code,
            next_check_at=next_check_at,
            remedy=remedy,
            observation=observation,
            error=error,
            rollout_id=rollout_id,
            events=events,
            action=action,
            substep=substep,
        )
