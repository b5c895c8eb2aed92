"""``make demo``: the whole rotation on the simulated fleet, end to end, in a subprocess (as a newcomer runs it)."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
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
    """Run with ``--serve``: after the rotation the simulator, daemon and page stay up until Ctrl-C."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "reconciler", "demo", "--serve"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        while not any("Still running (--serve)" in line for line in lines):
            line = proc.stdout.readline()
            assert line, "".join(lines)[-4000:]  # the demo ended without serving
            lines.append(line)
        page_line = proc.stdout.readline()
        lines.append(page_line)
        url = re.search(r"status page\s+(http://\S+)", page_line)
        assert url is not None, page_line
        page = httpx.get(url.group(1), timeout=30)  # still served after the rotation
        assert page.status_code == 200 and "sepm-east" in page.text and "in sync" in page.text.lower()
        proc.send_signal(signal.SIGINT)  # Ctrl-C stops everything
        rest, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    out = "".join(lines) + rest
    assert proc.returncode == 0, out[-4000:] + err[-2000:]
    assert "Every server rotated in" in out
    assert "4 servers: 4 in sync — exit code 0" in out  # the drift report
    assert "domain Partners" in out  # the DMZ manager's second domain, counted on its own
    flat = " ".join(out.split())  # the console wraps long lines
    # Laptops excluded as long gone (listed at risk before the swap) may come back after it, more of them the longer
    # a loaded machine stretches the simulated days: orphaned, but each one predicted — never one that was not.
    assert re.search(
        r"✓ (0 orphaned clients|\d+ clients orphaned, each listed at risk before the swap \(laptops back after it\)); "
        r"every group verifies again, on Default Management Server List\. The \d+ clients "
        r"that stayed offline throughout were all listed at risk",
        flat,
    )
    assert "NOT predicted" not in flat
    for name in ("sepm-east", "sepm-east-2", "sepm-west", "sepm-dmz"):
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
