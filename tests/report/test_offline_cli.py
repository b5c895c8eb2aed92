"""``report --offline`` (the state only, no network), ``--since`` (the event log), and bad input — through the real
command: a real SQLite state written with the real ``decide``, and specs that point at managers nobody runs."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.core.decide import decide
from reconciler.core.observation import (
    ClientAcknowledgement,
    GroupObservation,
    PortObservation,
    PortOutcome,
    ReplicationObservation,
    ServedCertificate,
    ServerObservation,
)
from reconciler.core.procedure import Phase
from reconciler.specs import load_specs
from reconciler.store import open_store
from tests.report.conftest import free_port, run_report

OLD = "sha256:" + "a1" * 32
NEW = "sha256:" + "b2" * 32


def _spec(
    name: str, *, port: int, approvals: list[int] | None = None, certificate: Any = None
) -> dict[str, Any]:
    return {
        "apiVersion": "sepm-reconciler/v1",
        "kind": "ManagedServer",
        "metadata": {"name": name},
        "spec": {
            "server": {
                "apiUrl": f"https://127.0.0.1:{port}/sepm/api/v1",  # nothing listens: offline must not look
                "site": f"Site {name}",
                "ports": {"clients": port, "console": port, "api": port},
                "credentials": {"username": "admin", "password": {"env": "UNSET_REPORT_TEST_PASSWORD"}},
            },
            "certificate": certificate or {"fingerprint": NEW},
            "rollout": {
                "approvals": approvals or [],
                "managementServerList": {
                    "http": "Default Management Server List (HTTP)",
                    "original": "Default Management Server List",
                },
            },
        },
    }


def _observation(name: str, at: datetime, fingerprint: str) -> ServerObservation:
    cert = ServedCertificate(
        fingerprint, f"CN={name}", "CN=CA", (name,), "01", at - timedelta(days=9), at + timedelta(days=90)
    )
    return ServerObservation(
        server=name,
        observed_at=at,
        api_reachable=True,
        api_version="14.3.9816.7000",
        manager_time=at,
        ports={
            n: PortObservation(n, 443, PortOutcome.PRESENTED, cert) for n in ("clients", "console", "api")
        },
        replication=ReplicationObservation(f"Site {name}", False, ()),
        groups=(GroupObservation("g1", "My Company", False, True, True, "1-01/01/2026 00:00:00 000", at),),
        clients=ClientAcknowledgement(None, 0, 0, 0, 0, 0, 0, 0),
    )


@pytest.fixture
def fleet(tmp_path: Path) -> Path:
    """specs/ with sepm-west (drift held for an approval, last observed 3 h ago); a state that also remembers
    sepm-old, whose spec was removed after it was last seen in sync."""
    port = free_port()
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "west.yaml").write_text(
        yaml.safe_dump(_spec("sepm-west", port=port, approvals=[1])), encoding="utf-8"
    )
    loaded = load_specs(specs)
    assert loaded.valid, loaded.issues
    old_spec_dir = tmp_path / "removed"
    old_spec_dir.mkdir()
    (old_spec_dir / "old.yaml").write_text(yaml.safe_dump(_spec("sepm-old", port=port)), encoding="utf-8")
    removed = load_specs(old_spec_dir)

    now = datetime.now(UTC).replace(microsecond=0)
    with open_store(f"sqlite:///{tmp_path / 'state.db'}") as store:
        old = decide(
            removed.servers["sepm-old"].spec,
            NEW,
            _observation("sepm-old", now - timedelta(days=2), NEW),
            None,
            now=now - timedelta(days=2),
            spec_revision="r1",
        )
        store.save(old.record, old.events)
        first = decide(
            loaded.servers["sepm-west"].spec,
            NEW,
            _observation("sepm-west", now - timedelta(days=4), NEW),
            None,
            now=now - timedelta(days=4),
            spec_revision="r1",
        )
        saved = store.save(first.record, first.events)
        drifted = decide(
            loaded.servers["sepm-west"].spec,
            NEW,
            _observation("sepm-west", now - timedelta(hours=3), OLD),
            saved,
            now=now - timedelta(hours=3),
            spec_revision="r1",
        )
        assert drifted.phase is Phase.DRIFTED
        store.save(drifted.record, drifted.events)
    return tmp_path


def test_offline_reports_the_last_observation_and_says_how_old_it_is(fleet: Path) -> None:
    run = run_report("--offline", "--state", "sqlite:///state.db", "--output", "json", cwd=fleet)
    assert run.code == 2, run.stderr
    document = run.json()
    assert document["mode"] == "offline"
    assert any("the observations are between 3 h and 2 days old" in note for note in document["notes"])
    servers = {s["name"]: s for s in document["servers"]}
    west = servers["sepm-west"]
    assert [f["reason"] for f in west["findings"]] == ["CertificateMismatch", "RolloutMustStartBy"]
    assert (
        "step 1 needs an approval: sepm-reconciler approve sepm-west --step 1"
        in west["findings"][0]["message"]
    )
    assert west["observed_live"] is False
    assert west["served"]["clients"] == {
        **west["served"]["clients"],
        "fingerprint": OLD,
        "subject": "CN=sepm-west",
    }
    assert west["rollout"]["phase"] == "drifted"
    old = servers["sepm-old"]
    assert (old["managed"], [f["reason"] for f in old["findings"]]) == (False, ["UnmanagedServer"])


def test_offline_text_marks_each_observation_with_its_age(fleet: Path) -> None:
    run = run_report("--offline", "--state", "sqlite:///state.db", "--server", "sepm-west", cwd=fleet)
    assert run.code == 2, run.stderr
    assert re.search(r"sepm-west · drift · observed \S+ \S+ UTC \(3 h ago, from the state\)", run.stdout)
    assert "offline, from the state" in run.stdout


def test_since_adds_when_the_drift_began_and_the_events_of_the_period(fleet: Path) -> None:
    run = run_report(
        "--offline", "--state", "sqlite:///state.db", "--since", "1d", "--output", "json", cwd=fleet
    )
    assert run.code == 2, run.stderr
    west = next(s for s in run.json()["servers"] if s["name"] == "sepm-west")
    history = west["since"]
    began = datetime.fromisoformat(history["drift_began"])
    assert timedelta(hours=2) < datetime.now(UTC) - began < timedelta(hours=4)
    kinds = [(e["kind"], e["from_phase"], e["to_phase"]) for e in history["events"]]
    assert ("transition", "in_sync", "drifted") in kinds
    assert "approval_needed" in [kind for kind, _, _ in kinds]
    assert all(
        datetime.fromisoformat(e["at"]) >= datetime.fromisoformat(history["cutoff"])
        for e in history["events"]
    )
    assert ("transition", "new", "in_sync") not in kinds  # four days ago: before the period


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        pytest.param(["--offline"], 1, "no state at .sepm-reconciler/state.db", id="offline-without-state"),
        pytest.param(["--since", "7d"], 1, "no state at .sepm-reconciler/state.db", id="since-without-state"),
        pytest.param(
            ["--state", "sqlite:///missing.db"], 1, "no state at missing.db", id="named-state-missing"
        ),
        pytest.param(["--since", "7 days"], 64, "invalid duration '7 days'", id="bad-duration"),
        pytest.param(["--output", "pdf"], 64, "'pdf' is not one of", id="unknown-format"),
        pytest.param(
            ["--out", "nowhere/report.md"], 64, "the directory 'nowhere' does not exist", id="out-nowhere"
        ),
    ],
)
def test_bad_input_gets_one_message_and_a_documented_exit_code(
    tmp_path: Path, args: list[str], code: int, message: str
) -> None:
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "west.yaml").write_text(yaml.safe_dump(_spec("sepm-west", port=free_port())))
    run = run_report("--specs", "specs", *args, cwd=tmp_path)
    assert run.code == code
    assert message in run.stderr
    assert run.stdout == ""


def test_an_unknown_server_is_named_with_the_servers_there_are(fleet: Path) -> None:
    run = run_report("--offline", "--state", "sqlite:///state.db", "--server", "sepm-nope", cwd=fleet)
    assert run.code == 1
    assert "no server named 'sepm-nope'" in run.stderr
    assert "(known: sepm-old, sepm-west)" in run.stderr


def test_invalid_specs_are_errors_and_the_valid_servers_are_still_reported(fleet: Path) -> None:
    broken = _spec("sepm-bad", port=1)
    broken["spec"]["rollout"]["clients"] = {"minAckRatio": 1.5}
    (fleet / "specs" / "bad.yaml").write_text(yaml.safe_dump(broken, sort_keys=False), encoding="utf-8")
    gone = _spec("sepm-gone", port=1, certificate={"file": "certs/missing.pem"})
    (fleet / "specs" / "gone.yaml").write_text(yaml.safe_dump(gone, sort_keys=False), encoding="utf-8")
    run = run_report("--offline", "--state", "sqlite:///state.db", "--output", "json", cwd=fleet)
    assert run.code == 1, run.stderr
    document = run.json()
    (error,) = document["specs"]["errors"]
    assert error["file"] == "specs/bad.yaml" and error["field"] == "spec.rollout.clients.minAckRatio"
    servers = {s["name"]: s for s in document["servers"]}
    assert servers["sepm-west"]["findings"][0]["reason"] == "CertificateMismatch"
    gone_findings = servers["sepm-gone"]["findings"]
    assert gone_findings[0]["reason"] == "SpecInvalid"
    assert gone_findings[0]["message"].startswith("specs/gone.yaml:")
    assert "spec.certificate.file" in gone_findings[0]["message"]
    # sepm-old is in the state but not in the valid specs, and the specs have errors: it may be the broken one
    assert [f["reason"] for f in servers["sepm-old"]["findings"]] == ["SpecInvalid"]


def test_a_spec_error_no_server_can_be_named_for_is_still_an_error(fleet: Path) -> None:
    (fleet / "specs" / "typo.yaml").write_text("apiVersion: sepm-reconciler/v1\nkind: [ManagedServer\n")
    run = run_report("--offline", "--state", "sqlite:///state.db", "--server", "sepm-west", cwd=fleet)
    assert run.code == 1, run.stdout  # sepm-west alone is only drift (2): the broken file makes it 1
    assert "specs/typo.yaml:3:1: YAML syntax error" in run.stdout
    assert run.stdout.rstrip().endswith(
        "1 server: 0 in sync, 1 with warnings, 1 spec error — exit code 1 (error)"
    )


def _run_on_a_terminal(cwd: Path, env: dict[str, str]) -> str:
    controller, terminal = pty.openpty()
    environment = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    environment.update({"TERM": "xterm-256color", "COLUMNS": "120", **env})
    proc = subprocess.Popen(
        [sys.executable, "-m", "reconciler", "report", "--offline", "--state", "sqlite:///state.db"],
        cwd=cwd,
        env=environment,
        stdin=subprocess.DEVNULL,
        stdout=terminal,
        stderr=terminal,
    )
    os.close(terminal)
    chunks = []
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # the terminal closed: the child is done
            break
        if not chunk:
            break
        chunks.append(chunk)
    assert proc.wait(timeout=30) == 2
    os.close(controller)
    return b"".join(chunks).decode("utf-8", "replace")


def test_text_is_coloured_on_a_terminal_unless_no_color_is_set(fleet: Path) -> None:
    assert "\x1b[" in _run_on_a_terminal(fleet, {})
    plain = _run_on_a_terminal(fleet, {"NO_COLOR": "1"})
    assert "\x1b[" not in plain and "CertificateMismatch" in plain
    piped = run_report("--offline", "--state", "sqlite:///state.db", cwd=fleet)
    assert "\x1b[" not in piped.stdout
