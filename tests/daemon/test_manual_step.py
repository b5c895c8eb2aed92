"""A manual step (1, 4 or 7 on a real SEPM: the console) is announced once, with the console instructions and its
code, through the notifications — then the daemon waits until it observes the step done."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from reconciler.cli._demo_lab import Lab
from tests.daemon.conftest import Receiver
from tests.daemon.kit import rig, wait_until

pytestmark = pytest.mark.slow


def test_a_due_manual_step_is_notified_once_with_the_console_instructions(
    tmp_path: Path, base_lab: Lab, receiver: Receiver
) -> None:
    with rig(tmp_path, base_lab, only=["sepm-dmz"]) as world:
        spec_file = world.specs / "sepm-dmz.yaml"
        document = yaml.safe_load(spec_file.read_text(encoding="utf-8"))
        document["spec"]["rollout"]["actions"]["updateCertificate"] = "manual"
        spec_file.write_text(yaml.safe_dump(document), encoding="utf-8")
        daemon = world.start_daemon(env={"SEPM_RECONCILER_WEBHOOK_URL": receiver.url + "/hook"})
        daemon.wait_ready()
        wait_until(lambda: "manual_step_due" in receiver.topics(), 120, "the manual step's notification")
        [(_, body)] = [
            (p, b) for p, b in receiver.posts if "manual_step_due" in b["blocks"][-1]["elements"][0]["text"]
        ]
        assert body["code"] == "ManualStepPending"
        assert body["title"].startswith("sepm-dmz: step 4 is yours to do by hand: install certificate")
        assert "Manage Server Certificate" in body["text"]
        status = daemon.status()["servers"][0]
        assert status["code"] == "ManualStepPending" and status["phase"] == "updating_certificate"
        count = receiver.topics().count("manual_step_due")
        ticks = daemon.status()["daemon"]["ticks"]["sepm-dmz"]["ticks"]
        wait_until(
            lambda: daemon.status()["daemon"]["ticks"]["sepm-dmz"]["ticks"] >= ticks + 3, 60, "more ticks"
        )
        assert receiver.topics().count("manual_step_due") == count == 1  # once, not at every tick
        assert daemon.stop()[0] == 0
