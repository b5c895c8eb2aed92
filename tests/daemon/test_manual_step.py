"""A manual step (1, 2a, 4a, 5b or 7 on a real SEPM: the console) is announced once, with the console instructions and its
code, through the notifications — then the daemon waits until it observes the step done."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from reconciler.cli._demo_lab import HTTP_LIST, Lab
from reconciler.core.phase import Phase
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
        assert body["title"].startswith("sepm-dmz: step 4a is yours to do by hand: install certificate")
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


def test_a_manual_list_sub_step_is_notified_as_2a_and_an_approve_confirms_it(
    tmp_path: Path, base_lab: Lab, receiver: Receiver
) -> None:
    """Step 2a by hand on a manager whose API does not show lists (the strict simulator): the notification names
    the sub-step and says how to confirm it; the operator assigns the list in the 'console' and confirms with
    ``approve --step 2``; the daemon goes on."""
    with rig(tmp_path, base_lab, only=["sepm-dmz"]) as world:
        spec_file = world.specs / "sepm-dmz.yaml"
        document = yaml.safe_load(spec_file.read_text(encoding="utf-8"))
        document["spec"]["rollout"]["actions"]["switchToHttpList"] = "manual"
        spec_file.write_text(yaml.safe_dump(document), encoding="utf-8")
        daemon = world.start_daemon(env={"SEPM_RECONCILER_WEBHOOK_URL": receiver.url + "/hook"})
        daemon.wait_ready()
        wait_until(lambda: "manual_step_due" in receiver.topics(), 120, "the manual step's notification")
        [body] = [b for _, b in receiver.posts if "manual_step_due" in b["blocks"][-1]["elements"][0]["text"]]
        assert body["title"].startswith(
            "sepm-dmz: step 2a is yours to do by hand: assign the management server list"
        )
        assert HTTP_LIST in body["text"] and "Management Server Lists" in body["text"]
        assert "sepm-reconciler approve sepm-dmz --step 2" in body["text"]  # the manager does not show lists
        assert daemon.phases()["sepm-dmz"] == Phase.SWITCHING_TO_HTTP_LIST.value

        assigned = world.admin("sepm-dmz", "POST", "/lists/assign", {"list": HTTP_LIST, "groups": None})
        assert assigned.status_code == 200, assigned.text
        approve = subprocess.run(
            [sys.executable, "-m", "reconciler", "approve", "sepm-dmz", "--step", "2", "--reason", "assigned",
             "--by", "bob", "--state", world.state_url],
            capture_output=True, text=True, check=False, env=world.env,
        )  # fmt: skip
        assert approve.returncode == 0, approve.stderr
        assert "confirmed" in approve.stdout
        wait_until(
            lambda: daemon.phases().get("sepm-dmz") != Phase.SWITCHING_TO_HTTP_LIST.value,
            120,
            "step 2a to complete once confirmed",
        )
        assert daemon.phases()["sepm-dmz"] in (
            Phase.DISABLING_VERIFICATION.value,
            Phase.WAITING_UNVERIFIED.value,
        )
        assert receiver.topics().count("manual_step_due") == 1
        assert daemon.stop()[0] == 0
