"""The high-availability rig: the daemon rig of ``tests/daemon/kit.py`` (a real simulator, real specs, real hooks
that leave markers) with its state on a real PostgreSQL database, two or more ``sepm-reconciler run`` processes on
it, and the checks every failover run must pass.

Timings are shortened so that a run fits in a test: a 3 s lease (renewed every second), hooks that time out after
8 s, an effect grace of 2 s and a retry base of 1 s. Everything else waits on what can be observed — ``/readyz``,
events in the store, hook markers, the simulator's ground truth — with generous bounds.
"""

from __future__ import annotations

import contextlib
import itertools
import statistics
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx

from reconciler.cli._demo_lab import Lab, ManagerPlan, write_specs
from reconciler.core.events import Event, EventKind
from reconciler.errors import StateError
from reconciler.store import Store, open_store
from tests.daemon.kit import COUNTED, PLANS, POLICY, DaemonProcess, Rig, rig, wait_until
from tests.store.pgcluster import Cluster

# No client is away: a failover run spans days of the managers' clock, and a laptop back after the swap would be
# orphaned *knowingly* (listed at risk) — here any orphaned client is a failure.
HA_PLANS: tuple[ManagerPlan, ...] = (
    *(replace(plan, offline_share=0.0) for plan in PLANS),
    ManagerPlan("sepm-north", "Site North", 80, offline_share=0.0),
)
HOOK_TIMEOUT = "8s"
HA_ARGS = ("--effect-grace", "2s", "--retry-base", "1s", "--lease-ttl", "3s")
HOLDING = "debug: holding before starting an action"


