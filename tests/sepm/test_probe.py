"""``probe``: read-only checks of NOTES.md's assumptions, against the simulator over real HTTPS."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509

from reconciler.sepm import RetryPolicy
from reconciler.sepm.probe import INVENTORY, PROBE_CHECKS, RUN_TIME, ProbeReport, Status, run_probe
from reconciler.sim.simulator import Simulator, run_in_thread
from tests.sepm.pki import Issued
from tests.sepm.simkit import Admin, RecordingTransport, client_for, fleet, manager, spec_for

EAST = "sepm-east"


def statuses(report: ProbeReport) -> dict[str, Status]:
    return {c.id: c.status for c in report.checks}


def check(report: ProbeReport, cid: str) -> Any:
    return next(c for c in report.checks if c.id == cid)


def _now() -> str:
    """The simulators of these tests start at this machine's time: the probe compares the two clocks."""
    return datetime.now(UTC).replace(microsecond=0).isoformat()


@pytest.fixture
async def sim(pki: dict[str, Issued]) -> AsyncIterator[Simulator]:
    east = manager(EAST, "Site East", pki["east"], replication={"partners": ["Site West"]})
    west = manager("sepm-west", "Site West", pki["west"], clients=50, replication={"partners": ["Site East"]})
    # strict, but the settings show the list (the strict simulator hides it: a "?" of its own test below)
    async with Simulator(fleet(east, west, start=_now(), behaviours={"listNameInSettings": True})) as running:
        yield running


def chain(pki: dict[str, Issued], name: str = "east") -> list[x509.Certificate]:
    return [pki[name].cert]


async def test_a_manager_that_behaves_as_assumed_passes_every_check(
    sim: Simulator, pki: dict[str, Issued]
) -> None:
    spec = spec_for(sim, EAST, pki["ca"])
    served = sim.state()["managers"][EAST]["served"]["api"]
    async with client_for(sim, EAST, pki["ca"]) as client:
        report = await run_probe(spec, client, desired_fingerprint=served, desired_chain=chain(pki))
    assert report.passed, [c for c in report.checks if c.status is not Status.PASS]
    assert [c.id for c in report.checks] == list(
        PROBE_CHECKS
    )  # every probed row of the inventory, in its order
    assert check(report, "auth.token_lifetime").details == {"seconds": 3600.0}
    assert check(report, "paging.page_size").details == {"largest_accepted": 1000}
    assert "refused {2000: 'HTTP 400', 5000: 'HTTP 400'}" in check(report, "paging.page_size").seen
    assert check(report, "groups.inheritance").seen == "3 of 6 groups inherit"
    assert check(report, "port.api").details["presents_desired"] is True
    assert check(report, "replication.status").details == {"partners": {"Site West": "NEVER_REPLICATED"}}
    assert check(report, "replication.status_shape").details == {"shape": "array of 1"}
    assert check(report, "domains.visible").details == {"domains": ["Default"], "login": "Default"}
    assert "they agree" in check(report, "auth.date_header").seen
    assert "refused" in check(report, "auth.logout").seen
    assert (
        check(report, "settings.list_name").seen
        == "shown for all 3 groups read: Default Management Server List"
    )
    assert "no 429" in check(report, "api.throttle").seen
    as_json = report.to_json()
    total = len(PROBE_CHECKS)
    assert as_json["passed"] is True and as_json["summary"] == {"pass": total, "fail": 0, "unknown": 0}
    assert [r["id"] for r in as_json["run_time"]] == [a.id for a in RUN_TIME]
    assert len(as_json["not_checked"]) == len(RUN_TIME)


