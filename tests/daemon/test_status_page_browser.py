"""The status page in a real headless browser (Debian's chromium): the server rows render, and a ``<script>``
written by an operator into a reason is shown as text, never run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from reconciler.cli._demo_lab import Lab
from tests.daemon.kit import Rig, rig, wait_until
from tests.support.png import read_png

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


def _chromium(profile: Path, *args: str) -> list[str]:
    assert CHROMIUM is not None
    return [
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
        "--force-color-profile=srgb",
        "--hide-scrollbars",
        "--virtual-time-budget=2000",
        *args,
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


def _awaiting_approval(world: Rig) -> None:
    defaults = world.specs / "defaults.yaml"
    document = yaml.safe_load(defaults.read_text(encoding="utf-8"))
    document["spec"]["rollout"]["approvals"] = [4]
    defaults.write_text(yaml.safe_dump(document), encoding="utf-8")


def test_a_screenshot_of_the_page_shows_the_needs_you_banner_when_an_approval_is_pending(
    tmp_path: Path, base_lab: Lab
) -> None:
    with rig(tmp_path, base_lab, only=["sepm-dmz"]) as world:
        _awaiting_approval(world)
        daemon = world.start_daemon()
        daemon.wait_ready()
        wait_until(
            lambda: [s["code"] for s in daemon.status()["servers"]] == ["ApprovalMissing"],
            120,
            "sepm-dmz to wait for the approval of step 4",
            interval=0.5,
        )
        dom = _dump_dom(daemon.url + "/", tmp_path / "profile-dom")
        assert 'id="needs-you"' in dom and 'data-code="ApprovalMissing"' in dom
        assert "sepm-reconciler approve sepm-dmz --step 4 --reason" in dom
        shot = tmp_path / "page.png"
        proc = subprocess.run(
            _chromium(
                tmp_path / "profile-shot",
                os.environ.get("SEPM_SCREENSHOT_SIZE", "--window-size=1200,900"),
                f"--screenshot={shot}",
                daemon.url + "/",
            ),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 0 and shot.exists(), proc.stderr[-2000:]
        if keep := os.environ.get("SEPM_KEEP_SCREENSHOT"):
            shutil.copyfile(shot, keep)
        image = read_png(shot)
        # the banner's left border is the warning colour (#9a6700 light, #d29922 dark), near the top of the page
        rows = image.rows_with((0x9A, 0x67, 0x00), min_pixels=4) or image.rows_with(
            (0xD2, 0x99, 0x22), min_pixels=4
        )
        assert rows, "no banner-coloured pixels on the screenshot"
        assert min(rows) < image.height // 3, f"the banner is not near the top (first row {min(rows)})"
        assert daemon.stop()[0] == 0