@dataclass
class HaRig:
    world: Rig
    pg: Cluster
    gate: Path
    names: list[str]
    target: Lab  # its ``new`` certificates are the ones the specs declare now
    serial: int = 0
    takeovers: list[float] = field(default_factory=list)
    _reader: Store | None = None

    def rotate_back(self) -> None:
        """Declare each manager's previous certificate again: another rollout, back to where the last one began."""
        lab = self.world.lab
        self.target = replace(lab, new=self.target.current, current=self.target.new)
        write_specs(
            self.target,
            self.world.sim.ports_info(),
            directory=self.world.specs,
            policy={**POLICY},
            hook_prefix=(sys.executable, str(COUNTED)),
            only=self.names,
        )
        _shorten_hook_timeouts(self.world.specs)

    @property
    def url(self) -> str:
        return self.world.state_url

    def start(self, name: str | None = None) -> DaemonProcess:
        self.serial += 1
        return self.world.start_daemon(
            *HA_ARGS, "--debug-hold-before-action", str(self.gate), name=name or f"d{self.serial}"
        )

    def set_gate(self, content: str | None) -> None:
        """Which hook actions hold before they start (lines ``SERVER STEP``); None: none. Replaced atomically, so
        a daemon never reads it half written."""
        if content is None:
            self.gate.unlink(missing_ok=True)
            return
        scratch = self.gate.with_name(self.gate.name + ".new")
        scratch.write_text(content, encoding="utf-8")
        scratch.replace(self.gate)

    def alive(self) -> list[DaemonProcess]:
        return [d for d in self.world.daemons if d.proc.poll() is None]

    def leader(self) -> DaemonProcess | None:
        for daemon in self.alive():
            with contextlib.suppress(httpx.HTTPError):
                if daemon.get("/readyz", timeout=3).status_code == 200:
                    return daemon
        return None

    def wait_leader(self, timeout: float = 60, exclude: DaemonProcess | None = None) -> DaemonProcess:
        def found() -> DaemonProcess | None:
            leader = self.leader()
            return leader if leader is not None and leader is not exclude else None

        leader: DaemonProcess = wait_until(found, timeout, "a daemon to lead", interval=0.05)
        return leader

    def kill(self, leader: DaemonProcess) -> float:
        """SIGKILL ``leader``; the moment it was sent (monotonic)."""
        started = time.monotonic()
        leader.proc.kill()
        leader.proc.wait(timeout=10)
        return started

    def successor(self, killed: DaemonProcess, started: float) -> DaemonProcess:
        """Wait for another daemon to lead; record the takeover time (from the kill)."""
        successor = self.wait_leader(30, exclude=killed)
        self.takeovers.append(time.monotonic() - started)
        return successor

    def reader(self) -> Store:
        """One read-only connection for the test's own look-ups (it reconnects after a database restart)."""
        if self._reader is None:
            self._reader = open_store(self.url, create=False, readonly=True)
        return self._reader

    def events(self) -> list[Event]:
        return self.reader().events()

    def last_event_id(self) -> int:
        latest = self.reader().events(limit=1)
        return latest[-1].id or 0 if latest else 0

    def phases(self) -> dict[str, str]:
        return {r.server: r.phase.value for r in self.reader().all()}

    def converged(self) -> bool:
        try:
            phases = self.phases()
        except StateError:  # the database restarting: the first look after it fails, the next one reconnects
            return False
        if not all(phases.get(n) == "in_sync" for n in self.names):
            return False
        truth = self.world.ground_truth()["managers"]
        return all(set(truth[n]["served"].values()) == {self.target.new[n].fingerprint} for n in self.names)

    def wait_converged(self, timeout: float = 300) -> None:
        wait_until(self.converged, timeout, f"{', '.join(self.names)} rotated and in sync", interval=0.5)

    def holding(self, daemon: DaemonProcess) -> list[dict[str, Any]]:
        return [line for line in daemon.logs() if line.get("message") == HOLDING]

    def check(self) -> None:
        """What every failover run must show: no client orphaned, no hook run twice for one attempt, every hook run
        recorded before it started, an event log without a gap."""
        truth = self.world.ground_truth()["managers"]
        for name in self.names:
            assert truth[name]["orphaned_clients"] == [], (name, truth[name]["orphaned_clients"][:5])
        starts = [r for r in self.world.hook_runs() if r["event"] == "start"]
        runs = Counter((r["server"], r["step"], r["rollout"], r["attempt"]) for r in starts)
        assert all(n == 1 for n in runs.values()), f"a hook ran twice for one attempt: {runs}"
        events = self.events()
        assert [e.id for e in events] == list(range(1, len(events) + 1)), "the event log has a gap"
        recorded = {
            (e.server, str(e.details.get("step")), e.rollout_id, str(e.details.get("attempt")))
            for e in events
            if e.kind is EventKind.ATTEMPT_STARTED
        }
        unrecorded = [key for key in runs if key not in recorded]
        assert not unrecorded, f"hooks ran without their attempt recorded first: {unrecorded}"
        for name in self.names:
            moves = [e for e in events if e.server == name and e.kind is EventKind.TRANSITION]
            for before, after in itertools.pairwise(moves):
                assert before.to_phase == after.from_phase, (name, before, after)

    def summary(self) -> str:
        if not self.takeovers:
            return "no takeover"
        return (
            f"{len(self.takeovers)} takeovers: median {statistics.median(self.takeovers):.2f} s, "
            f"max {max(self.takeovers):.2f} s"
        )


@contextlib.contextmanager
def ha_rig(
    directory: Path,
    lab: Lab,
    pg: Cluster,
    *,
    only: Sequence[str] | None = None,
    hook_env: dict[str, str] | None = None,
) -> Iterator[HaRig]:
    with rig(directory, lab, only=only, hook_env=hook_env) as world:
        world.state_url = pg.create_database()
        _shorten_hook_timeouts(world.specs)
        names = sorted(only or [p.name for p in lab.plans])
        ha = HaRig(world, pg, directory / "hold-before-action", names, world.lab)
        try:
            yield ha
        finally:
            if ha._reader is not None:
                ha._reader.close()


def _shorten_hook_timeouts(specs: Path) -> None:
    for spec in specs.glob("*.yaml"):
        text = spec.read_text(encoding="utf-8")
        text = text.replace("timeout: 2m", f"timeout: {HOOK_TIMEOUT}").replace(
            "maxAttempts: 3", "maxAttempts: 5"
        )
        spec.write_text(text, encoding="utf-8")
