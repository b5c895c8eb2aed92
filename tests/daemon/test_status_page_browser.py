"""The status page in a real headless browser (Debian's chromium): the server rows render, and a ``<script>``
written by an operator into a reason is shown as text, never run."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.cli._demo_lab import Lab
from tests.daemon.kit import rig, wait_until

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
INJECTED = '<script>document.body.setAttribute("data-pwned", "yes")</script><img src=x onerror=alert(1)>'

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="no headless browser: install Debian's chromium (apt-get install -y chromium)",
    ),
]


def _dump_dom(url: str, profile: Path) -> str:
    assert CHROMIUM is not None
    argv = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=2000",
        "--dump-dom",
        url,
    ]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def test_the_status_page_renders_every_server_and_shows_an_injected_script_as_text(
    tmp_path: Path, base_lab: Lab
) -> None:
    with rig(tmp_path, base_lab, only=["sepm-dmz", "sepm-east", "sepm-west"]) as world:
        daemon = world.start_daemon()
        daemon.wait_ready()
        wait_until(lambda: len(daemon.status()["servers"]) == 3, 20, "three records")
        suspend = subprocess.run(
            [
                sys.executable,
                "-m",
                "reconciler",
                "suspend",
                "sepm-dmz",
                "--reason",
                INJECTED,
                "--by",
                "ops",
                "--state",
                world.state_url,
            ],
            capture_output=True,
            text=True,
            check=False,
            env=world.env,
        )
        assert suspend.returncode == 0, suspend.stderr

        dom = _dump_dom(daemon.url + "/", tmp_path / "chromium-profile")

        assert 'data-pwned="yes"' not in dom  # the script did not run
        for name in ("sepm-dmz", "sepm-east", "sepm-west"):
            assert f'data-server="{name}"' in dom
        assert "&lt;script&gt;document.body.setAttribute" in dom  # shown, as text
        assert '<img src="x"' not in dom and "&lt;img src=x onerror=alert(1)&gt;" in dom
        assert 'class="badge warn">suspended<' in dom
        assert daemon.stop()[0] == 0
