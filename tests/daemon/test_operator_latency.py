"""Operator commands take effect within seconds, whatever the waiting interval: the daemon reads the event log
every 2 s and ticks the server an approval (suspension, resume, abort) names at once.

Measured in the product's own timestamps — the approval's event (written by ``sepm-reconciler approve``) and the
move it unblocks (written by the daemon) — never against a deadline of the test: the test waits (generously) for
the move, then checks the promise, 10 s, on those two times.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from reconciler.cli._demo_lab import Lab
from reconciler.core.codes import Code
from reconciler.core.events import EventKind
from reconciler.core.phase import Phase
from reconciler.store import open_store
from tests.daemon.kit import FAST, rig, wait_until

pytestmark = pytest.mark.slow

PROMISE = timedelta(seconds=10)
CLI = (sys.executable, "-m", "reconciler")


def _default_waiting_interval(argv: list[str]) -> list[str]:
    """The rig's fast intervals to get a rollout to step 3 quickly, but the *default* waiting interval (5 min),
    jitter (5 s) and spec watch (5 s): the intervals an approval would otherwise wait out."""
    out = list(argv)
    for option, value in (("--waiting-interval", "5m"), ("--jitter", "5s"), ("--watch-interval", "5s")):
        out[out.index(option) + 1] = value
    return out


def test_an_approval_lands_within_10_seconds_with_the_default_waiting_interval(
    tmp_path: Path, base_lab: Lab
) -> None:
    with rig(tmp_path, base_lab, only=["sepm-dmz"]) as world:
        defaults = world.specs / "defaults.yaml"
        document = yaml.safe_load(defaults.read_text(encoding="utf-8"))
        document["spec"]["rollout"]["approvals"] = [4]
        defaults.write_text(yaml.safe_dump(document), encoding="utf-8")
        daemon = world.start_daemon(*_default_waiting_interval(FAST))
        daemon.wait_ready()

        def held() -> bool:
            [server] = daemon.status()["servers"]
            return server["code"] == Code.APPROVAL_MISSING.value

        wait_until(held, 120, "sepm-dmz to wait for the approval of step 4", interval=0.5)
        approve = subprocess.run(
            [
                *CLI,
                "approve",
                "sepm-dmz",
                "--step",
                "4",
                "--reason",
                "CAB-7",
                "--by",
                "alice",
                "--state",
                world.state_url,
            ],
            capture_output=True,
            text=True,
            check=False,
            env=world.env,
        )
        assert approve.returncode == 0, approve.stderr
        assert "the daemon holding the lease notices it within seconds" in approve.stdout

        def moved() -> bool:
            return daemon.phases().get("sepm-dmz") not in (None, Phase.WAITING_UNVERIFIED.value)

        wait_until(moved, 120, "the approval to take effect", interval=0.5)
        with open_store(world.state_url, create=False, readonly=True) as store:
            events = store.events("sepm-dmz")
        approval = next(e for e in events if e.kind is EventKind.APPROVAL)
        move = next(
            e
            for e in events
            if e.kind is EventKind.TRANSITION
            and e.from_phase is Phase.WAITING_UNVERIFIED
            and (e.id or 0) > (approval.id or 0)
        )
        assert move.to_phase is Phase.UPDATING_CERTIFICATE
        assert move.at - approval.at <= PROMISE, (approval.at, move.at)
        lines = [line for line in daemon.logs() if "checking it now" in str(line.get("message", ""))]
        assert lines and lines[0]["server"] == "sepm-dmz"
