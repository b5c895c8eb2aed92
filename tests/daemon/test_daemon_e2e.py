"""``sepm-reconciler run`` as a real subprocess against the simulator (real HTTPS, real SQLite, real hooks).

Each test starts the simulator of the session's lab (its clock at 3,600x: the 1 h minimum soak of these specs lasts
about a second), writes specs declaring new certificates, and drives one or two daemons with real signals.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.cli._demo_lab import ORIGINAL_LIST, P12_PASSWORD_ENV, PASSWORD_ENV, Lab
from tests.daemon.conftest import Receiver
from tests.daemon.kit import Rig, rig, wait_until
from tests.daemon.tcpgate import TcpGate

pytestmark = pytest.mark.slow


def _all_in_sync(daemon_rig: Rig, names: list[str]) -> None:
    daemon = daemon_rig.daemons[-1]
    wait_until(
        lambda: (phases := daemon.phases()) and all(phases.get(n) == "in_sync" for n in names) and phases,
        90,
        f"{', '.join(names)} in sync",
        interval=0.5,
    )


def _starts(world: Rig) -> Counter[tuple[str, str]]:
    return Counter((r["server"], r["step"]) for r in world.hook_runs() if r["event"] == "start")


def _cli(world: Rig, *args: str) -> str:
    """Run a store-only command against the rig's state; its standard output."""
    argv = [sys.executable, "-m", "reconciler", *args, "--state", world.state_url]
    return subprocess.run(argv, capture_output=True, text=True, check=True, env=world.env).stdout


