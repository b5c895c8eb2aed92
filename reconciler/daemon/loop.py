"""The daemon: one APScheduler job per server, a single-instance lease, spec reloads, HTTP endpoints, shutdown.

::

    daemon = Daemon(DaemonConfig(specs=Path("specs"), state_url="sqlite:///state.db"), webhook_url=None)
    exit_code = await daemon.run()        # until SIGTERM/SIGINT (or daemon.request_stop())

How it runs (see docs/daemon.md):

* **Scheduling.** Each server of the specs in force has one job (``max_instances=1``, ``coalesce``, an interval
  trigger as a fallback). After every tick the job is moved to the tick's ``next_check_at`` plus a little jitter:
  the record decides *when*, the scheduler only wakes us up. A tick runs under a timeout, so one hung manager holds
  only its own job.
* **Lease.** Only the holder of the store's ``daemon`` lease ticks; another daemon on the same state stands by, says
  so (logs, ``/readyz``, the status page) and takes over once the lease is released or expires. The lease is not a
  fence: the store's compare-and-set is, and a daemon that lost its lease starts no new action (:mod:`.gate`).
* **Operator commands.** The event log is read every ``events_period`` (2 s; one indexed query,
  ``events(after_id=…)``, on SQLite and PostgreSQL alike): an approval, suspension, resume or abort recorded by
  ``sepm-reconciler approve|suspend|resume|abort`` — from any host that reaches the state — makes the daemon tick
  that server at once (right after its tick in flight, if one runs). A changed spec does too (see below). So they
  take effect within seconds, whatever the waiting interval.
* **Specs.** Reloaded when the directory changes and on SIGHUP; an invalid commit is reported (log, ``/api/status``,
  ``sepm_reconciler_spec_reload_failures_total``, a notification) and the last valid set stays in force.
* **Shutdown** (SIGTERM/SIGINT): no new tick starts and no new action is started; in-flight ticks get
  ``shutdown_grace`` seconds to finish, then are cancelled (a running hook's process group gets SIGTERM, then SIGKILL — its
  attempt is already recorded, and the next tick judges it by observation); the lease is released; exit 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta

import httpx
import uvicorn

from reconciler.core import wording
from reconciler.core.actions import Action, Performer
from reconciler.core.events import Event, EventKind
from reconciler.core.record import RolloutRecord
from reconciler.daemon.config import LEASE_NAME, DaemonConfig
from reconciler.daemon.gate import GatedStore
from reconciler.daemon.hosts import HostPolicy
from reconciler.daemon.http import build_app
from reconciler.daemon.jobs import TickJobs, tick_timeout
from reconciler.daemon.metrics import DaemonMetrics, Snapshot
from reconciler.daemon.notify import (
    AppriseNotifier,
    Notifier,
    Notifiers,
    Topic,
    WebhookNotifier,
    manual_step_due,
    notification_for,
    specs_invalid,
)
from reconciler.daemon.page import ServerInfo
from reconciler.daemon.server import QuietServer, bind
from reconciler.daemon.specwatch import ReloadKind, ReloadOutcome, SpecWatcher
from reconciler.daemon.state import DaemonState, Role
from reconciler.engine import ClientFactory, Engine, HookRunner, TickResult, default_client
from reconciler.errors import ConflictError, FencedError, StateError
from reconciler.hooks import run_hook
from reconciler.sepm import SepmClient
from reconciler.specs import LoadedServer
from reconciler.store import Fence, FencedStore, Store, open_store, redact, scheme_of
from reconciler.views import Policy

__all__ = ["Daemon"]

log = logging.getLogger("reconciler.daemon")

EXIT_OK = 0
EXIT_ERROR = 1

_EVENTS_BATCH = 500

OPERATOR_EVENTS = frozenset(
    {
        EventKind.APPROVAL,
        EventKind.SUSPENDED,
        EventKind.RESUMED,
        EventKind.RESUME_REQUESTED,
        EventKind.ABORT_REQUESTED,
    }
)
"""Events written by the operator commands: the server they name is checked at once (within ``events_period``)."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Daemon:
    """See the module docstring. ``client_factory`` and ``hook_runner`` are handed to the engine (tests and the
    demo inject them); ``webhook_url`` is a secret (never logged); ``webhook_transport`` is for tests."""

    def __init__(
        self,
        config: DaemonConfig,
        *,
        webhook_url: str | None = None,
        apprise_urls: Sequence[str] = (),
        apprise_config: str | None = None,
        client_factory: ClientFactory | None = None,
        hook_runner: HookRunner = run_hook,
        webhook_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.config = config
        self.metrics = DaemonMetrics()
        self._holder = f"{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}"
        self._watcher = SpecWatcher(config.specs)
        self._state = DaemonState(
            holder=self._holder,
            specs=self._watcher.status,
            started_at=_utcnow(),
            lease_period=config.lease_period,
            watch_period=config.watch_period,
        )

        def counted(topic: Topic, ok: bool) -> None:
            self.metrics.notifications.labels(str(topic), "delivered" if ok else "failed").inc()

        webhook = WebhookNotifier(webhook_url, transport=webhook_transport, on_result=counted)
        notifiers: list[Notifier] = [webhook]
        if apprise_urls or apprise_config:  # raises ValueError (never quoting a URL) when one cannot be used
            notifiers.append(AppriseNotifier(list(apprise_urls), config=apprise_config, on_result=counted))
        self._notifier = Notifiers(*notifiers)
        self._manual_notified: set[tuple[str, str | None, int, str]] = set()
        self._client_factory = client_factory
        self._hook_runner = hook_runner
        # secrets: no hook inherits them, whatever the variable holding them is called
        self._hook_withheld = tuple(u for u in (webhook_url, *apprise_urls) if u)
        self._store: GatedStore | None = None
        self._fenced: FencedStore | None = None
        self._engine: Engine | None = None
        self._jobs: TickJobs | None = None
        self._stop = asyncio.Event()
        self._reload = asyncio.Event()
        self._stopping = False
        self._last_event_id: int | None = None
        self._bound_port: int | None = None

    def _counted_client(self, server: LoadedServer) -> SepmClient:
        """The REST client of ``server`` (the injected factory's, else the spec's), its calls counted in
        ``sepm_reconciler_api_calls_total{server,endpoint}``."""
        client = (self._client_factory or default_client)(server)
        calls = self.metrics.api_calls
        client.listeners.append(lambda endpoint, _status: calls.labels(server.name, endpoint).inc())
        return client

    # --- what the HTTP endpoints read (StatusSource) -----------------------------------------------------------

    @property
    def state(self) -> DaemonState:
        return self._state

    @property
    def health_grace(self) -> timedelta:
        return timedelta(seconds=self.config.health_grace)

    @property
    def page_refresh(self) -> int:
        return self.config.page_refresh

    @property
    def port(self) -> int | None:
        """The port the endpoints listen on (useful with ``--listen HOST:0``)."""
        return self._bound_port

    def now(self) -> datetime:
        return _utcnow()

    def _require_jobs(self) -> TickJobs:
        if self._jobs is None:
            raise StateError("the daemon is not started")
        return self._jobs

    def _require_store(self) -> GatedStore:
        if self._store is None:
            raise StateError("the state store is not open yet")
        return self._store

    async def records(self) -> list[RolloutRecord]:
        return await asyncio.to_thread(self._require_store().all)

    async def events(self, limit: int) -> list[Event]:
        store = self._require_store()
        return await asyncio.to_thread(lambda: store.events(limit=limit))

    async def server_events(self, names: Sequence[str], limit: int) -> dict[str, list[Event]]:
        store = self._require_store()

        def read() -> dict[str, list[Event]]:
            return {name: store.events(name, limit=limit) for name in names}

        return await asyncio.to_thread(read)

    @property
    def state_url(self) -> str:
        return redact(self.config.state_url)

    def servers_info(self) -> Mapping[str, ServerInfo]:
        current = self._watcher.current
        if current is None:
            return {}
        return {
            name: ServerInfo(
                site=s.spec.spec.server.site,
                api_url=s.spec.spec.server.api_url,
                mode=str(s.spec.spec.rollout.mode),
                policy=Policy(
                    s.spec.spec.rollout.clients.min_soak,
                    s.spec.spec.rollout.clients.max_soak,
                    s.spec.spec.rollout.clients.min_ack_ratio,
                ),
            )
            for name, s in current.servers.items()
        }

    def snapshot(self, records: Sequence[RolloutRecord], now: datetime) -> Snapshot:
        current = self._watcher.current
        return Snapshot(
            now=now,
            records=tuple(records),
            managed=frozenset(current.servers) if current is not None else frozenset(),
            last_tick=dict(self._jobs.last_tick) if self._jobs else {},
            lease_renewed_at=self._state.lease_renewed_at,
            lease_epoch=self._state.lease_epoch,
        )

    @property
    def stopping(self) -> bool:
        return self._stopping

    @property
    def store(self) -> GatedStore:
        """The daemon's store, for reading in the same process (another handle on a SQLite file must not be opened
        and closed while the daemon writes it: closing it would drop the daemon's locks)."""
        return self._require_store()

    # --- control -------------------------------------------------------------------------------------------------

    def request_stop(self) -> None:
        self._stop.set()

    def request_reload(self) -> None:
        self._reload.set()

    # --- main ----------------------------------------------------------------------------------------------------

    async def run(self) -> int:
        """Run until stopped. 0: stopped cleanly; 1: could not start (the state, the specs path, the address)."""
        cfg = self.config
        if not cfg.specs.exists():
            log.error(
                "the specs path does not exist: pass --specs DIR (or set SEPM_RECONCILER_SPECS)",
                extra={"specs": str(cfg.specs)},
            )
            return EXIT_ERROR
        try:  # first the address: a daemon that cannot listen must not create a state either
            sock = bind(cfg.host, cfg.port)
        except OSError as exc:
            log.error(
                "cannot listen on %s: %s — pass --listen HOST:PORT with a free port on an address of this machine",
                cfg.url,
                exc.strerror or exc,
            )
            return EXIT_ERROR
        try:
            store = await asyncio.to_thread(self._open_checked, cfg.state_url)
        except StateError as exc:
            sock.close()
            log.error("cannot open the state: %s", exc, extra={"state": redact(cfg.state_url)})
            return EXIT_ERROR
        self._fenced = FencedStore(
            store, Fence(LEASE_NAME, self._holder, 0)
        )  # epoch 0: no write until leading
        self._store = GatedStore(self._fenced)
        self._store.shut("this daemon does not hold the lease yet")
        self._jobs = TickJobs(
            cfg,
            self._state,
            self.metrics,
            self._store,
            engine=lambda: self._engine,
            active=lambda: self._state.role is Role.LEADER and not self._stopping,
            stopping=lambda: self._stopping,
            on_result=self._after_tick,
        )
        self._bound_port = sock.getsockname()[1]
        server = QuietServer(
            uvicorn.Config(
                build_app(self, HostPolicy(cfg.host, cfg.allowed_hosts)),
                log_config=None,
                access_log=False,
                lifespan="off",
                timeout_graceful_shutdown=1,
            )
        )
        http_task = asyncio.create_task(server.serve(sockets=[sock]), name="http")
        self._install_signals()
        await self._reload_specs(first=True)
        self._jobs.start()
        log.info(
            "daemon started",
            extra={
                "holder": self._holder,
                "listen": f"http://{cfg.host}:{self._bound_port}",
                "specs": str(cfg.specs),
                "state": redact(cfg.state_url),
                "notifications": self._notifier.channels,
            },
        )
        loops = [
            asyncio.create_task(self._forever(self._lease_step, lambda: cfg.lease_period), name="lease"),
            asyncio.create_task(self._watch_loop(), name="specs"),
            asyncio.create_task(self._forever(self._follow_events, lambda: cfg.events_period), name="events"),
        ]
        await self._stop.wait()
        await self._shutdown(loops, server, http_task)
        return EXIT_OK

    @staticmethod
    def _open_checked(url: str) -> Store:
        """Open the state and check it whole once (a damaged SQLite file is an error at start, not a daemon that
        starts healthy and can do nothing)."""
        store = open_store(url)
        check = getattr(store, "check_integrity", None)
        try:
            if check is not None:
                check()
        except StateError:
            store.close()
            raise
        return store

    def _install_signals(self) -> None:
        loop = asyncio.get_running_loop()
        for sig, handler in ((signal.SIGTERM, self.request_stop), (signal.SIGINT, self.request_stop)):
            try:
                loop.add_signal_handler(sig, handler)
            except (NotImplementedError, RuntimeError):  # Windows: Ctrl+C (WinSW's stop) arrives as SIGINT
                signal.signal(sig, lambda *_: loop.call_soon_threadsafe(self.request_stop))
        if hasattr(signal, "SIGHUP"):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signal.SIGHUP, self._on_sighup)

    def _on_sighup(self) -> None:
        log.info("SIGHUP: reloading the specs")
        self.request_reload()

    async def _forever(self, step: Callable[[], Awaitable[None]], period: Callable[[], float]) -> None:
        """Run ``step`` every ``period()`` seconds until stopped; a failing step is logged, never fatal."""
        while not self._stopping:
            try:
                await step()
            except Exception:
                log.exception("internal error in %s (continuing)", getattr(step, "__name__", "a loop"))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=period())

    # --- shutdown ------------------------------------------------------------------------------------------------

    async def _shutdown(
        self, loops: list[asyncio.Task[None]], server: QuietServer, http_task: asyncio.Task[None]
    ) -> None:
        started = time.monotonic()
        self._stopping = True
        store = self._require_store()
        store.shut("the daemon is stopping")
        self._state.role = Role.STOPPING
        self._state.role_reason = "stopping"
        jobs = self._require_jobs()
        log.info("stopping: no new tick or action starts", extra={"in_flight": sorted(jobs.inflight)})
        jobs.pause()
        for task in loops:
            task.cancel()
        await asyncio.gather(*loops, return_exceptions=True)
        inflight = dict(jobs.inflight)
        if inflight:
            _, pending = await asyncio.wait(inflight.values(), timeout=self.config.shutdown_grace)
            if pending:
                log.warning(
                    "cancelling ticks that did not finish in time (a running hook is stopped; its attempt is recorded "
                    "and judged by observation at the next tick)",
                    extra={"servers": sorted(n for n, t in inflight.items() if t in pending)},
                )
                for task in pending:
                    task.cancel()
                await asyncio.wait(pending, timeout=2.0)
        jobs.shutdown()
        if self._engine is not None:
            await self._engine.aclose()  # log every session out of its manager
        try:
            if await asyncio.to_thread(store.release_lease, LEASE_NAME, self._holder):
                log.info("lease released")
        except StateError as exc:
            log.warning("could not release the lease (it expires by itself): %s", exc)
        self.metrics.leader.labels(self._holder).set(0)
        await self._notifier.close(drain=1.0)
        server.should_exit = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(http_task, timeout=3.0)
        await asyncio.to_thread(store.close)
        log.info("stopped", extra={"shutdown_s": round(time.monotonic() - started, 2)})

    # --- lease ---------------------------------------------------------------------------------------------------

    async def _lease_step(self) -> None:
        store = self._require_store()
        now = self.now()
        ttl = timedelta(seconds=self.config.lease_ttl)
        try:
            await asyncio.to_thread(store.verify)
            if self._state.role is Role.LEADER:
                try:
                    lease = await asyncio.to_thread(
                        store.renew_lease, LEASE_NAME, self._holder, ttl=ttl, now=now
                    )
                except ConflictError as exc:
                    self._store_ok()
                    self._become_standby(f"lost the lease: {exc}")
                    return
                self._state.lease_expires_at = lease.expires_at
                self._state.lease_renewed_at, self._state.lease_epoch = lease.renewed_at, lease.epoch
                self._state.role_reason = f"holds the lease until {wording.when(lease.expires_at)}"
            else:
                acquired = await asyncio.to_thread(
                    store.acquire_lease, LEASE_NAME, self._holder, ttl=ttl, now=now
                )
                if acquired is not None:
                    self._state.lease_holder, self._state.lease_expires_at = (
                        acquired.holder,
                        acquired.expires_at,
                    )
                    self._state.lease_renewed_at, self._state.lease_epoch = (
                        acquired.renewed_at,
                        acquired.epoch,
                    )
                    self._require_fenced().hold(acquired.fence)
                    latest = await asyncio.to_thread(lambda: store.events(limit=1))
                    self._last_event_id = (latest[-1].id or 0) if latest else 0  # notify from now on
                    self._store_ok()
                    self._become_leader()
                else:
                    current = await asyncio.to_thread(store.lease, LEASE_NAME)
                    holder = current.holder if current else "another daemon"
                    until = wording.when(current.expires_at) if current else "soon"
                    self._state.lease_holder = current.holder if current else None
                    self._state.lease_expires_at = current.expires_at if current else None
                    self._state.lease_renewed_at = current.renewed_at if current else None
                    self._state.lease_epoch = current.epoch if current else None
                    self._store_ok()
                    self._become_standby(
                        f"another daemon ({holder}) holds the lease on this state until {until} unless it renews it; "
                        "this one takes over when it stops or the lease expires"
                    )
            self._store_ok()
        except StateError as exc:
            self._store_failed(exc)
            expires = self._state.lease_expires_at
            if self._state.role is Role.LEADER and (expires is None or now >= expires):
                self._become_standby(f"the lease could not be renewed before it expired: {exc}")
            return
        finally:
            self._state.lease_checked_at = now

    def _debug_hold(self, server: str, action: Action) -> None:
        """``--debug-hold-before-action FILE``: while FILE exists, a hook action whose attempt is saved waits here,
        before the guard — so a test can kill or stop the daemon exactly between the save and the action. A FILE
        with lines ``SERVER STEP`` holds only those actions."""
        gate = self.config.debug_hold_before_action
        if gate is None or action.performer is not Performer.COMMAND:
            return

        def holds() -> bool:
            try:
                lines = gate.read_text(encoding="utf-8").split("\n")
            except OSError:
                return False
            wanted = {line.strip() for line in lines if line.strip()}
            return not wanted or f"{server} {action.step}" in wanted

        if not holds():
            return
        log.warning(
            "debug: holding before starting an action",
            extra={"server": server, "step": action.step, "attempt": action.attempt},
        )
        deadline = time.monotonic() + 120
        while holds() and time.monotonic() < deadline:
            time.sleep(0.05)

    def _require_fenced(self) -> FencedStore:
        if self._fenced is None:
            raise StateError("the state store is not open yet")
        return self._fenced

    def _store_failed(self, exc: StateError) -> None:
        """The state cannot be used (the database unreachable, the file replaced…): act on nothing until it can."""
        reason = str(exc)
        broken = scheme_of(self.config.state_url) == "sqlite"  # a replaced or damaged file needs a restart
        if self._state.store_problem != reason:
            log.error(
                "the state store is unusable: %s — no action starts until it is usable again%s",
                reason,
                " (restart the daemon once the state is restored)" if broken else "",
                extra={"state": redact(self.config.state_url)},
            )
        self._state.store_problem = reason
        self._state.store_broken = broken
        self._require_store().shut(f"the state store is unusable: {reason}")

    def _store_ok(self) -> None:
        if self._state.store_problem is None:
            return
        if self._state.store_broken:
            return  # a file that was replaced under us stays suspect until a restart
        log.info("the state store is usable again", extra={"state": redact(self.config.state_url)})
        self._state.store_problem = None
        if self._state.role is Role.LEADER and not self._stopping:
            self._require_store().reopen()

    def _guard_action(self, server: str, action: Action) -> None:
        """Right before an action starts (its attempt is saved): this daemon must still lead — its lease not
        expired on its own clock, the database still showing it as the holder at its epoch — else the action is
        not started (the attempt is judged by observation later, by whoever leads)."""
        self._debug_hold(server, action)
        if self._stopping or self._state.role is not Role.LEADER:
            raise FencedError(f"{server}: this daemon is {self._state.role.value}: no action starts")
        if self._state.store_problem is not None:
            raise FencedError(f"{server}: the state store is unusable: no action starts")
        expires = self._state.lease_expires_at
        if expires is None or self.now() >= expires:
            raise FencedError(f"{server}: this daemon's lease expired (on its own clock): no action starts")
        try:
            self._require_fenced().confirm()
        except FencedError:
            raise
        except StateError as exc:
            raise FencedError(f"{server}: the lease cannot be checked ({exc}): no action starts") from exc

    def _become_leader(self) -> None:
        if self._state.role is Role.LEADER or self._stopping:
            return
        self._state.role = Role.LEADER
        self._state.role_reason = (
            f"holds the lease until {wording.when(self._state.lease_expires_at or self.now())}"
        )
        self.metrics.leader.labels(self._holder).set(1)
        if self._state.store_problem is None:
            self._require_store().reopen()
        log.info("leading: this daemon holds the lease and acts", extra={"holder": self._holder})
        if self._watcher.status.errors:
            self._notify_invalid()
        if self._watcher.current is not None:
            for _, server in sorted(self._watcher.current.servers.items()):
                self._require_jobs().add(server)

    def _become_standby(self, reason: str) -> None:
        was = self._state.role
        self._state.role_reason = reason
        if was is Role.STANDBY or self._stopping:
            return
        self._state.role = Role.STANDBY
        self.metrics.leader.labels(self._holder).set(0)
        self._require_store().shut("this daemon is on standby (it does not hold the lease)")
        self._require_jobs().remove_all()
        log.warning("standby: %s", reason, extra={"holder": self._holder})

    # --- specs ---------------------------------------------------------------------------------------------------

    async def _watch_loop(self) -> None:
        while not self._stopping:
            forced = self._reload.is_set()
            self._reload.clear()
            try:
                await self._reload_specs(force=forced)
            except Exception:
                log.exception("internal error while reloading the specs (the specs in force are kept)")
            stop = asyncio.ensure_future(self._stop.wait())
            reload = asyncio.ensure_future(self._reload.wait())
            await asyncio.wait(
                {stop, reload}, timeout=self.config.watch_period, return_when=asyncio.FIRST_COMPLETED
            )
            for waiter in (stop, reload):
                waiter.cancel()

    async def _reload_specs(self, *, force: bool = False, first: bool = False) -> None:
        now = self.now()
        outcome = await asyncio.to_thread(self._watcher.poll, now, force=force or first)
        self._state.specs_checked_at = now
        for warning in outcome.warnings if outcome.kind is not ReloadKind.UNCHANGED else ():
            log.warning("spec: %s", warning)
        if outcome.kind is ReloadKind.LOADED:
            self._apply_specs(outcome)
        elif outcome.kind is ReloadKind.INVALID:
            self._report_invalid(outcome)

    def _notify_invalid(self) -> None:
        errors = self._watcher.status.errors
        self._notifier.send(specs_invalid(str(self.config.specs), list(errors), self.now()))

    def _report_invalid(self, outcome: ReloadOutcome) -> None:
        status = self._watcher.status
        self.metrics.spec_reload_failures.inc()
        self.metrics.show_specs(status.revision, status.rejected_revision, valid=False)
        kept = (
            f"the specs of revision {status.revision} stay in force"
            if status.revision
            else "no valid specs are in force: nothing is reconciled until they are fixed"
        )
        log.error(
            "spec commit refused: %d error(s); %s (nothing acts on the invalid specs)",
            len(outcome.errors),
            kept,
            extra={"revision": status.rejected_revision, "errors": list(outcome.errors)},
        )
        for error in outcome.errors:
            log.error("spec error: %s", error)
        if self._state.role is Role.LEADER:  # a standby keeps quiet; a new leader reports it (_become_leader)
            self._notify_invalid()

    def _apply_specs(self, outcome: ReloadOutcome) -> None:
        spec_set = outcome.spec_set
        assert spec_set is not None  # noqa: S101 - a LOADED outcome always carries its set
        if self._engine is None:
            self._engine = Engine(
                spec_set,
                self._require_store(),
                client_factory=self._counted_client,
                hook_runner=self._hook_runner,
                tuning=self.config.tuning,
                observe_timeout=self.config.tick_timeout,
                hook_withheld=self._hook_withheld,
                action_guard=self._guard_action,
                observe_concurrency=self.config.observe_concurrency,
            )
        else:
            self._engine.update_specs(spec_set)
        self.metrics.spec_reloads.inc()
        self.metrics.show_specs(spec_set.revision, None, valid=True)
        log.info(
            "specs loaded",
            extra={
                "revision": spec_set.revision,
                "servers": len(spec_set.servers),
                "added": list(outcome.added),
                "removed": list(outcome.removed),
                "changed": list(outcome.changed),
            },
        )
        for name in outcome.removed:
            self._require_jobs().remove(name, forget=True)
            log.warning("%s is no longer in the specs: left as it is and reported as unmanaged", name)
        for name, server in spec_set.servers.items():
            runtime = self._state.servers.get(name)
            if runtime is not None:
                runtime.timeout = tick_timeout(self.config, server)
            # a new or changed server is looked at promptly; the others keep their schedule
            if self._state.role is Role.LEADER and (runtime is None or name in outcome.changed):
                self._require_jobs().add(server)

    # --- ticks and events → notifications and counters ---------------------------------------------------------

    def _after_tick(self, name: str, result: TickResult) -> None:
        """A manual step is due: say so once per rollout, step and action (again after a restart: a reminder)."""
        action = result.action
        if action is None or action.performer is not Performer.MANUAL or self._state.role is not Role.LEADER:
            return
        key = (name, result.rollout_id, action.step, action.kind.value)
        if key in self._manual_notified:
            return
        self._manual_notified.add(key)
        notification = manual_step_due(
            name,
            result.substep or action.step,
            action.summary,
            action.instructions,
            result.rollout_id,
            self.now(),
        )
        self._notifier.send(notification)
        log.info("notify: %s", notification.title, extra={"topic": str(notification.topic), "server": name})

    async def _follow_events(self) -> None:
        if self._state.role is not Role.LEADER:
            return
        store = self._require_store()
        if self._last_event_id is None:
            return
        after = self._last_event_id
        events = await asyncio.to_thread(lambda: store.events(after_id=after, limit=_EVENTS_BATCH))
        for event in events:
            if event.id is None or event.id <= self._last_event_id:
                continue
            self._last_event_id = event.id
            self.metrics.count_event(event)
            if event.kind in OPERATOR_EVENTS and self._require_jobs().poke(event.server):
                log.info(
                    "%s: %s by %s: checking it now",
                    event.server,
                    event.kind.value.replace("_", " "),
                    event.actor,
                    extra={"server": event.server, "event_id": event.id},
                )
            notification = notification_for(event)
            if notification is not None:
                self._notifier.send(notification)
                log.info(
                    "notify: %s",
                    notification.title,
                    extra={"topic": str(notification.topic), "server": event.server},
                )
