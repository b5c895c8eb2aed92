"""Two daemons as separate processes on one PostgreSQL database: one leads, the other stands by, and losing the
leader at any point of a rollout — SIGKILL (mid-hook, between the save of an attempt and its action, after any
event), SIGSTOP past its lease, the database going away — never runs a hook twice for one attempt, never acts on a
decision that was not saved, never leaves a gap in the event log, and the rollout converges.

Each run is checked against the simulator's ground truth (served certificates, orphaned clients), the hook markers
and the event log (:meth:`tests.ha.kit.HaRig.check`). Takeover times are printed (``pytest -s``).
"""

from __future__ import annotations

import signal
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from reconciler.cli._demo_lab import Lab
from reconciler.core.events import EventKind
from tests.daemon.kit import DaemonProcess, wait_until
from tests.ha.kit import HaRig, ha_rig
from tests.store.pgcluster import Cluster

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

KILLS = 24
DWELL = 2.5
MAX_ROLLOUTS = 4
SLOW_HOOKS = {"SEPM_TEST_SLOW_STEP": "4", "SEPM_TEST_SLOW_SECONDS": "2"}


def _open_hook(ha: HaRig) -> dict[str, Any] | None:
    runs = ha.world.hook_runs()
    ended = {(r["server"], r["step"], r["attempt"], r["pid"]) for r in runs if r["event"] == "end"}
    running = [
        r
        for r in runs
        if r["event"] == "start" and (r["server"], r["step"], r["attempt"], r["pid"]) not in ended
    ]
    return running[-1] if running else None


def _next_point(
    ha: HaRig, leader: DaemonProcess, *, after: int, holds: int, hooks: bool, led_since: float
) -> str | None:
    """Wait for the first point the leader reaches: holding before an action (the attempt saved, the hook not
    started), a hook running, a new event in the store, or — while nothing happens (a soak) — having led for
    :data:`DWELL` seconds. None once the rollout converged."""

    def point() -> str | None:
        if len(ha.holding(leader)) > holds:
            return "hold"
        if hooks and _open_hook(ha) is not None:
            return "hook"
        # an event point: a new event that is not an attempt just recorded (killing right there is a "hold" point,
        # made on purpose and once per action above: by chance, it would exhaust the action's attempts)
        if ha.last_event_id() > after and ha.events()[-1].kind is not EventKind.ATTEMPT_STARTED:
            return "event"
        if ha.converged():
            return "converged"
        return "between events" if time.monotonic() - led_since >= DWELL else None

    try:
        found: str = wait_until(point, 180, "the leader to reach a kill point", 0.05)
    except AssertionError as exc:
        tail = [f"#{e.id} {e.server} {e.kind.value}: {e.reason}" for e in ha.events()[-8:]]
        raise AssertionError(f"{exc}; phases {ha.phases()}; last events {tail}") from exc
    return None if found == "converged" else found


def _held_attempt(ha: HaRig, line: dict[str, Any]) -> dict[str, Any]:
    """The holding line with the rollout of the attempt it held (which must be recorded: it was saved first)."""
    started = [
        e
        for e in ha.events()
        if e.server == line["server"]
        and e.kind is EventKind.ATTEMPT_STARTED
        and e.details.get("step") == line["step"]
        and e.details.get("attempt") == line["attempt"]
    ]
    assert started, f"held before an action whose attempt is not recorded: {line}"
    return {**line, "rollout": started[-1].rollout_id}


def test_sigkill_of_the_leader_at_24_points_of_rollouts_loses_nothing_and_duplicates_nothing(
    tmp_path: Any, ha_lab: Lab, pg: Cluster
) -> None:
    with ha_rig(tmp_path, ha_lab, pg, hook_env=SLOW_HOOKS) as ha:
        # rollouts back and forth (the new certificate, then the original again…) until 24 kills; these actions
        # hold between the save of their attempt and their hook, once each: the leader is killed there
        to_hold = ["sepm-north 4", "sepm-dmz 4", "sepm-east 1", "sepm-west 7"]
        ha.set_gate("\n".join(to_hold))
        ha.start("first")
        leader = ha.wait_leader()
        led_since = time.monotonic()
        ha.start("second")
        kills: list[str] = []
        held: list[dict[str, Any]] = []
        rollouts = 1
        while len(kills) < KILLS:
            # a leader is killed at its first hold: any holding line in its log means it holds now
            point = _next_point(
                ha,
                leader,
                after=ha.last_event_id(),
                holds=0,
                hooks=kills.count("hook") < 3,
                led_since=led_since,
            )
            if point is None:
                if rollouts == MAX_ROLLOUTS:
                    break
                ha.rotate_back()
                rollouts += 1
                continue
            killed = leader
            started = ha.kill(killed)
            # whatever the point was taken for, a daemon killed while holding was killed between save and action
            for line in ha.holding(killed):
                point = "hold"
                held.append(_held_attempt(ha, line))
                to_hold = [h for h in to_hold if h != f"{line['server']} {line['step']}"]
            ha.set_gate("\n".join(to_hold) or None)
            kills.append(point)
            leader = ha.successor(killed, started)
            led_since = time.monotonic()
            ha.start()
        ha.wait_converged()
        print(
            f"\nSIGKILL points: {len(kills)} over {rollouts} rollout(s) ({', '.join(kills)}); {ha.summary()}"
        )
        assert len(kills) >= 20, f"the rollouts converged after {len(kills)} kills only"
        assert kills.count("hold") >= 2 and kills.count("hook") >= 1, kills
        ha.check()
        # an attempt killed between its save and its action never ran: the next leader judged it and retried
        runs = {
            (r["server"], r["step"], r["rollout"], r["attempt"])
            for r in ha.world.hook_runs()
            if r["event"] == "start"
        }
        for line in held:
            assert (line["server"], str(line["step"]), line["rollout"], str(line["attempt"])) not in runs, (
                line
            )
        assert (
            max(ha.takeovers) < 2 * 3 + 5
        )  # within 2 × TTL of the last renewal, plus polling and a loaded machine
        for daemon in ha.alive():
            assert daemon.stop()[0] == 0


