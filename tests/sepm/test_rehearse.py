"""``probe --rehearse``: the settings PATCH tried on one sacrificial group, measured, and undone — against the
strict simulator (a replacing PATCH) and the lenient one (a merging PATCH), then through the command, the state,
``status`` and ``report``."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.sepm import Rehearsal, rehearse
from reconciler.sepm.probe.rehearse import RehearsalRefused
from reconciler.sim.simulator import Simulator, run_in_thread
from reconciler.store import open_store
from tests.sepm.pki import Issued
from tests.sepm.simkit import GROUPS, client_for, fleet, manager

EAST = "sepm-east"
LAB = "My Company\\Lab"
NOW = datetime(2026, 12, 6, 9, tzinfo=UTC)


def lab_manager(pki: dict[str, Issued]) -> dict[str, Any]:
    """A manager with an empty group to sacrifice (its clients are in the other groups)."""
    east = manager(EAST, "Site East", pki["east"], clients=400)
    east["groups"] = [*GROUPS, {"name": LAB, "inherits": False}]
    east["clients"]["groups"] = {"My Company\\Laptops": 0.7, "My Company\\Kiosks": 0.3}
    return east


def group_truth(sim: Simulator, path: str) -> dict[str, Any]:
    return next(g for g in sim.state()["managers"][EAST]["groups"] if g["name"] == path)


async def _rehearse(sim: Simulator, pki: dict[str, Issued], group: str, *, force: bool = False) -> Rehearsal:
    async with client_for(sim, EAST, pki["ca"]) as client:
        return await rehearse(client, server=EAST, group=group, now=NOW, force=force)


async def test_on_the_strict_simulator_it_detects_the_replacing_patch_and_puts_the_group_back_byte_for_byte(
    pki: dict[str, Issued],
) -> None:
    async with Simulator(fleet(lab_manager(pki), speed=60)) as sim:  # policies saved apart get other serials
        before = group_truth(sim, LAB)
        result = await _rehearse(sim, pki, LAB)
        after = group_truth(sim, LAB)
    assert result.partial_body == "replace"
    resets = result.partial_resets or ()
    assert "configuration.general_settings.security_settings.stopped_mode" in resets
    assert "configuration.general_settings.tamper_protection.enabled" in resets
    assert result.collateral == ()  # step 2's way (the whole configuration) changed only the flag
    assert result.serial_moved is True and result.noop_moves_serial is False
    assert result.restored_bytes and result.restored_fields == () and result.safe
    assert result.summary.startswith("a partial body resets the fields it omits (replace semantics: ")
    assert "the reconciler's whole-configuration PATCH changed only the flag" in result.summary
    assert after["secure_communications"] is before["secure_communications"] is True
    assert after["policySerialNumber"] != before["policySerialNumber"]  # policies were saved meanwhile
    assert [line.split(":")[0] for line in result.evidence] == [
        f"read settings of {LAB!r} at location {result.location_id}",
        "step 2's PATCH (whole configuration, configuration.general_settings.security_settings."
        "secure_communications=False)",
        "policy serial " + result.evidence[2].split(":")[0].removeprefix("policy serial "),
        "no-op PATCH (the document as it is)",
        "partial PATCH naming only the flag",
        "original document PATCHed back",
    ]


async def test_on_a_merging_manager_the_partial_body_is_accepted_without_collateral_change(
    pki: dict[str, Issued],
) -> None:
    behaviours = {"throttle": False, "settingsPatch": "merge", "noopPatchBumpsSerial": True}
    async with Simulator(fleet(lab_manager(pki), speed=60, behaviours=behaviours)) as sim:
        result = await _rehearse(sim, pki, LAB)
    assert result.partial_body == "merge" and result.partial_resets == ()
    assert result.noop_moves_serial is True and result.safe
    assert result.summary == "partial body accepted, no collateral change; a no-op PATCH moves the serial"


@pytest.mark.parametrize(
    ("group", "message"),
    [
        ("My Company\\Laptops", "has 273 client(s) (with the groups inheriting from it)"),
        ("My Company\\Servers", "inherits its settings from its parent"),
        ("My Company\\Nowhere", "no group 'My Company\\\\Nowhere' on the manager"),
    ],
    ids=["has-clients", "inherits", "unknown"],
)
async def test_a_group_that_cannot_be_sacrificed_is_refused_before_anything_changes(
    pki: dict[str, Issued], group: str, message: str
) -> None:
    async with Simulator(fleet(lab_manager(pki))) as sim:
        before = sim.state()["managers"][EAST]["groups"]
        with pytest.raises(RehearsalRefused) as caught:
            await _rehearse(sim, pki, group)
        assert sim.state()["managers"][EAST]["groups"] == before
    assert message in str(caught.value)


async def test_force_rehearses_on_a_group_with_clients(pki: dict[str, Issued]) -> None:
    async with Simulator(fleet(lab_manager(pki), speed=60)) as sim:
        kiosks = group_truth(sim, "My Company\\Kiosks")["clients"]
        result = await _rehearse(sim, pki, "My Company\\Kiosks", force=True)
    assert result.clients == kiosks > 0 and result.restored_bytes and result.partial_body == "replace"


# --- the command, the state, status and report ------------------------------------------------------------------


@pytest.fixture
def threaded(pki: dict[str, Issued]) -> Iterator[Simulator]:
    with run_in_thread(fleet(lab_manager(pki), speed=60)) as sim:
        yield sim


def write_spec(directory: Path, sim: Simulator, ca: Issued) -> Path:
    info = sim.ports_info()["managers"][EAST]
    (directory / "specs").mkdir()
    (directory / "specs" / "admin.pw").write_text("admin-pass\n")
    document = {
        "apiVersion": "sepm-reconciler/v1",
        "kind": "ManagedServer",
        "metadata": {"name": EAST},
        "spec": {
            "server": {
                "apiUrl": info["api_url"],
                "site": "Site East",
                "ports": info["ports"],
                "caBundle": str(ca.cert_file),
                "credentials": {"username": "admin", "password": {"file": "admin.pw"}},
            },
            "certificate": {"fingerprint": "sha256:" + "0" * 64},
        },
    }
    path = directory / "specs" / "east.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path.parent


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reconciler", *args], capture_output=True, text=True, check=False, timeout=120
    )


def test_the_command_refuses_without_confirmation_then_rehearses_and_records_what_status_and_report_show(
    threaded: Simulator, pki: dict[str, Issued], tmp_path: Path
) -> None:
    specs = write_spec(tmp_path, threaded, pki["ca"])
    state = f"sqlite:///{tmp_path / 'state.db'}"
    open_store(state).close()
    base = ["probe", "--server", EAST, "--specs", str(specs)]

    refused = cli(*base, "--rehearse", "--group", LAB)
    assert refused.returncode == 64 and "it needs --confirm to change 'My Company\\\\Lab'" in refused.stderr

    done = cli(*base, "--rehearse", "--group", LAB, "--confirm", "--state", state, "--by", "alice")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"Rehearsed the settings PATCH on {EAST}, group {LAB!r}" in done.stdout
    assert "PATCH semantics: a partial body resets the fields it omits (replace semantics" in done.stdout
    assert "The reconciler's way of changing settings is safe on this manager." in done.stdout
    assert f"Recorded in the state at {state}" in done.stdout

    status = cli("status", "--state", state)
    assert status.returncode == 0
    assert f"{EAST}: PATCH semantics rehearsed on this manager on" in " ".join(status.stdout.split())
    assert "by alice" in status.stdout

    report = cli("report", "--offline", "--specs", str(specs), "--state", state, "--output", "json")
    notes = json.loads(report.stdout)["notes"]
    assert any(n.startswith(f"{EAST}: PATCH semantics rehearsed on this manager on") for n in notes), notes
    assert any("replace semantics" in n for n in notes)
