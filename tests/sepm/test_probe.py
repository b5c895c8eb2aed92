"""``probe``: read-only checks of NOTES.md's assumptions, against the simulator over real HTTPS."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.sepm.probe import ProbeReport, Status, run_probe
from reconciler.sim.simulator import Simulator, run_in_thread
from tests.sepm.pki import Issued
from tests.sepm.simkit import Admin, RecordingTransport, client_for, fleet, manager, spec_for

EAST = "sepm-east"


def statuses(report: ProbeReport) -> dict[str, Status]:
    return {c.id: c.status for c in report.checks}


def check(report: ProbeReport, cid: str) -> Any:
    return next(c for c in report.checks if c.id == cid)


@pytest.fixture
async def sim(pki: dict[str, Issued]) -> AsyncIterator[Simulator]:
    east = manager(EAST, "Site East", pki["east"], replication={"partners": ["Site West"]})
    west = manager("sepm-west", "Site West", pki["west"], clients=50, replication={"partners": ["Site East"]})
    async with Simulator(fleet(east, west)) as running:
        yield running


async def test_a_manager_that_behaves_as_assumed_passes_every_check(
    sim: Simulator, pki: dict[str, Issued]
) -> None:
    spec = spec_for(sim, EAST, pki["ca"])
    served = sim.state()["managers"][EAST]["served"]["api"]
    async with client_for(sim, EAST, pki["ca"]) as client:
        report = await run_probe(spec, client, desired_fingerprint=served)
    assert report.passed, [c for c in report.checks if c.status is not Status.PASS]
    expected = {
        "api.trusted", "api.version", "auth.authenticate", "auth.token_lifetime", "auth.server_time",
        "endpoint.groups", "fields.group", "paging.one_based", "serials.group", "groups.inheritance",
        "spec.groups", "groups.locations", "groups.settings", "endpoint.computers", "fields.computer",
        "computers.online_status", "serials.client", "computers.last_update", "paging.page_size",
        "endpoint.online_stats", "replication.is_replicated", "replication.status", "port.clients",
        "port.console", "port.api", "ports.same_certificate",
    }  # fmt: skip
    assert set(statuses(report)) == expected
    assert check(report, "auth.token_lifetime").details == {"seconds": 3600.0}
    assert check(report, "paging.page_size").details == {"largest_accepted": 1000}
    assert "refused {2000: 'HTTP 400', 5000: 'HTTP 400'}" in check(report, "paging.page_size").seen
    assert check(report, "groups.inheritance").seen == "3 of 6 groups inherit"
    assert check(report, "port.api").details["presents_desired"] is True
    assert check(report, "replication.status").details == {"partners": {"Site West": "NEVER_REPLICATED"}}
    as_json = report.to_json()
    assert as_json["passed"] is True and as_json["summary"] == {"pass": 26, "fail": 0, "unknown": 0}
    assert len(as_json["not_checked"]) == 3


async def test_the_probe_sends_nothing_but_gets_and_one_authentication(
    sim: Simulator, pki: dict[str, Issued]
) -> None:
    before = sim.state(clients=True)["managers"][EAST]
    recorder: list[RecordingTransport] = []
    async with client_for(sim, EAST, pki["ca"], recorder=recorder) as client:
        await run_probe(spec_for(sim, EAST, pki["ca"]), client)
    sent = recorder[0].seen
    touched = {s.path for s in sent}
    assert {"version", "groups", "computers", "replication/status", "stats/client/onlinestatus"} <= touched
    assert any(p.endswith("/settings") for p in touched)
    assert {(s.method, s.path) for s in sent if s.method != "GET"} == {("POST", "identity/authenticate")}
    assert sum(1 for s in sent if s.method == "POST") == 1
    after = sim.state(clients=True)["managers"][EAST]
    for key in ("groups", "replication", "served", "clients", "client_rows", "restarts"):
        assert after[key] == before[key], key


async def test_assumptions_that_do_not_hold_are_reported_with_what_was_seen(
    pki: dict[str, Issued],
) -> None:
    east = manager(EAST, "Site East", pki["east"], maxPageSize=500, tokenLifetime=900)
    async with Simulator(fleet(east)) as sim:
        admin = Admin(sim, EAST, pki["ca"])
        await admin.stage_certificate(pki["east-next"])
        await admin.restart("semwebsrv")
        await sim.wait_services_up(EAST)
        spec = spec_for(sim, EAST, pki["ca"], groups=["My Company\\Servers", "My Company\\Printers"])
        async with client_for(sim, EAST, pki["ca"]) as client:
            report = await run_probe(spec, client)
    found = statuses(report)
    assert not report.passed
    assert {cid for cid, st in found.items() if st is not Status.PASS} == {
        "paging.page_size",
        "spec.groups",
        "groups.locations",
        "groups.settings",
        "ports.same_certificate",
    }
    assert "accepted none of [1000, 2000, 5000]" in check(report, "paging.page_size").seen
    assert "which the manager does not have" in check(report, "spec.groups").seen
    assert "inherits its settings from 'My Company'" in check(report, "spec.groups").seen
    assert found["groups.locations"] is Status.UNKNOWN  # no managed group left to look at
    assert check(report, "auth.token_lifetime").seen == "900 s"
    assert "clients: sha256:" in check(report, "ports.same_certificate").seen


async def test_an_untrusted_api_certificate_fails_clearly_and_the_ports_are_still_shown(
    sim: Simulator, pki: dict[str, Issued], tmp_path: Path
) -> None:
    wrong_ca = pki["other"]  # a CA bundle that does not contain the manager's issuer
    spec = spec_for(sim, EAST, wrong_ca)
    async with client_for(sim, EAST, wrong_ca) as client:
        report = await run_probe(spec, client)
    found = statuses(report)
    assert found["api.trusted"] is Status.FAIL
    assert "set spec.server.caBundle" in check(report, "api.trusted").seen
    assert found["api.checks"] is Status.UNKNOWN
    assert found["port.api"] is Status.PASS and found["ports.same_certificate"] is Status.PASS
    assert not report.passed


# --- the command, in a subprocess ---------------------------------------------------------------------------------


@pytest.fixture
def threaded_sim(pki: dict[str, Issued]) -> Iterator[Simulator]:
    east = manager(EAST, "Site East", pki["east"], clients=200)
    with run_in_thread(fleet(east)) as running:
        yield running


def write_spec(directory: Path, sim: Simulator, ca: Issued, password: str) -> Path:
    info = sim.ports_info()["managers"][EAST]
    (directory / "admin.pw").write_text(password + "\n")
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
            "certificate": {"fingerprint": sim.state()["managers"][EAST]["served"]["api"]},
        },
    }
    path = directory / "east.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reconciler", "probe", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_the_command_prints_a_checklist_and_exits_0_when_all_pass(
    threaded_sim: Simulator, pki: dict[str, Issued], tmp_path: Path
) -> None:
    write_spec(tmp_path, threaded_sim, pki["ca"], "admin-pass")
    proc = run_cli("--server", EAST, "--specs", str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith(f"Probing {EAST} at https://127.0.0.1:")
    assert "✓ the account authenticates" in proc.stdout and "✗" not in proc.stdout
    assert proc.stdout.rstrip().endswith("26 passed, 0 failed, 0 could not be determined.")
    assert "admin-pass" not in proc.stdout + proc.stderr


def test_the_command_prints_json_and_exits_1_when_a_check_fails(
    threaded_sim: Simulator, pki: dict[str, Issued], tmp_path: Path
) -> None:
    write_spec(tmp_path, threaded_sim, pki["ca"], "wrong-password")
    proc = run_cli("--server", EAST, "--specs", str(tmp_path), "--output", "json")
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    assert list(report) == ["server", "api_url", "passed", "summary", "checks", "not_checked"]
    assert all(list(c) == ["id", "title", "status", "seen", "details"] for c in report["checks"])
    by_id = {c["id"]: c for c in report["checks"]}
    assert by_id["port.api"]["details"]["outcome"] == "presented"
    assert report["passed"] is False
    assert by_id["auth.authenticate"]["status"] == "fail"
    assert "refused the credentials of user 'admin'" in by_id["auth.authenticate"]["seen"]
    assert by_id["port.api"]["status"] == "pass"
    assert "wrong-password" not in proc.stdout + proc.stderr


def test_an_unknown_server_is_a_usage_error(
    threaded_sim: Simulator, pki: dict[str, Issued], tmp_path: Path
) -> None:
    write_spec(tmp_path, threaded_sim, pki["ca"], "admin-pass")
    proc = run_cli("--server", "sepm-nowhere", "--specs", str(tmp_path))
    assert proc.returncode == 64
    assert f"no server sepm-nowhere in {tmp_path} (servers: {EAST})" in proc.stderr


def test_invalid_specs_are_refused_before_any_network_access(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(
        "apiVersion: sepm-reconciler/v1\nkind: ManagedServer\nmetadata: {name: x}\n"
    )
    proc = run_cli("--server", "x", "--specs", str(tmp_path))
    assert proc.returncode == 1
    assert "error: " in proc.stderr and "bad.yaml:" in proc.stderr and "nothing was probed" in proc.stderr
    assert proc.stdout == ""