def _metric(text: str, name: str, **labels: str) -> float | None:
    for line in text.splitlines():
        named = line.startswith((name + "{", name + " "))
        if named and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_daemon_completes_a_rollout_reports_it_and_stops_cleanly(
    tmp_path: Path, base_lab: Lab, receiver: Receiver
) -> None:
    secret_path = "/hook/T0ps3cr3t-webhook-token"
    with rig(tmp_path, base_lab, hook_env={"SEPM_TEST_RECORD_ENV": "1"}) as world:
        # The job's interval trigger (--idle-interval) fires only every 30 s: the rollout finishes within the
        # test's time only because each job is moved to its tick's next_check_at (1 s while a step acts).
        daemon = world.start_daemon(
            "--idle-interval",
            "30s",
            "--webhook-url-env",
            "TEAM_CHAT_WEBHOOK",  # any name: the URL is a secret whatever holds it
            env={"TEAM_CHAT_WEBHOOK": receiver.url + secret_path},
        )
        daemon.wait_ready()
        names = ["sepm-dmz", "sepm-east", "sepm-west"]
        _all_in_sync(world, names)

        truth = world.ground_truth()["managers"]
        for name in names:
            assert set(truth[name]["served"].values()) == {base_lab.new[name].fingerprint}, name
            assert truth[name]["orphaned_clients"] == [], name
            assert truth[name]["replication"]["partners"] == (
                ["Site West"] if name == "sepm-east" else ["Site East"] if name == "sepm-west" else []
            )
        runs = _starts(world)
        # every hook ran at most once; the certificate hook once per server; a partnership is broken and restored
        # by whichever partner gets there first (the other one observes it done and runs nothing)
        assert set(runs.values()) == {1}, runs
        assert {server for server, step in runs if step == "4"} == set(names)
        assert {step for server, step in runs if server != "sepm-dmz"} == {"1", "2", "4", "5", "7"}
        assert {step for server, step in runs if server == "sepm-dmz"} == {"2", "4", "5"}  # lists: 2a and 5b
        for name in names:  # the clients' list is back, verification on
            assert {g["list"] for g in truth[name]["groups"]} == {ORIGINAL_LIST}, name
            assert all(g["secure_communications"] for g in truth[name]["groups"]), name
        assert {r["code"] for r in world.hook_runs() if r["event"] == "end"} == {0}

        # /api/status is exactly `status --output json` (read back to back: the daemon keeps ticking), plus the
        # daemon's own block
        def same() -> dict[str, object] | None:
            api = daemon.status()
            cli = json.loads(_cli(world, "status", "--output", "json"))
            return api if api["servers"] == cli["servers"] else None

        api = wait_until(same, 20, "/api/status to equal status --output json")
        assert api["daemon"]["role"] == "leader" and api["daemon"]["specs"]["valid"] is True
        assert {s["code"] for s in api["servers"]} == {"InSync"}

        metrics = daemon.get("/metrics").text
        for name in names:
            assert _metric(metrics, "sepm_reconciler_phase", server=name, phase="in_sync") == 1.0
            assert _metric(metrics, "sepm_reconciler_step", server=name) == 0.0
            assert _metric(metrics, "sepm_reconciler_hold", server=name, code="InSync") == 1.0
            assert _metric(metrics, "sepm_reconciler_drift", server=name) == 0.0
            assert (
                _metric(
                    metrics,
                    "sepm_reconciler_certificate_not_after_timestamp_seconds",
                    server=name,
                    port="clients",
                )
                is not None
            )
        assert _metric(metrics, "sepm_reconciler_leader") == 1.0
        assert (
            _metric(
                metrics,
                "sepm_reconciler_actions_total",
                server="sepm-dmz",
                action="update_certificate",
                outcome="succeeded",
            )
            or 0
        ) >= 1
        assert (_metric(metrics, "sepm_reconciler_tick_duration_seconds_count", server="sepm-east") or 0) > 5

        wait_until(
            lambda: receiver.topics().count("rollout_done") >= 3, 10, "three rollout_done notifications"
        )
        topics = receiver.topics()
        assert {"drift_detected", "step_changed", "rollout_done"} <= set(topics)
        path, body = receiver.posts[0]
        assert path == secret_path
        assert body["text"] and body["blocks"] and body["sections"][0]["facts"]
        done = [b for _, b in receiver.posts if "rollout_done" in b["blocks"][-1]["elements"][0]["text"]]
        assert {b["code"] for b in done} == {"RolloutComplete"}, (
            "notifications carry the code of their reason"
        )

        code, seconds = daemon.stop(signal.SIGTERM)
        assert code == 0 and seconds < 10
        logs = daemon.log_text()
        assert "T0ps3cr3t" not in logs
        password = world.env[P12_PASSWORD_ENV]
        assert password not in logs
        assert password.encode() not in (tmp_path / "state.db").read_bytes()
        assert all(password not in " ".join(r["argv"]) for r in world.hook_runs())
        # least secret: only step 4 gets the keystore password (as its documented variable); no hook gets the API
        # password or the webhook URL, under any name
        api_password = world.env[PASSWORD_ENV]
        for run in (r for r in world.hook_runs() if r["event"] == "start"):
            env = run["env"]
            holding = sorted(k for k, v in env.items() if password in v)
            assert holding == (["SEPM_RECONCILER_KEYSTORE_PASSWORD"] if run["step"] == "4" else []), run[
                "step"
            ]
            assert not any(api_password in v or "T0ps3cr3t" in v for v in env.values()), run["step"]
        assert any(line.get("message") == "lease released" for line in daemon.logs())


def test_sigkill_mid_rollout_then_restart_resumes_without_running_a_hook_twice(
    tmp_path: Path, base_lab: Lab
) -> None:
    slow = {"SEPM_TEST_SLOW_STEP": "4", "SEPM_TEST_SLOW_SECONDS": "3"}
    with rig(tmp_path, base_lab, hook_env=slow) as world:
        first = world.start_daemon(name="first")
        started = wait_until(
            lambda: [r for r in world.hook_runs() if r["event"] == "start" and r["step"] == "4"],
            60,
            "a step-4 hook to start",
        )
        first.proc.kill()  # SIGKILL while the hook runs: its outcome is never recorded by this process
        first.proc.wait(timeout=10)
        assert first.proc.returncode == -signal.SIGKILL

        second = world.start_daemon(name="second")
        _all_in_sync(world, ["sepm-dmz", "sepm-east", "sepm-west"])

        runs = _starts(world)
        assert all(count == 1 for count in runs.values()), runs
        assert runs[(started[0]["server"], "4")] == 1
        truth = world.ground_truth()["managers"]
        assert all(m["orphaned_clients"] == [] for m in truth.values())
        history = json.loads(_cli(world, "history", started[0]["server"], "--output", "json"))
        moves = [(e["from_phase"], e["to_phase"]) for e in history["events"] if e["kind"] == "transition"]
        assert ("updating_certificate", "clients_fetching_certificate") in moves
        assert second.stop()[0] == 0