async def test_the_probe_sends_nothing_but_gets_one_authentication_and_a_logout(
    sim: Simulator, pki: dict[str, Issued]
) -> None:
    before = sim.state(clients=True)["managers"][EAST]
    recorder: list[RecordingTransport] = []
    async with client_for(sim, EAST, pki["ca"], recorder=recorder) as client:
        await run_probe(spec_for(sim, EAST, pki["ca"]), client)
    sent = recorder[0].seen
    touched = {s.path for s in sent}
    assert {
        "version",
        "groups",
        "computers",
        "domains",
        "replication/status",
        "stats/client/onlinestatus",
    } <= touched
    assert any(p.endswith("/settings") for p in touched)
    writes = [(s.method, s.path) for s in sent if s.method != "GET"]
    assert writes == [("POST", "identity/authenticate"), ("POST", "identity/logout")]
    after = sim.state(clients=True)["managers"][EAST]
    for key in ("groups", "replication", "served", "clients", "client_rows", "restarts"):
        assert after[key] == before[key], key


async def test_assumptions_that_do_not_hold_are_reported_with_what_was_seen(
    pki: dict[str, Issued],
) -> None:
    east = manager(EAST, "Site East", pki["east"], maxPageSize=500, tokenLifetime=900)
    async with Simulator(fleet(east, start="2026-06-01T08:00:00Z")) as sim:  # strict; six months behind
        admin = Admin(sim, EAST, pki["ca"])
        await admin.stage_certificate(pki["east-next"])
        await admin.restart("semwebsrv")
        await sim.wait_services_up(EAST)
        spec = spec_for(sim, EAST, pki["ca"], groups=["My Company\\Servers", "My Company\\Printers"])
        async with client_for(sim, EAST, pki["ca"]) as client:
            report = await run_probe(spec, client, desired_chain=chain(pki, "other"))
    found = statuses(report)
    assert not report.passed
    assert {cid for cid, st in found.items() if st is not Status.PASS} == {
        "auth.server_time",
        "paging.page_size",
        "spec.groups",
        "groups.locations",
        "groups.settings",
        "settings.list_name",
        "ports.same_certificate",
        "certificate.trusted",
    }
    assert "h behind this machine's clock" in check(report, "auth.server_time").seen
    assert "accepted none of [1000, 2000, 5000]" in check(report, "paging.page_size").seen
    assert "which the manager does not have" in check(report, "spec.groups").seen
    assert "inherits its settings from 'My Company'" in check(report, "spec.groups").seen
    assert found["groups.locations"] is Status.UNKNOWN  # no managed group left to look at
    assert check(report, "auth.token_lifetime").seen == "900 s"
    assert "clients: sha256:" in check(report, "ports.same_certificate").seen
    assert "does not chain to caBundle" in check(report, "certificate.trusted").seen


async def test_the_list_name_the_strict_simulator_hides_cannot_be_determined(
    pki: dict[str, Issued],
) -> None:
    simulated = Simulator(fleet(manager(EAST, "Site East", pki["east"]), start=_now()))
    async with simulated as sim, client_for(sim, EAST, pki["ca"]) as client:
        report = await run_probe(spec_for(sim, EAST, pki["ca"]), client)
    listed = check(report, "settings.list_name")
    assert listed.status is Status.UNKNOWN and "not shown for 3 of 3 groups read" in listed.seen
    assert check(report, "certificate.trusted").status is Status.UNKNOWN  # the spec gives a fingerprint only


async def test_an_untrusted_api_certificate_fails_clearly_and_every_other_row_is_still_reported(
    sim: Simulator, pki: dict[str, Issued], tmp_path: Path
) -> None:
    wrong_ca = pki["other"]  # a CA bundle that does not contain the manager's issuer
    spec = spec_for(sim, EAST, wrong_ca)
    async with client_for(sim, EAST, wrong_ca) as client:
        report = await run_probe(spec, client)
    found = statuses(report)
    assert list(found) == list(PROBE_CHECKS)
    assert found["api.trusted"] is Status.FAIL
    assert "set spec.server.caBundle" in check(report, "api.trusted").seen
    assert found["groups.settings"] is Status.UNKNOWN
    assert check(report, "groups.settings").seen.startswith("not checked: the REST API did not answer")
    assert found["port.api"] is Status.PASS and found["ports.same_certificate"] is Status.PASS
    assert not report.passed


