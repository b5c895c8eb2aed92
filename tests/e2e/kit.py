"""The end-to-end rig: a real simulator (HTTPS on real ports, frozen clock), real spec files, a real SQLite state,
real hook subprocesses — and a driver that ticks the engine and moves both clocks together.

The reconciler's clock is a :class:`FakeClock` started at the simulator's start; :meth:`Rig.advance` moves the
simulator's clock (through its admin API) and the fake clock by the same amount, so soaks measured on the
manager's clock and backoffs measured on the reconciler's stay in step.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from reconciler.core.clock import FakeClock
from reconciler.core.decide import Tuning
from reconciler.core.record import RolloutRecord
from reconciler.engine import Engine, TickResult
from reconciler.sepm import RetryPolicy, SepmClient, SepmCredentials, tls_context
from reconciler.sim import Simulator
from reconciler.specs import LoadedServer, SpecSet, load_specs
from reconciler.store import Store, open_store
from tests.support import pki as support_pki
from tests.support import sim as support_sim
from tests.support.pki import Leaf

REPO = Path(__file__).resolve().parents[2]
HOOK = REPO / "tests" / "e2e" / "hooks" / "hook.py"
SIM_START = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
SEPM_PASSWORD_ENV = "E2E_SEPM_PASSWORD"
P12_PASSWORD_ENV = "E2E_P12_PASSWORD"
P12_PASSWORD = "p12-Secret-Value-7781"  # a fixture; the tests check it never leaks into state, events or argv

GROUPS = [
    {"name": "My Company", "inherits": False},
    {"name": "My Company\\Servers", "inherits": True},
    {"name": "My Company\\Laptops", "inherits": False},
    {"name": "My Company\\Kiosks", "inherits": False},
]

TUNING = Tuning(
    active_interval=timedelta(seconds=30),
    waiting_interval=timedelta(hours=4),
    idle_interval=timedelta(hours=1),
    after_move=timedelta(seconds=1),
    api_timeout=timedelta(seconds=30),
    api_max_attempts=3,
    effect_grace=timedelta(minutes=2),
    retry_base=timedelta(minutes=5),
    retry_max=timedelta(hours=1),
)


# --- certificates --------------------------------------------------------------------------------------------------


class Pki(support_pki.Pki):
    """A test CA and server certificates it issued for 127.0.0.1 (PEM, and PKCS#12 with :data:`P12_PASSWORD`)."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory, "E2E Test CA", p12_password=P12_PASSWORD)

    def leaf(
        self, stem: str, *, common_name: str | None = None, days: float = 200, key_kind: str = "rsa2048"
    ) -> Leaf:
        return super().leaf(
            stem, common_name=common_name or f"{stem}.e2e.example", days=days, key_kind=key_kind
        )


# --- the fleet and the specs ---------------------------------------------------------------------------------------


def manager(
    name: str,
    site: str,
    cert: Leaf,
    *,
    clients: int = 300,
    offline_share: float = 0.1,
    partners: Iterable[str] = (),
    groups: Iterable[Mapping[str, Any]] = GROUPS,
    **extra: Any,
) -> dict[str, Any]:
    return support_sim.manager(
        name,
        site,
        cert=cert,
        groups=groups,
        clients=clients,
        offline_share=offline_share,
        offline_for=("6h", "2d"),
        agent_versions={"14.3.9816.7000": 1.0},
        partners=list(partners) or None,
        **extra,
    )


def fleet(*managers: dict[str, Any], behaviours: Any = None) -> dict[str, Any]:
    """The strict simulator — the HTTPS management server list, the certificate fetched only with a policy that
    does not verify, lists not shown in settings, the replacing settings PATCH, no serial move for a no-op PATCH,
    ``replicationStatus`` as an array, deleted rows — but for its throttle, on this frozen clock
    (:data:`tests.support.sim.FROZEN_CLOCK`); ``behaviours`` changes more."""
    chosen = {**support_sim.FROZEN_CLOCK, **(behaviours or {})}
    return support_sim.fleet(*managers, seed=11, start=SIM_START.isoformat(), behaviours=chosen)


def command(timeout: str = "2m", max_attempts: int = 3) -> dict[str, Any]:
    return {"command": [sys.executable, str(HOOK)], "timeout": timeout, "maxAttempts": max_attempts}


LISTS = {"http": support_sim.HTTP_LIST, "original": support_sim.ORIGINAL_LIST}


def write_spec(
    directory: Path,
    sim: Simulator,
    name: str,
    pki: Pki,
    desired: Leaf,
    *,
    partners: Iterable[str] = (),
    clients: dict[str, Any] | None = None,
    rollout: dict[str, Any] | None = None,
    actions: dict[str, Any] | None = None,
    lists: dict[str, Any] | None = LISTS,
) -> Path:
    """Write ``NAME.yaml``: the manager ``name`` of ``sim`` must present ``desired``; hooks for steps 1, 2a, 4a, 5b
    and 7; ``lists`` its ``managementServerList`` (None: left out)."""
    policy = {"minSoak": "24h", "maxSoak": "14d", "excludeOfflineFor": "7d", "minAckRatio": 1.0}
    policy.update(clients or {})
    document = {
        "apiVersion": "sepm-reconciler/v1",
        "kind": "ManagedServer",
        "metadata": {"name": name},
        "spec": {
            "server": support_sim.server_spec(sim, name, ca_file=pki.ca_file, password_env=SEPM_PASSWORD_ENV),
            "certificate": {
                "file": str(desired.cert_file),
                "keystore": {"file": str(desired.p12_file), "password": {"env": P12_PASSWORD_ENV}},
            },
            "replication": {"partners": list(partners)},
            "rollout": {
                "clients": policy,
                "actions": {
                    "breakReplication": command(),
                    "switchToHttpList": command(),
                    "updateCertificate": command(),
                    "restoreOriginalList": command(),
                    "restoreReplication": command(),
                }
                if actions is None
                else actions,
                **({"managementServerList": lists} if lists is not None else {}),
                **(rollout or {}),
            },
        },
    }
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.yaml"
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")  # JSON is YAML
    return path


def fast_client(server: LoadedServer) -> SepmClient:
    """The spec's client, with quick retries (an unreachable manager is given up on in a second, not 30)."""
    conn = server.spec.spec.server
    return SepmClient(
        conn.api_url,
        SepmCredentials("admin", os.environ[SEPM_PASSWORD_ENV], ""),
        verify=tls_context(conn.ca_bundle),
        timeout=5.0,
        retry=RetryPolicy(attempts=2, base_delay=0.05, max_delay=0.2),
    )


# --- the simulator's admin API -------------------------------------------------------------------------------------


class Admin(support_sim.Admin):
    """``/_sim`` of one manager, over HTTPS (the same API the hooks use); the simulator's certificates change during
    the tests, so the admin client does not verify them."""

    def __init__(self, sim: Simulator, name: str) -> None:
        super().__init__(sim, name)


# --- the rig -------------------------------------------------------------------------------------------------------


@dataclass
class Rig:
    """A running simulator, its spec directory, a state store and an engine, driven tick by tick."""

    sim: Simulator
    specs_dir: Path
    store: Store
    clock: FakeClock
    hook_log: Path
    engine: Engine | None = None
    history: list[list[TickResult]] = field(default_factory=list)

    @property
    def state_url(self) -> str:
        return self.store.url

    def load(self) -> SpecSet:
        spec_set = load_specs(self.specs_dir)
        assert spec_set.valid, [str(e) for e in spec_set.errors]
        return spec_set

    def start_engine(self, **options: Any) -> Engine:
        options.setdefault("tuning", TUNING)
        options.setdefault("client_factory", fast_client)
        options.setdefault("clock", self.clock)
        self.engine = Engine(self.load(), self.store, **options)
        return self.engine

    def admin(self, name: str) -> Admin:
        return Admin(self.sim, name)

    async def advance(self, delta: timedelta) -> None:
        """Move the simulator's clock and the reconciler's by ``delta``."""
        if delta <= timedelta(0):
            return
        self.advance_simulator(delta)
        self.clock.advance(delta)

    def advance_simulator(self, delta: timedelta) -> None:
        """Move only the simulator's clock (the managers' time), as ``POST /_sim/clock/advance`` does — in-process,
        so that it works while a manager's API port is down."""
        world = self.sim.world
        with world.lock:
            world.clock.advance(delta.total_seconds())
            world.advance()

    async def tick(self, names: Iterable[str] | None = None) -> list[TickResult]:
        assert self.engine is not None
        results = await self.engine.tick_all(names)
        self.history.append(results)
        return results

    async def run_until(
        self,
        done: Callable[[list[TickResult]], bool],
        *,
        max_ticks: int = 200,
        names: Iterable[str] | None = None,
        max_step: timedelta = timedelta(hours=4),
    ) -> list[TickResult]:
        """Tick (all servers, or ``names``) until ``done(results)``; between ticks move both clocks to the earliest
        next check (at least 1 s, at most ``max_step``). Fails after ``max_ticks``."""
        chosen = list(names) if names is not None else None
        for _ in range(max_ticks):
            results = await self.tick(chosen)
            for result in results:
                assert result.error is None or result.observation is not None, result.error
            if done(results):
                return results
            soonest = min(r.next_check_at for r in results)
            delta = min(max(soonest - self.clock.now(), timedelta(seconds=1)), max_step)
            await self.advance(delta)
        last = "; ".join(f"{r.server}: {r.phase_after.value}: {r.reason}" for r in self.history[-1])
        raise AssertionError(f"not done after {max_ticks} ticks; last: {last}")

    def record(self, name: str) -> RolloutRecord:
        record = self.store.get(name)
        assert record is not None
        return record

    def hook_runs(self) -> list[dict[str, Any]]:
        if not self.hook_log.exists():
            return []
        return [json.loads(line) for line in self.hook_log.read_text(encoding="utf-8").splitlines() if line]

    def truth(self, clients: bool = False) -> dict[str, Any]:
        state: dict[str, Any] = self.sim.state(clients=clients)
        return state

    def assert_no_orphans(self, name: str, *, except_names: Iterable[str] = ()) -> None:
        """The ground truth: no orphaned client on ``name`` apart from ``except_names`` (which must be orphans)."""
        allowed = set(except_names)
        orphans = set(self.truth()["managers"][name]["orphaned_clients"])
        assert orphans - allowed == set(), f"orphaned clients the spec protected: {sorted(orphans - allowed)}"


def in_sync(results: list[TickResult]) -> bool:
    return all(r.phase_after.value == "in_sync" for r in results)


def open_rig_store(directory: Path) -> Store:
    return open_store(f"sqlite:///{directory / 'state.db'}")


async def cli(*args: str, env: dict[str, str] | None = None, within: float = 60) -> tuple[int, str, str]:
    """Run ``sepm-reconciler ARGS`` as a real subprocess (without blocking the simulator sharing this loop)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "reconciler",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    out, err = await asyncio.wait_for(proc.communicate(), within)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()