def test_a_bad_spec_commit_is_reported_and_the_servers_carry_on_with_their_last_valid_spec(
    tmp_path: Path, base_lab: Lab, receiver: Receiver
) -> None:
    with rig(tmp_path, base_lab, only=["sepm-dmz", "sepm-east", "sepm-west"]) as world:
        daemon = world.start_daemon(env={"SEPM_RECONCILER_WEBHOOK_URL": receiver.url + "/hook"})
        daemon.wait_ready()
        dmz = world.specs / "sepm-dmz.yaml"
        good = dmz.read_text(encoding="utf-8")
        dmz.write_text(good.replace("  replication:", "  replicaton:"), encoding="utf-8")

        specs = wait_until(
            lambda: (s := daemon.status()["daemon"]["specs"]) and not s["valid"] and s, 15, "the refusal"
        )
        assert any("sepm-dmz.yaml:" in e and "replicaton" in e for e in specs["errors"]), specs["errors"]
        assert specs["revision"] is not None  # the previous valid set stays in force
        assert daemon.get("/readyz").status_code == 200
        page = daemon.get("/").text
        assert "Spec commit refused" in page and "replicaton" in page
        assert _metric(daemon.get("/metrics").text, "sepm_reconciler_spec_reload_failures_total") == 1.0
        wait_until(lambda: "specs_invalid" in receiver.topics(), 10, "a specs_invalid notification")

        _all_in_sync(
            world, ["sepm-dmz", "sepm-east", "sepm-west"]
        )  # nobody stopped, dmz on its last valid spec

        dmz.write_text(good, encoding="utf-8")
        wait_until(lambda: daemon.status()["daemon"]["specs"]["valid"], 15, "the fixed specs to load")
        assert daemon.status()["daemon"]["specs"]["errors"] == []

        dmz.unlink()  # a valid commit that drops a server: left as it is, reported as unmanaged
        wait_until(lambda: daemon.status()["daemon"]["unmanaged"] == ["sepm-dmz"], 15, "sepm-dmz unmanaged")
        assert "Unmanaged" in daemon.get("/").text
        assert "sepm-dmz" not in daemon.status()["daemon"]["ticks"]
        assert daemon.stop()[0] == 0


def test_sigterm_while_a_hook_runs_exits_cleanly_within_10_seconds(tmp_path: Path, base_lab: Lab) -> None:
    slow = {"SEPM_TEST_SLOW_STEP": "4", "SEPM_TEST_SLOW_SECONDS": "60"}
    with rig(tmp_path, base_lab, only=["sepm-dmz"], hook_env=slow) as world:
        daemon = world.start_daemon("--shutdown-grace", "2s")
        run = wait_until(
            lambda: [r for r in world.hook_runs() if r["step"] == "4"], 60, "the step-4 hook to start"
        )[0]
        code, seconds = daemon.stop(signal.SIGTERM)
        assert code == 0
        assert seconds < 10
        with pytest.raises(ProcessLookupError):  # the hook was killed with its process group
            os.kill(run["pid"], 0)
        # nothing was half done: the certificate was never staged or swapped, and the state is readable
        truth = world.ground_truth()["managers"]["sepm-dmz"]
        assert set(truth["served"].values()) == {base_lab.current["sepm-dmz"].fingerprint}
        assert truth["staged"] is None and truth["orphaned_clients"] == []
        status = json.loads(_cli(world, "status", "--output", "json"))["servers"][0]
        assert status["phase"] == "updating_certificate"
        assert "cancelling ticks" in daemon.log_text()