def test_a_leader_stopped_past_its_lease_neither_writes_nor_acts_when_it_wakes(
    tmp_path: Any, ha_lab: Lab, pg: Cluster
) -> None:
    with ha_rig(tmp_path, ha_lab, pg, only=["sepm-dmz"]) as ha:
        first = ha.start("first")
        assert ha.wait_leader() is first
        second = ha.start("second")
        ha.gate.touch()
        wait_until(lambda: ha.holding(first), 60, "the leader to hold before its step-4 hook", 0.05)
        line = ha.holding(first)[-1]
        first.proc.send_signal(signal.SIGSTOP)  # paused between the save of its attempt and the hook
        stopped = time.monotonic()
        ha.gate.unlink()
        assert ha.wait_leader(30, exclude=first) is second
        takeover = time.monotonic() - stopped
        # the new leader judges the paused leader's attempt lost (after its timeout) and runs the next one
        nxt = str(int(line["attempt"]) + 1)
        wait_until(
            lambda: any(
                r["event"] == "end" and r["step"] == str(line["step"]) and r["attempt"] == nxt
                for r in ha.world.hook_runs()
            ),
            90,
            f"attempt {nxt} of the step-{line['step']} hook to run under the new leader",
            0.2,
        )
        before = ha.last_event_id()
        woke = datetime.now(UTC).isoformat(timespec="milliseconds")
        first.proc.send_signal(signal.SIGCONT)
        reason = wait_until(
            lambda: (
                (r := first.get("/readyz")).status_code == 503
                and "standby" in r.json()["reason"]
                and r.json()
            ),
            30,
            "the woken daemon to stand by",
        )["reason"]
        assert "lost the lease" in reason or "holds the lease" in reason
        ha.wait_converged()
        ha.check()
        runs = [r for r in ha.world.hook_runs() if r["event"] == "start"]
        assert (str(line["step"]), str(line["attempt"])) not in {(r["step"], r["attempt"]) for r in runs}
        logs = first.log_text()
        assert "not started" in logs and ("lease expired" in logs or "no longer holds the lease" in logs)
        # after it woke, it moved nothing and ran nothing: no decision of its was saved, no action started
        after = [line for line in first.logs() if line.get("time", "") >= woke]
        assert not [line for line in after if "→" in line.get("message", "")], after
        assert not [line for line in after if " — attempt " in line.get("message", "")], after
        assert ha.last_event_id() >= before
        print(f"\nSIGSTOP takeover: {takeover:.2f} s")
        for daemon in ha.alive():
            assert daemon.stop()[0] == 0


def test_the_leader_stops_acting_while_the_database_is_down_and_resumes_when_it_is_back(
    tmp_path: Any, ha_lab: Lab, pg: Cluster
) -> None:
    with ha_rig(tmp_path, ha_lab, pg, only=["sepm-dmz", "sepm-east", "sepm-west"]) as ha:
        first = ha.start("first")
        leader = ha.wait_leader()
        ha.start("second")
        wait_until(lambda: ha.last_event_id() >= 8, 90, "the rollout under way", 0.1)
        pg.stop("immediate")
        down = time.monotonic()
        reason = wait_until(
            lambda: (r := leader.get("/readyz")).status_code == 503 and r.json()["reason"],
            20,
            "the leader to turn not ready",
        )
        assert reason.startswith("the state store is unusable: ") and "***" not in reason
        assert leader.get("/healthz").status_code == 200  # a database outage is not cured by a restart
        starts_while_down = len([r for r in ha.world.hook_runs() if r["event"] == "start"])
        # keep it down past the lease (on the leader's own clock): nobody may act meanwhile
        wait_until(
            lambda: any(
                "the lease could not be renewed before it expired" in line.get("message", "")
                or "standby" in line.get("message", "")
                for line in leader.logs()
            ),
            30,
            "the leader to give up leading",
        )
        assert (
            len([r for r in ha.world.hook_runs() if r["event"] == "start" and r["pid"]]) == starts_while_down
        )
        pg.start()
        back = ha.wait_leader(60)
        print(f"\ndatabase down for {time.monotonic() - down:.1f} s; leading again: {back.url}")
        ha.wait_converged()
        ha.check()
        assert any("the state store is unusable" in line.get("message", "") for line in first.logs())
        for daemon in ha.alive():
            assert daemon.stop()[0] == 0
