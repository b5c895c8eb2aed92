"""``make demo``: the whole rotation on the simulated fleet, end to end, in a subprocess (as a newcomer runs it)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def test_make_demo_runs_sepm_reconciler_demo() -> None:
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    recipe = makefile.split("\ndemo:", 1)[1].split("\n\n", 1)[0]
    assert "$(BIN)/sepm-reconciler demo" in recipe


@pytest.mark.slow
@pytest.mark.timeout(
    600
)  # a loaded CI machine; how fast the demo is belongs to a benchmark, not to this test
def test_the_demo_rotates_every_server_without_orphaning_anyone_it_did_not_predict(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "reconciler", "demo"],
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
        cwd=tmp_path,
    )
    out = proc.stdout
    assert proc.returncode == 0, out[-4000:] + proc.stderr[-2000:]
    assert "Every server rotated in" in out
    assert "3 servers: 3 in sync — exit code 0" in out  # the drift report
    assert "domain Partners" in out  # the DMZ manager's second domain, counted on its own
    flat = " ".join(out.split())  # the console wraps long lines
    assert re.search(
        r"✓ 0 orphaned clients; every group verifies again, on Default Management Server List\. The \d+ clients "
        r"that stayed offline throughout were all listed at risk",
        flat,
    )
    for name in ("sepm-east", "sepm-west", "sepm-dmz"):
        assert re.search(
            rf"{name}: every port presents the desired certificate: yes · verification on, original list: yes · "
            r"orphaned clients: 0",
            flat,
        )
    for transition in (
        "breaking_replication → switching_to_http_list",  # 2a: the HTTP list before verification goes off
        "waiting_unverified → updating_certificate",
        "updating_certificate → clients_fetching_certificate",  # 4b: clients fetch it before verification returns
        "enabling_verification → restoring_original_list",  # 5b
        "restoring_replication → in_sync",
    ):
        assert transition in out  # progress lines (no terminal here: one line per move)
    workdir = re.search(r"fleet in (\S+) …", out)
    assert workdir is not None and not Path(workdir.group(1)).exists()  # cleaned up after a success