def test_a_second_daemon_stands_by_and_takes_over_when_the_first_stops(tmp_path: Path, base_lab: Lab) -> None:
    with rig(tmp_path, base_lab, only=["sepm-dmz"]) as world:
        first = world.start_daemon(name="first")
        first.wait_ready()
        second = world.start_daemon(name="second")
        reason = wait_until(
            lambda: (
                (r := second.get("/readyz")).status_code == 503
                and "standby" in r.json()["reason"]
                and r.json()
            ),
            10,
            "the second daemon to stand by",
        )["reason"]
        assert "holds the lease" in reason
        assert second.get("/healthz").status_code == 200  # alive, just not acting
        assert "Standby" in second.get("/").text
        assert second.status()["daemon"]["ticks"] == {}
        assert any(line.get("message", "").startswith("standby:") for line in second.logs())

        assert first.stop()[0] == 0
        second.wait_ready(timeout=60)  # promptly in practice: the released lease is taken at its next check
        assert any(line.get("message", "").startswith("leading") for line in second.logs())
        wait_until(lambda: second.status()["daemon"]["ticks"].get("sepm-dmz", {}).get("ticks"), 10, "a tick")
        assert second.stop()[0] == 0


def test_healthz_fails_when_the_scheduler_stops_running_ticks(tmp_path: Path, base_lab: Lab) -> None:
    with rig(tmp_path, base_lab, only=["sepm-dmz"]) as world:
        daemon = world.start_daemon("--debug-pause-scheduler-after", "3", "--health-grace", "2s")
        daemon.wait_ready()
        assert daemon.get("/healthz").status_code == 200
        problems = wait_until(
            lambda: (r := daemon.get("/healthz")).status_code == 503 and r.json()["problems"],
            20,
            "/healthz 503",
        )
        assert any("the scheduler is not running ticks" in p for p in problems), problems
        assert daemon.get("/readyz").status_code == 200  # readiness is not liveness
        assert daemon.stop(signal.SIGINT)[0] == 0  # Ctrl-C stops it as cleanly as SIGTERM


def test_a_hung_manager_holds_only_its_own_ticks(tmp_path: Path, base_lab: Lab) -> None:
    with rig(tmp_path, base_lab, only=["sepm-dmz", "sepm-east"]) as world:
        response = world.admin("sepm-east", "POST", "/faults", {"timeout_rate": 1.0, "hang_s": 120})
        assert response.status_code == 200, response.text
        daemon = world.start_daemon("--tick-timeout", "2s")
        wait_until(  # the other server goes on, through its soak and its certificate swap
            lambda: (
                daemon.phases().get("sepm-dmz") in ("enabling_verification", "waiting_verified", "in_sync")
            ),
            60,
            "sepm-dmz past its certificate swap",
            interval=0.5,
        )
        east = daemon.status()["daemon"]["ticks"]["sepm-east"]
        assert east["ticks"] >= 1
        assert east["last_outcome"] in ("error", "timeout"), east
        assert east["last_duration_s"] < 60, east  # bounded by --tick-timeout, not by the 120 s hang
        assert daemon.get("/healthz").status_code == 200
        assert daemon.stop()[0] == 0


