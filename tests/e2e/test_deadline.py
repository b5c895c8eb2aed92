"""``--timeout``: ``plan`` and ``reconcile`` end by their deadline, whatever a manager does — a manager that takes two
minutes for each answer (never long enough to trip a request timeout) is cut off and named, the others are handled —
and a certificate hook already running is never cut short by it."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

from reconciler.core.actions import ActionKind
from reconciler.core.procedure import Phase
from reconciler.core.record import AttemptOutcome
from reconciler.engine import SystemClock
from tests.e2e.conftest import RigFactory
from tests.e2e.kit import Pki, Rig, cli, fleet, manager, write_spec

pytestmark = pytest.mark.slow

DEADLINE = (
    "15s"  # what the responsive manager needs is a second or two; the slow one needs two minutes per answer
)


async def _slow_east_and_responsive_west(rig: Rig, pki: Pki) -> None:
    east = write_spec(rig.specs_dir, rig.sim, "sepm-east", pki, pki.leaf("east-new"))
    document = json.loads(east.read_text())
    document["spec"]["server"]["timeout"] = (
        "10m"  # no request timeout is ever reached: only the deadline ends it
    )
    east.write_text(json.dumps(document))
    write_spec(rig.specs_dir, rig.sim, "sepm-west", pki, pki.leaf("west-new"))
    await rig.admin("sepm-east").post("faults", {"latency_ms": 120_000})


@pytest.mark.parametrize("command", ["plan", "reconcile"])
async def test_a_manager_that_never_finishes_answering_is_cut_off_at_the_deadline_and_the_others_are_handled(
    make_rig: RigFactory, pki: Pki, command: str
) -> None:
    both = fleet(
        manager("sepm-east", "Site East", pki.leaf("east-old"), clients=30),
        manager("sepm-west", "Site West", pki.leaf("west-old"), clients=30),
    )
    async with make_rig(both) as rig:
        await _slow_east_and_responsive_west(rig, pki)
        args = ["--specs", str(rig.specs_dir), "--state", rig.state_url, "--output", "json"]

        code, out, err = await cli(command, *args, "--timeout", DEADLINE, within=100)

        assert code == 1, err
        document = json.loads(out)
        assert document["timed_out"] == ["sepm-east"]
        assert [s["name"] for s in document["servers"]] == ["sepm-west"]
        assert document["servers"][0]["error"] is None
        assert f"error: {command} did not finish within 15 s (--timeout): sepm-east cut off." in err
        assert "Traceback" not in err
        if command == "plan":
            assert document["exit_code"] == 1
        else:
            assert rig.record("sepm-west").phase is not Phase.NEW


async def test_the_default_deadline_is_five_minutes_and_is_documented_in_the_help() -> None:
    for command in ("plan", "reconcile"):
        code, out, _ = await cli(command, "--help")
        assert code == 0
        flat = " ".join(out.split())  # the help wraps wherever the terminal's width puts it
        assert "--timeout DURATION" in flat and "default: 5m]" in flat


async def test_a_zero_deadline_is_a_usage_error() -> None:
    code, _, err = await cli("plan", "--timeout", "0s")
    assert code == 64 and "must be longer than 0s" in err


async def test_a_certificate_hook_running_at_the_deadline_is_never_cut_short(
    make_rig: RigFactory, pki: Pki, tmp_path: Path
) -> None:
    old, new = pki.leaf("east-old"), pki.leaf("east-new")
    async with make_rig(fleet(manager("sepm-east", "Site East", old, offline_share=0.0))) as rig:
        write_spec(rig.specs_dir, rig.sim, "sepm-east", pki, new)
        rig.start_engine(clock=SystemClock())
        for _ in range(30):  # in-process up to the certificate swap
            (result,) = await rig.tick()
            if result.phase_after is Phase.UPDATING_CERTIFICATE:
                break
            rig.advance_simulator(timedelta(hours=4))
        assert rig.record("sepm-east").phase is Phase.UPDATING_CERTIFICATE

        ready, go = tmp_path / "hook-ready", tmp_path / "hook-go"
        env = {**os.environ, "E2E_READY_FILE": str(ready), "E2E_GO_FILE": str(go)}
        started = time.monotonic()
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "reconciler", "reconcile", "--specs", str(rig.specs_dir), "--state",
            rig.state_url, "--timeout", "1s", "--output", "json",
            env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            async with asyncio.timeout(60):
                while not ready.exists():  # noqa: ASYNC110 - the hook (another process) creates it
                    await asyncio.sleep(0.05)
                # the hook holds until told to go: let the 1 s deadline pass (with room) while it runs
                await asyncio.sleep(max(0.0, started + 3 - time.monotonic()))
            assert proc.returncode is None, "reconcile ended while its hook was still running"
            go.touch()
            out, err = await asyncio.wait_for(proc.communicate(), 60)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()

        assert proc.returncode == 0, err.decode()
        document = json.loads(out)
        assert document["timed_out"] == []
        (server,) = document["servers"]
        assert server["action"]["kind"] == "update_certificate"
        assert server["action"]["outcome"]["succeeded"] is True
        (attempt,) = [a for a in rig.record("sepm-east").attempts if a.kind is ActionKind.UPDATE_CERTIFICATE]
        assert attempt.outcome is AttemptOutcome.SUCCEEDED
        assert set(rig.truth()["managers"]["sepm-east"]["served"].values()) == {new.fingerprint}
