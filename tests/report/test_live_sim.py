"""``sepm-reconciler report`` against the simulator, through the real command in a subprocess: each situation the
issue names yields its finding and its exit code (0 in sync, 2 drift, 1 error)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reconciler.sim import Simulator
from tests.report.conftest import PASSWORD_ENV, Certs, free_port, run_report, write_spec


def _reasons(document: Any, name: str) -> list[str]:
    servers = {s["name"]: s for s in document["servers"]}
    return [f["reason"] for f in servers[name]["findings"]]


def test_a_manager_presenting_the_desired_certificate_is_in_sync_and_exits_0(
    sim: Simulator, certs: Certs, tmp_path: Path
) -> None:
    write_spec(tmp_path / "specs", sim, "sepm-east", certs, desired=certs.east)
    run = run_report("--specs", "specs", "--output", "json", cwd=tmp_path)
    assert run.code == 0, run.stderr
    document = run.json()
    (server,) = document["servers"]
    assert server["in_sync"] is True
    assert _reasons(document, "sepm-east") == ["InSync"]
    truth = sim.state()["managers"]["sepm-east"]["served"]
    assert {port: facts["fingerprint"] for port, facts in server["served"].items()} == truth
    assert server["served"]["clients"]["subject"] == "CN=sepm-east.corp.example"
    assert server["served"]["clients"]["sans"] == ["localhost", "127.0.0.1"]
    assert document["mode"] == "live" and document["summary"]["exitCode"] == 0


def test_a_mismatched_certificate_is_drift_and_exits_2(sim: Simulator, certs: Certs, tmp_path: Path) -> None:
    write_spec(tmp_path / "specs", sim, "sepm-east", certs, desired=certs.next)
    run = run_report("--specs", "specs", "--output", "json", cwd=tmp_path)
    assert run.code == 2, run.stderr
    document = run.json()
    reasons = _reasons(document, "sepm-east")
    assert reasons[0] == "CertificateMismatch"
    assert "AtRiskClients" in reasons  # verification is on: every client would be orphaned by a swap now
    (server,) = document["servers"]
    assert server["desired"]["fingerprint"] == certs.next.fingerprint
    assert all(port["matchesDesired"] is False for port in server["served"].values())
    at_risk = next(f for f in server["findings"] if f["reason"] == "AtRiskClients")
    assert at_risk["message"].startswith("300 clients would be orphaned if the certificate changed now")


def test_a_half_done_restart_is_a_partial_rollout_and_exits_2(
    sim: Simulator, certs: Certs, tmp_path: Path
) -> None:
    write_spec(tmp_path / "specs", sim, "sepm-half", certs, desired=certs.next)
    run = run_report("--specs", "specs", "--output", "json", cwd=tmp_path)
    assert run.code == 2, run.stderr
    document = run.json()
    assert _reasons(document, "sepm-half")[0] == "PartialRollout"
    (server,) = document["servers"]
    served = {port: facts["fingerprint"] for port, facts in server["served"].items()}
    assert served == {
        "clients": certs.next.fingerprint,
        "console": certs.east.fingerprint,
        "api": certs.east.fingerprint,
    }
    partial = server["findings"][0]["message"]
    assert "a service restart was missed: restart semsrv and semapisrv" in partial


@pytest.mark.parametrize("how", ["wrong-port-in-the-spec", "services-down"])
def test_an_unreachable_manager_is_an_error_and_exits_1(
    sim: Simulator, certs: Certs, tmp_path: Path, how: str
) -> None:
    if how == "services-down":
        name, ports = "sepm-down", sim.ports_info()["managers"]["sepm-down"]["ports"]
        write_spec(tmp_path / "specs", sim, name, certs, desired=certs.east)
    else:
        closed = free_port()
        name, ports = "sepm-east", {"clients": closed, "console": closed, "api": closed}
        write_spec(tmp_path / "specs", sim, name, certs, desired=certs.east, ports=ports)
    assert sim.state()["managers"]["sepm-down"]["served"] == {"clients": None, "console": None, "api": None}
    run = run_report("--specs", "specs", "--output", "json", cwd=tmp_path)
    assert run.code == 1, run.stderr
    (server,) = run.json()["servers"]
    (finding,) = server["findings"]
    assert (finding["reason"], finding["severity"]) == ("Unreachable", "error")
    for port, number in ports.items():
        assert f"{port} port {number} refused" in finding["message"]
        assert (server["served"][port]["outcome"], server["served"][port]["fingerprint"]) == ("refused", None)
    assert (
        f"the REST API at https://127.0.0.1:{ports['api']}/sepm/api/v1 does not answer" in finding["message"]
    )


def test_a_refused_login_is_an_error_and_exits_1_without_showing_the_password(
    sim: Simulator, certs: Certs, tmp_path: Path
) -> None:
    write_spec(tmp_path / "specs", sim, "sepm-east", certs, desired=certs.east)
    run = run_report(
        "--specs", "specs", "--output", "json", cwd=tmp_path, env={PASSWORD_ENV: "Wr0ng-s3cret-pw"}
    )
    assert run.code == 1, run.stderr
    assert "Wr0ng-s3cret-pw" not in run.stdout + run.stderr
    (server,) = run.json()["servers"]
    assert server["in_sync"] is True  # the ports were seen; what the API would say is not known
    unreachable = next(f for f in server["findings"] if f["reason"] == "Unreachable")
    assert unreachable["severity"] == "error"
    assert "answers but cannot be used" in unreachable["message"]
    assert "refused the credentials of user 'admin'" in unreachable["message"]


def test_an_expiring_certificate_warns_and_exits_2_although_in_sync(
    sim: Simulator, certs: Certs, tmp_path: Path
) -> None:
    write_spec(tmp_path / "specs", sim, "sepm-soon", certs, desired=certs.soon)
    run = run_report("--specs", "specs", "--output", "json", cwd=tmp_path)
    assert run.code == 2, run.stderr
    document = run.json()
    (server,) = document["servers"]
    assert server["in_sync"] is True
    by_reason = {f["reason"]: f for f in server["findings"]}
    assert set(by_reason) == {"InSync", "ExpiringSoon", "RolloutMustStartBy"}
    assert by_reason["ExpiringSoon"]["severity"] == "warning"
    assert (
        "in 9 days" in by_reason["ExpiringSoon"]["message"]
        or "in 10 days" in by_reason["ExpiringSoon"]["message"]
    )
    assert by_reason["ExpiringSoon"]["until"] == server["served"]["clients"]["notAfter"]
    assert "a new certificate must be committed" in by_reason["RolloutMustStartBy"]["message"]


def test_the_whole_fleet_in_one_report_takes_the_worst_exit_code(
    sim: Simulator, certs: Certs, tmp_path: Path
) -> None:
    specs = tmp_path / "specs"
    write_spec(specs, sim, "sepm-east", certs, desired=certs.east)
    write_spec(specs, sim, "sepm-half", certs, desired=certs.next)
    run = run_report("--specs", "specs", "--output", "markdown", cwd=tmp_path)
    assert run.code == 2, run.stderr
    assert run.stdout.startswith("## SEPM certificate report: ⚠️ drift")
    assert "| `sepm-east` | ✅ in sync |" in run.stdout
    assert "**PartialRollout**" in run.stdout
    only = run_report("--specs", "specs", "--server", "sepm-east", "--output", "json", cwd=tmp_path)
    assert only.code == 0 and [s["name"] for s in only.json()["servers"]] == ["sepm-east"]


@pytest.mark.parametrize("output", ["html", "markdown", "json", "text"])
def test_out_writes_the_report_to_a_file_and_keeps_the_exit_code(
    sim: Simulator, certs: Certs, tmp_path: Path, output: str
) -> None:
    write_spec(tmp_path / "specs", sim, "sepm-half", certs, desired=certs.next)
    target = tmp_path / "reports" / f"drift.{output}"
    target.parent.mkdir()
    run = run_report("--specs", "specs", "--output", output, "--out", str(target), cwd=tmp_path)
    assert run.code == 2
    assert run.stdout == ""
    assert f"report written to {target} (exit code 2)" in run.stderr
    text = target.read_text(encoding="utf-8")
    assert "PartialRollout" in text
    assert "\x1b[" not in text
    assert [p.name for p in target.parent.iterdir()] == [target.name]  # no temporary file left behind