def test_a_daemon_started_on_invalid_specs_acts_on_nothing_until_sighup_loads_the_fixed_ones(
    tmp_path: Path, base_lab: Lab
) -> None:
    with rig(tmp_path, base_lab, only=["sepm-dmz"]) as world:
        spec = world.specs / "sepm-dmz.yaml"
        good = spec.read_text(encoding="utf-8")
        spec.write_text(good.replace("kind: ManagedServer", "kind: ManagedSever"), encoding="utf-8")
        daemon = world.start_daemon("--watch-interval", "1h")  # only SIGHUP makes it look at the specs again
        reason = wait_until(
            lambda: (
                (r := daemon.get("/readyz")).status_code == 503
                and "no valid specs" in r.json()["reason"]
                and r.json()["reason"]
            ),
            15,
            "not ready for lack of valid specs",
        )
        assert "sepm-dmz.yaml:" in reason
        assert daemon.get("/healthz").status_code == 200  # alive: restarting would not fix a bad commit
        time.sleep(2)
        assert daemon.status()["servers"] == []  # nothing was observed, decided or done
        assert world.hook_runs() == []

        spec.write_text(good, encoding="utf-8")
        time.sleep(1.5)
        assert daemon.get("/readyz").status_code == 503  # not noticed yet: the next look is an hour away
        daemon.proc.send_signal(signal.SIGHUP)
        daemon.wait_ready(timeout=15)
        assert any(line.get("message") == "SIGHUP: reloading the specs" for line in daemon.logs())
        wait_until(lambda: daemon.phases().get("sepm-dmz") not in (None, "new"), 20, "sepm-dmz ticked")
        assert daemon.stop()[0] == 0


def test_sigterm_while_a_tick_observes_lets_it_finish_without_starting_its_action(
    tmp_path: Path, base_lab: Lab
) -> None:
    with rig(tmp_path, base_lab, only=["sepm-dmz"]) as world:
        api = world.sim.ports_info()["managers"]["sepm-dmz"]
        with TcpGate("127.0.0.1", api["ports"]["api"]) as gate:
            _through_gate(world, "sepm-dmz", gate)
            # One tick at a time, by hand, up to step 2 entered with its PATCH not started: the next tick sends it.
            status = _reconcile_until(world, lambda s: s["phase"] == "disabling_verification")
            assert status["action"] is None, status

            gate.close()  # the daemon's first tick stops at its first request to the manager, before deciding
            daemon = world.start_daemon("--shutdown-grace", "2m")
            wait_until(lambda: gate.held > 0, 60, "the daemon's tick to reach the manager")
            daemon.proc.send_signal(signal.SIGTERM)
            wait_until(
                lambda: any(line.get("message", "").startswith("stopping:") for line in daemon.logs()),
                60,
                "the daemon to stop starting actions",
            )
            gate.open()  # the tick observes, decides the PATCH, and may not start it
            code, _ = daemon.stop(signal.SIGTERM, timeout=120)
        assert code == 0, daemon.log_text()[-3000:]
        groups = world.ground_truth()["managers"]["sepm-dmz"]["groups"]
        assert all(g["secure_communications"] for g in groups if not g["inherits"])  # the PATCH never ran
        status = json.loads(_cli(world, "status", "--output", "json"))["servers"][0]
        assert status["phase"] == "disabling_verification" and status["action"] is None
        assert any(line.get("message") == "sepm-dmz: tick abandoned" for line in daemon.logs()), (
            daemon.log_text()[-3000:]
        )


def _through_gate(world: Rig, name: str, gate: TcpGate) -> None:
    """Point ``name``'s spec at the manager's API through ``gate``, and let a held request wait (timeout 2m)."""
    path = world.specs / f"{name}.yaml"
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    server = document["spec"]["server"]
    server["apiUrl"] = server["apiUrl"].replace(f":{server['ports']['api']}/", f":{gate.port}/")
    server["ports"]["api"] = gate.port
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    defaults = world.specs / "defaults.yaml"
    defaults.write_text(defaults.read_text(encoding="utf-8").replace("timeout: 10s", "timeout: 2m"), "utf-8")


def _reconcile_until(world: Rig, done: Callable[[dict[str, Any]], bool], ticks: int = 10) -> dict[str, Any]:
    """Run ``reconcile`` (one tick) until the server's ``status`` entry satisfies ``done``; return that entry."""
    for _ in range(ticks):
        argv = [sys.executable, "-m", "reconciler", "reconcile", "--specs", str(world.specs)]
        subprocess.run([*argv, "--state", world.state_url], capture_output=True, check=True, env=world.env)
        status: dict[str, Any] = json.loads(_cli(world, "status", "--output", "json"))["servers"][0]
        if done(status):
            return status
    raise AssertionError(f"not reached in {ticks} ticks: {status}")
