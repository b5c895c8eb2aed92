"""The twin, running: the embedded simulator started on the twin fleet, its console operations for the hooks and
the operator (:class:`SimConsole`), and one run of the reconciler on it (:func:`run_plan`, a function a process
pool can call: the runs of a forecast are independent and use both cores).

This is the only part of the forecast that imports the simulator (an import-linter contract keeps the simulator to
the command line's modules).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from reconciler.core.decide import Tuning
from reconciler.engine import Engine
from reconciler.errors import Error, PermanentError
from reconciler.forecast.drive import ConsoleHooks, Pacing, drive
from reconciler.forecast.pki import TwinCert
from reconciler.forecast.track import Track
from reconciler.forecast.twin import Twin
from reconciler.forecast.twinspecs import TwinAccess, twin_specs
from reconciler.sim import SimError, Simulator
from reconciler.specs import load_specs
from reconciler.store import open_store

__all__ = ["FORECAST_TUNING", "RunPlan", "SimConsole", "run_plan", "run_twin"]

FORECAST_TUNING = Tuning(waiting_interval=timedelta(days=30))
"""The daemon's timings, but for the wait between two looks while a stage waits: the driver sets it (its
``resolution``, or the known end of a soak)."""


class SimConsole:
    """The twin's clock and console operations: the simulator's ``/_sim`` admin API (as the simulator hooks of
    ``deploy/hooks/sim/`` call it), and its in-process clock."""

    def __init__(self, sim: Simulator, desired: Mapping[str, TwinCert], ca_file: Path) -> None:
        self._sim = sim
        self._desired = desired
        self._info = sim.ports_info()["managers"]
        self._http = httpx.AsyncClient(verify=ssl.create_default_context(cafile=str(ca_file)), timeout=30)
        self.done: list[str] = []

    async def aclose(self) -> None:
        await self._http.aclose()

    def now(self) -> datetime:
        return self._sim.world.clock.now()

    async def advance_to(self, when: datetime) -> None:
        seconds = (when - self.now()).total_seconds()
        if seconds > 0:
            world = self._sim.world
            with world.lock:  # in-process, as the test rigs do: it works while an API port restarts
                world.clock.advance(seconds)
                world.advance()

    async def _admin(self, server: str, path: str, body: Any, ok: Sequence[int] = ()) -> Any:
        info = self._info[server]
        response = await self._http.post(
            f"{info['admin_url']}/{path}",
            json=body,
            headers={"Authorization": f"Bearer {info['admin_token']}"},
        )
        if response.status_code >= 400 and response.status_code not in ok:
            raise PermanentError(
                f"{server}: POST /_sim/{path} answered {response.status_code}: {response.text[:200]}"
            )
        return response.json()

    async def perform(self, server: str, kind: str, *, partners: Sequence[str], list_name: str | None) -> str:
        if kind == "break_replication":
            for partner in partners:
                await self._admin(server, "replication/partners/delete", {"partner": partner}, ok=(404,))
            said = f"replication with {', '.join(partners) or 'no partner'} deleted"
        elif kind == "restore_replication":
            for partner in partners:
                await self._admin(server, "replication/partners/add", {"partner": partner}, ok=(409,))
            said = f"replication with {', '.join(partners) or 'no partner'} added again"
        elif kind == "update_certificate":
            leaf = self._desired[server]
            body = {
                "cert_pem": leaf.cert_file.read_text("ascii"),
                "key_pem": leaf.key_file.read_text("ascii"),
            }
            await self._admin(server, "certificate", body)
            await self._admin(server, "services/restart", {})
            await self._sim.wait_services_up(server, within=60)
            said = "certificate installed, services restarted"
        elif kind in ("switch_to_http_list", "restore_original_list") and list_name:
            await self._admin(server, "lists/assign", {"list": list_name, "groups": None})
            said = f"{list_name!r} assigned to every group and location"
        else:
            raise PermanentError(f"{server}: the twin has no console operation for {kind!r}")
        self.done.append(f"{server}: {said}")
        return said


@dataclass(frozen=True, slots=True)
class RunPlan:
    """One run: everything a worker process needs (it reloads the specs itself)."""

    specs_path: Path
    names: tuple[str, ...]
    twin: Twin
    desired: Mapping[str, TwinCert]
    ca_file: Path
    admin_password_file: Path
    keystore_password_file: Path
    seed: int
    pacing: Pacing = field(default_factory=Pacing)
    quiet: bool = True


def _access(twin: Twin, info: Mapping[str, Any], plan: RunPlan) -> dict[str, TwinAccess]:
    managers = {m["name"]: m for m in twin.fleet["managers"]}
    return {
        name: TwinAccess(
            api_url=str(info[name]["api_url"]),
            ports=dict(info[name]["ports"]),
            ca_file=plan.ca_file,
            password_file=plan.admin_password_file,
            keystore_password_file=plan.keystore_password_file,
            domain=str(managers[name]["admin"]["domain"]),
        )
        for name in plan.names
    }


async def run_twin(plan: RunPlan) -> dict[str, Track]:
    """Start the twin with ``plan.seed``, drive every server through its rollout, read the twin's ground truth."""
    spec_set = load_specs(plan.specs_path)
    async with Simulator(plan.twin.for_run(plan.seed)) as sim:
        info = sim.ports_info()["managers"]
        console = SimConsole(sim, plan.desired, plan.ca_file)
        with tempfile.TemporaryDirectory(prefix="sepm-forecast-run-") as tmp:
            specs = twin_specs(spec_set, _access(plan.twin, info, plan), plan.desired, Path(tmp))
            store = open_store(f"sqlite:///{Path(tmp) / 'state.db'}")
            try:
                engine = Engine(
                    specs, store, clock=console, hook_runner=ConsoleHooks(console), tuning=FORECAST_TUNING
                )
                tracks = await drive(engine, store, console, specs, pacing=plan.pacing)
            finally:
                store.close()
                await console.aclose()
        truth = sim.state()["managers"]
    for name, track in tracks.items():
        track.orphaned = int(truth[name]["clients"]["orphaned"])
    return tracks


@contextlib.contextmanager
def _quiet(quiet: bool) -> Iterator[None]:
    """The reconciler's logs silenced while the twin runs (its held observations during a restart are expected)."""
    logger = logging.getLogger("reconciler")
    level = logger.level
    if quiet:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def run_plan(plan: RunPlan) -> dict[str, Track]:
    """:func:`run_twin` from synchronous code (a worker process). Raises :class:`PermanentError` when the twin
    cannot run (its fleet refused by the simulator, a port that cannot be opened…)."""
    with _quiet(plan.quiet):
        try:
            return asyncio.run(run_twin(plan))
        except (Error, SimError, OSError) as exc:
            raise PermanentError(f"the twin could not run (seed {plan.seed}): {exc}") from exc
