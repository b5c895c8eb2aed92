"""Run a simulated fleet: three TLS listeners per manager, the vendor API and ``/_sim`` on the API port.

In-process (async)::

    async with Simulator("fleet.yaml") as sim:          # or a dict, or a FleetConfig
        info = sim.ports_info()                          # same shape as the ports file
        token = sim.admin_token                          # bearer token of /_sim/...
        truth = sim.state()                              # GET /_sim/state, without HTTP
        sim.world.manager("sepm-east").clients.orphaned  # direct access to the ground truth

From synchronous code (tests, CLI subprocess tests)::

    with run_in_thread("fleet.yaml") as sim:             # the same object, its loop in a thread
        ...
        sim.call(sim.restart_services("sepm-east"))      # run a coroutine on the simulator's loop
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import os
import secrets
import ssl
import tempfile
import threading
from collections.abc import Coroutine, Iterator, Mapping
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, Router

from reconciler.sim.admin import admin_routes
from reconciler.sim.api import API_PREFIX, api_routes
from reconciler.sim.fleet import FleetConfig, load_fleet
from reconciler.sim.httpserver import Listener
from reconciler.sim.manager import PORTS, SERVICES, Manager
from reconciler.sim.web import ApiError, json_response
from reconciler.sim.world import World

__all__ = ["Simulator", "run_in_thread"]

log = logging.getLogger(__name__)
T = TypeVar("T")


class Simulator:
    """A running simulated fleet. Use ``async with`` (or :meth:`start`/:meth:`stop`)."""

    def __init__(
        self,
        fleet: FleetConfig | Mapping[str, Any] | str | Path,
        *,
        ports_file: str | Path | None = None,
        tick_interval: float = 0.05,
    ) -> None:
        self.config = load_fleet(fleet)
        self.world = World(self.config)
        self.admin_token = secrets.token_urlsafe(24)
        self.ports_file = Path(ports_file) if ports_file else None
        self._wrote_ports_file = False
        self.tick_interval = tick_interval
        self._listeners: dict[tuple[str, str], Listener] = {}
        self._contexts: dict[int, ssl.SSLContext] = {}
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()
        self.loop: asyncio.AbstractEventLoop | None = None

    # --- lifecycle ----------------------------------------------------------------------------------------------
    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Open every listener, start the clock's ticker, then write the ports file. On failure nothing is left
        running and an :class:`OSError` whose ``strerror`` is one complete sentence says what and where."""
        self.loop = asyncio.get_running_loop()
        self._tmp = tempfile.TemporaryDirectory(prefix="sepm-sim-")
        try:
            for m in self.world.managers.values():
                await self._listen(m)
            self._ticker = asyncio.create_task(self._tick_forever(), name="sepm-sim-ticker")
            if self.ports_file is not None:
                try:
                    _write_private(self.ports_file, json.dumps(self.ports_info(), indent=2) + "\n")
                    self._wrote_ports_file = True
                except OSError as exc:
                    reason = os.strerror(exc.errno) if exc.errno else str(exc)
                    raise OSError(
                        exc.errno, f"cannot write the ports file {self.ports_file}: {reason}"
                    ) from exc
        except BaseException:
            await self.stop()
            raise
        log.info(
            "simulator up: %s",
            ", ".join(f"{n} api {i['ports']['api']}" for n, i in self.ports_info()["managers"].items()),
        )

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        for task in list(self._background):
            task.cancel()
        if self._background:
            await asyncio.wait(self._background, timeout=5)
        await asyncio.gather(*(listener.stop() for listener in self._listeners.values()))
        if self.ports_file is not None and self._wrote_ports_file:  # never another simulator's file
            with contextlib.suppress(OSError):
                self.ports_file.unlink()
            self._wrote_ports_file = False
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    # --- what tests and tools use -------------------------------------------------------------------------------
    def ports_info(self) -> dict[str, Any]:
        """``{"managers": {NAME: {"host", "ports": {"clients", "console", "api"}, "api_url", "admin_token"}}}``."""
        managers = {}
        for m in self.world.managers.values():
            ports = {p: self._listeners[(m.name, p)].port for p in PORTS}
            host = f"[{m.cfg.host}]" if ":" in m.cfg.host else m.cfg.host
            managers[m.name] = {
                "host": m.cfg.host,
                "site": m.site,
                "ports": ports,
                "api_url": f"https://{host}:{ports['api']}{API_PREFIX}",
                "admin_url": f"https://{host}:{ports['api']}/_sim",
                "admin_token": self.admin_token,
            }
        return {"managers": managers}

    def state(self, *, clients: bool = False) -> dict[str, Any]:
        """The ground truth, exactly as ``GET /_sim/state`` returns it."""
        return self.world.state(clients=clients)

    def certificate_pem(self, fingerprint: str) -> bytes:
        """The PEM of a certificate some manager served or staged (for tests that pin or compare)."""
        for cert in self.world.certs:
            if cert.fingerprint == fingerprint:
                return cert.cert_chain_pem()
        raise KeyError(fingerprint)

    async def restart_services(
        self, name: str, services: tuple[str, ...] = tuple(SERVICES)
    ) -> dict[str, Any]:
        """Restart ``services`` of manager ``name``: their ports refuse connections now and come back (with the
        staged certificate, unless a ``restart_fails`` fault says otherwise) once the configured delays passed."""
        m = self.world.manager(name)
        with self.world.lock:
            ports = self.world.begin_restart(m, services)
            restart = m.restart
        for port in ports:
            self._listeners[(name, port)].close()

        async def finish_closing() -> None:
            await asyncio.gather(*(self._listeners[(name, p)].stop() for p in ports))

        task = asyncio.create_task(finish_closing())
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        assert restart is not None  # noqa: S101 - begin_restart just set it
        return {
            "restarting": list(services),
            "ports_down": ports,
            "down_seconds": m.cfg.restart_down_seconds,
            "down_for_simulated_seconds": m.cfg.restart_down_for,
        }

    async def wait_services_up(self, name: str, within: float = 10.0) -> None:
        """Wait until manager ``name`` has no restart in progress and its listeners match its running services."""
        m = self.world.manager(name)
        async with asyncio.timeout(within):
            while True:
                with self.world.lock:
                    done = m.restart is None
                    expected = {SERVICES[s]: up for s, up in m.running.items()}
                if done and all(self._listeners[(name, p)].running == up for p, up in expected.items()):
                    return
                await asyncio.sleep(0.02)

    # --- thread helpers (for run_in_thread) ---------------------------------------------------------------------
    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        """From another thread: run ``coro`` on the simulator's loop and return its result."""
        if self.loop is None:
            raise RuntimeError("the simulator is not running")
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    # --- internals ----------------------------------------------------------------------------------------------
    async def _listen(self, m: Manager) -> None:
        apps = self._apps(m.name)
        for port in PORTS:
            listener = Listener(
                m.cfg.host,
                m.cfg.ports[port],
                apps[port],
                close_after_post=lambda m=m: m.faults.close_after_post,  # type: ignore[misc]  # default-bound loop variable
            )
            self._listeners[(m.name, port)] = listener
            try:
                await listener.start(self._context(m.current[port]))
            except OSError as exc:
                # asyncio's strerror repeats the address; a name lookup error (gaierror) has a negative errno
                reason = os.strerror(exc.errno) if exc.errno and exc.errno > 0 else (exc.strerror or str(exc))
                fix = (
                    "give another port in the fleet file, or 0 for a free one"
                    if exc.errno in (errno.EADDRINUSE, errno.EACCES)
                    else "check host in the fleet file (an address of this machine, e.g. 127.0.0.1)"
                )
                raise OSError(
                    exc.errno,
                    f"{m.name}: cannot listen on {m.cfg.host}:{m.cfg.ports[port]} (its {port} port): {reason}; {fix}",
                ) from exc

    def _context(self, cert_index: int) -> ssl.SSLContext:
        if cert_index not in self._contexts:
            assert self._tmp is not None  # noqa: S101 - set by start()
            cert = self.world.certs[cert_index]
            base = Path(self._tmp.name)
            cert_file, key_file = base / f"{cert_index}.crt", base / f"{cert_index}.key"
            _write_private(cert_file, cert.cert_chain_pem().decode())
            _write_private(key_file, cert.key_pem().decode())
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            context.load_cert_chain(cert_file, key_file)
            key_file.unlink()  # loaded: the unencrypted key need not stay on disk
            self._contexts[cert_index] = context
        return self._contexts[cert_index]

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(self.tick_interval)
            try:
                for m, ports in self.world.finish_due_restarts():
                    for port in ports:
                        listener = self._listeners[(m.name, port)]
                        await listener.stop()
                        await listener.start(self._context(m.current[port]))
            except Exception:  # the ticker must survive anything; the error is logged
                log.exception("simulator tick failed")

    def _apps(self, name: str) -> dict[str, Router]:
        m = self.world.manager(name)

        async def not_found(scope: Any, receive: Any, send: Any) -> None:
            response = ApiError(404, f"no such resource: {scope.get('path')}").response()
            await response(scope, receive, send)

        async def clients_home(request: Request) -> Response:
            # Apache on the clients port: what a SEPM client polls (secars) answers "OK".
            return Response(b"OK", media_type="text/plain")

        async def console_home(request: Request) -> Response:
            return json_response(
                {"server": m.name, "site": m.site, "service": "Symantec Endpoint Protection Manager console"}
            )

        async def restart(service_name: str, services: tuple[str, ...]) -> dict[str, Any]:
            return await self.restart_services(service_name, services)

        return {
            "clients": Router(
                [Route("/secars/secars.dll", clients_home), Route("/", clients_home)], default=not_found
            ),
            "console": Router([Route("/", console_home)], default=not_found),
            "api": Router(
                [*api_routes(self.world, name), *admin_routes(self.world, name, self.admin_token, restart)],
                default=not_found,
            ),
        }


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` readable by the owner only, atomically (a reader never sees half a file)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError as exc:  # a file stands where a directory should be
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), exc.filename) from exc
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    tmp.replace(path)


@contextlib.contextmanager
def run_in_thread(fleet: FleetConfig | Mapping[str, Any] | str | Path, **kwargs: Any) -> Iterator[Simulator]:
    """Run a :class:`Simulator` on its own event loop in a daemon thread, for synchronous code.

    Yields the started simulator; use :meth:`Simulator.call` to run its coroutines from the calling thread.
    Keyword arguments go to :class:`Simulator`. Stops the simulator and joins the thread on exit.
    """
    sim = Simulator(fleet, **kwargs)
    started: Future[None] = Future()
    stop_requested: asyncio.Event | None = None
    loop_holder: list[asyncio.AbstractEventLoop] = []

    async def main() -> None:
        nonlocal stop_requested
        stop_requested = asyncio.Event()
        loop_holder.append(asyncio.get_running_loop())
        try:
            await sim.start()
        except BaseException as exc:
            started.set_exception(exc)
            return
        started.set_result(None)
        try:
            await stop_requested.wait()
        finally:
            await sim.stop()

    thread = threading.Thread(target=asyncio.run, args=(main(),), name="sepm-simulator", daemon=True)
    thread.start()
    try:
        started.result(timeout=60)
        yield sim
    finally:
        if loop_holder and stop_requested is not None:
            with contextlib.suppress(RuntimeError):  # the loop already ended (the simulator failed to start)
                loop_holder[0].call_soon_threadsafe(stop_requested.set)
        thread.join(timeout=30)