@pytest.mark.parametrize("retry_after", [True, False], ids=["retry-after", "window-waited-out"])
async def test_the_throttle_is_observed_and_waited_out(pki: dict[str, Issued], retry_after: bool) -> None:
    east = manager(EAST, "Site East", pki["east"], clients=300)
    throttle = {"threshold": 8, "windowMinutes": 1, "retryAfter": retry_after}
    # a virtual minute lasts a real second, and the client knows the window is one second long
    async with Simulator(fleet(east, speed=60, start=_now(), behaviours={"throttle": throttle})) as sim:
        retry = RetryPolicy(
            attempts=5, base_delay=0.01, max_delay=5.0, throttle_window=1.0, throttle_budget=30.0
        )
        async with client_for(sim, EAST, pki["ca"], retry=retry) as client:
            report = await run_probe(spec_for(sim, EAST, pki["ca"]), client)
        refused = sim.state()["managers"][EAST]["throttle"]["refused"]
    throttled = check(report, "api.throttle")
    assert throttled.status is Status.PASS and refused > 0
    assert throttled.details["refusals"] >= 1
    assert (throttled.details["retry_after"] > 0) is retry_after
    assert statuses(report)["endpoint.computers"] is Status.PASS  # every check still ran


def test_the_inventory_in_the_docs_and_the_probes_checks_name_the_same_rows_both_ways() -> None:
    table = DOCS.split("## Assumption inventory", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([a-z_.]+)` \| (.+?) \| (.+?) \|$", table, re.MULTILINE)
    documented = {cid: how for cid, _, how in rows}
    assert list(documented) == [a.id for a in INVENTORY]
    for assumption in INVENTORY:
        how = documented[assumption.id]
        assert (how == "probe") is assumption.probed, assumption.id
    assert set(PROBE_CHECKS) == {cid for cid, how in documented.items() if how == "probe"}
    ids_in_code = set(re.findall(r'"((?:[a-z]+)\.[a-z_]+)"', _probe_sources()))
    ids_in_code |= {f"port.{name}" for name in ("clients", "console", "api")}  # built as f"port.{name}"
    assert set(PROBE_CHECKS) <= ids_in_code


def _probe_sources() -> str:
    folder = Path(__file__).resolve().parents[2] / "reconciler" / "sepm" / "probe"
    return "".join(f.read_text() for f in folder.glob("_*.py") if f.name != "__init__.py")


DOCS = (Path(__file__).resolve().parents[2] / "docs" / "probe.md").read_text(encoding="utf-8")


# --- the command, in a subprocess ---------------------------------------------------------------------------------


@pytest.fixture
def threaded_sim(pki: dict[str, Issued]) -> Iterator[Simulator]:
    east = manager(EAST, "Site East", pki["east"], clients=200)
    with run_in_thread(fleet(east, start=_now(), behaviours={"listNameInSettings": True})) as running:
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
            "certificate": {"file": str(ca_cert_of(ca))},
        },
    }
    path = directory / "east.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def ca_cert_of(ca: Issued) -> Path:
    """The desired certificate of these specs: the one the manager presents (issued by ``ca``)."""
    return ca.cert_file.parent / "sepm-east.corp.example.crt"


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
    assert proc.stdout.rstrip().endswith(f"{len(PROBE_CHECKS)} passed, 0 failed, 0 could not be determined.")
    assert "Verified at run time instead" in proc.stdout and "[settings.partial_body]" in proc.stdout
    assert "admin-pass" not in proc.stdout + proc.stderr


def test_the_command_prints_json_and_exits_1_when_a_check_fails(
    threaded_sim: Simulator, pki: dict[str, Issued], tmp_path: Path
) -> None:
    write_spec(tmp_path, threaded_sim, pki["ca"], "wrong-password")
    proc = run_cli("--server", EAST, "--specs", str(tmp_path), "--output", "json")
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    assert list(report) == ["server", "api_url", "passed", "summary", "checks", "not_checked", "run_time"]
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
