"""The chaos rig: the daemon rig of ``tests/daemon/kit.py`` (a real simulator running fast, real specs, real
``sepm-reconciler run`` processes on one SQLite state, real hooks that leave markers) and the checks every chaos run
must pass against the simulator's ground truth.

Every wait is on something observable (markers, the store, ``/readyz``, the ground truth) with generous bounds: the
suite must hold on a loaded 2-core machine.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx

from reconciler.cli._demo_lab import HTTP_LIST, ORIGINAL_LIST, Lab, ManagerPlan, write_specs
from reconciler.core.codes import Code
from reconciler.errors import StateError
from reconciler.store import Store, open_store
from tests.daemon.kit import COUNTED, PLANS, POLICY, DaemonProcess, Rig, rig, wait_until

# No client away: a run spans days of the managers' clock; any orphaned client is a failure.
CHAOS_PLANS: tuple[ManagerPlan, ...] = tuple(replace(plan, offline_share=0.0) for plan in PLANS)
HOOK_TIMEOUT = "8s"
ARGS = ("--effect-grace", "2s", "--retry-base", "1s")
SLOW_HOOKS = {"SEPM_TEST_SLOW_STEP": "4", "SEPM_TEST_SLOW_SECONDS": "2"}


def _shorten_hook_timeouts(specs: Path) -> None:
    for spec in specs.glob("*.yaml"):
        text = spec.read_text(encoding="utf-8")
        text = text.replace("timeout: 2m", f"timeout: {HOOK_TIMEOUT}").replace(
            "maxAttempts: 3", "maxAttempts: 8"
        )
        spec.write_text(text, encoding="utf-8")


def _alive(pid: int) -> bool:
    """``pid`` runs (a zombie nobody reaped yet does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(errors="replace")
    except OSError:
        return False
    return stat[stat.rfind(")") + 2 :].split()[0] != "Z"


@dataclass
class ChaosRig:
    world: Rig
    names: list[str]
    target: Lab  # its ``new`` certificates are the ones the specs declare now
    serial: int = 0
    _reader: Store | None = None
    notes: list[str] = field(default_factory=list)

    # --- daemons ---------------------------------------------------------------------------------------------------

    def start(self) -> DaemonProcess:
        self.serial += 1
        return self.world.start_daemon(*ARGS, name=f"d{self.serial}")

    def alive(self) -> list[DaemonProcess]:
        return [d for d in self.world.daemons if d.proc.poll() is None]

    def leader(self) -> DaemonProcess | None:
        for daemon in self.alive():
            with contextlib.suppress(httpx.HTTPError):
                if daemon.get("/readyz", timeout=3).status_code == 200:
                    return daemon
        return None

    def wait_leader(self, timeout: float = 90) -> DaemonProcess:
        leader: DaemonProcess = wait_until(self.leader, timeout, "a daemon to lead", interval=0.1)
        return leader

    def kill(self, daemon: DaemonProcess) -> None:
        daemon.proc.kill()
        daemon.proc.wait(timeout=30)

    def kill_all(self) -> None:
        for daemon in self.alive():
            self.kill(daemon)

    # --- what is observable ----------------------------------------------------------------------------------------

    def reader(self) -> Store:
        if self._reader is None:
            self._reader = open_store(self.world.state_url, create=False, readonly=True)
        return self._reader

    def close_reader(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def phases(self) -> dict[str, str]:
        try:
            return {r.server: r.phase.value for r in self.reader().all()}
        except StateError:
            self.close_reader()
            return {}

    def event_count(self) -> int:
        try:
            latest = self.reader().events(limit=1)
        except StateError:
            self.close_reader()
            return 0
        return latest[-1].id or 0 if latest else 0

    def running_hooks(self) -> list[dict[str, Any]]:
        """Hook runs started and neither ended nor dead."""
        runs = self.world.hook_runs()
        ended = {(r["server"], r["step"], r["attempt"], r["pid"]) for r in runs if r["event"] == "end"}
        return [
            r
            for r in runs
            if r["event"] == "start"
            and (r["server"], r["step"], r["attempt"], r["pid"]) not in ended
            and _alive(int(r["pid"]))
        ]

    def power_loss(self, run: dict[str, Any]) -> None:
        """SIGKILL the whole process group of a running hook (its watchdog included), as a power loss would."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(os.getpgid(int(run["pid"])), signal.SIGKILL)

    def wait_no_hook(self, timeout: float = 120) -> None:
        wait_until(
            lambda: not self.running_hooks(), timeout, "every hook to end (their watchdogs hold the timeouts)"
        )

    def lose_state(self) -> None:
        """The state is gone (deleted), with no daemon running."""
        self.close_reader()
        state = Path(self.world.state_url.removeprefix("sqlite:///"))
        for suffix in ("", "-wal", "-shm"):
            Path(f"{state}{suffix}").unlink(missing_ok=True)

    def end_state(self) -> list[str]:
        """What keeps the fleet from the end state, by the simulator's ground truth (nothing once converged)."""
        truth = self.world.ground_truth()["managers"]
        problems = []
        for name in self.names:
            t = truth[name]
            if set(t["served"].values()) != {self.target.new[name].fingerprint}:
                problems.append(f"{name} serves {sorted(set(t['served'].values()))}")
            if not all(g["secure_communications"] for g in t["groups"]):
                problems.append(f"{name}: verification off")
            declared = {p.name: p for p in CHAOS_PLANS}[name].partners
            if set(declared) - set(t["replication"]["partners"]):
                problems.append(f"{name}: replication broken")
        return problems

    def converged(self) -> bool:
        self.answer_list_stalls()  # the operator on call: a list stall is answered as its remedy says
        phases = self.phases()
        return all(phases.get(n) == "in_sync" for n in self.names) and not self.end_state()

    def wait_converged(self, timeout: float = 300) -> None:
        wait_until(
            self.converged,
            timeout,
            "every server rotated, in sync and at the end state",
            interval=0.5,
        )

    def rotate_back(self) -> None:
        """Declare each manager's previous certificate again: another rollout."""
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

    def sim_admin(self, manager: str, path: str, body: dict[str, Any]) -> None:
        """``POST /_sim/PATH`` of ``manager``, not verifying its certificate (it changes during the run, and
        another CA's may be served in between: the admin API is the simulator's, not under test)."""
        info = self.world.sim.ports_info()["managers"][manager]
        base = str(info["api_url"]).split("/sepm/api/v1")[0]
        response = httpx.post(
            f"{base}/_sim/{path}",
            json=body,
            headers={"Authorization": f"Bearer {info['admin_token']}"},
            verify=False,  # noqa: S501 - the simulator's own admin API; its certificate is what rotates
            timeout=30,
        )
        assert response.status_code == 200, response.text

    def faults(self, manager: str, body: dict[str, Any]) -> None:
        self.sim_admin(manager, "faults", body)

    def answer_list_stalls(self) -> list[str]:
        """Do what the remedy of a stalled list sub-step says, as the operator would, and resume.

        The strict manager does not show a group's list, so 2a (5b) is done when the hook exited 0 and the groups'
        policy serials moved. A state lost after 2a switched the list leaves the groups on the HTTP list already:
        assigning it again saves no policy, the serials never move, and the sub-step stalls — safely, since nothing
        observable says the groups are on the list. The remedy: "if they already use <list>, make a policy change
        on those groups so their serial moves; then run resume". Returns the servers answered."""
        answered = []
        try:
            stalled = [r for r in self.reader().all() if r.phase.value == "stalled"]
        except StateError:
            self.close_reader()
            return []
        for record in stalled:
            if record.code not in (Code.SWITCH_LIST_FAILED.value, Code.RESTORE_LIST_FAILED.value):
                continue
            wanted, other = (
                (HTTP_LIST, ORIGINAL_LIST)
                if record.code == Code.SWITCH_LIST_FAILED.value
                else (ORIGINAL_LIST, HTTP_LIST)
            )
            for name in (
                other,
                wanted,
            ):  # two console saves: the policy serial moves, the list ends as wanted
                self.sim_admin(record.server, "lists/assign", {"list": name, "groups": None})
            argv = [
                sys.executable,
                "-m",
                "reconciler",
                "resume",
                record.server,
                "--state",
                self.world.state_url,
            ]
            done = subprocess.run(argv, env=self.world.env, capture_output=True, timeout=120, check=False)
            # the daemon may have seen the serial move and left the stall on its own before the resume
            settled = b"nothing to resume" in done.stderr
            assert done.returncode == 0 or settled, done.stderr.decode()[-2000:]
            answered.append(record.server)
        self.notes += [f"{name}: list stall answered by the operator" for name in answered]
        return answered

    def check(self) -> None:
        """What every chaos run must show: no client orphaned, no hook run twice for one attempt, never two runs of
        one step at once, the end state reached."""
        truth = self.world.ground_truth()["managers"]
        for name in self.names:
            assert truth[name]["orphaned_clients"] == [], (name, truth[name]["orphaned_clients"][:5])
        runs = self.world.hook_runs()
        starts = Counter(
            (r["server"], r["step"], r["rollout"], r["attempt"]) for r in runs if r["event"] == "start"
        )
        assert all(n == 1 for n in starts.values()), f"a hook ran twice for one attempt: {starts}"
        overlaps = [r for r in runs if r["event"] == "overlap"]
        assert overlaps == [], f"two runs of one step at once: {overlaps}"
        assert self.end_state() == []


@contextlib.contextmanager
def chaos_rig(directory: Path, lab: Lab) -> Iterator[ChaosRig]:
    with rig(directory, lab, hook_env=SLOW_HOOKS) as world:
        _shorten_hook_timeouts(world.specs)
        names = sorted(p.name for p in lab.plans)
        chaos = ChaosRig(world, names, world.lab)
        try:
            yield chaos
        finally:
            chaos.close_reader()
