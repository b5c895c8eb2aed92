"""The built wheel is all a user needs: installed into a fresh virtual environment, ``sepm-reconciler demo`` runs a
whole rotation from an empty directory, with no checkout around (the simulator hooks, templates and the example
fleet are package data).

The fresh environment gets the wheel through pip; its dependencies are those of the development environment (the
same pins, made visible through a ``.pth`` file) — installing them again from the network would only test pip.
"""

from __future__ import annotations

import os
import re
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    build = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--wheel", "--outdir", str(out), str(REPO)],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
        cwd=tmp_path_factory.mktemp("build-cwd"),
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    assert "deprecat" not in (build.stdout + build.stderr).lower()  # no setuptools banners (SPDX license)
    [built] = out.glob("sepm_cert_reconciler-*.whl")
    return built


def test_the_wheel_carries_the_demo_s_and_the_simulator_s_files(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in (
        "reconciler/_simhooks/_simadmin.py",
        "reconciler/_simhooks/update-certificate.py",
        "reconciler/_simhooks/break-replication.py",
        "reconciler/_simhooks/restore-replication.py",
        "reconciler/sim/fleets/example.yaml",
        "reconciler/report/schema.json",
        "reconciler/py.typed",
    ):
        assert needed in names, needed
    assert any(n.startswith("reconciler/views/templates/") for n in names)
    assert not any("__pycache__" in n or n.startswith(("tests/", "specs/")) for n in names)


@pytest.mark.timeout(900)
def test_the_installed_wheel_runs_the_demo_from_an_empty_directory(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / ("Scripts" if os.name == "nt" else "bin") / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # the dependencies of the development environment, not its editable checkout (no .pth of it is processed)
    (Path(purelib) / "dependencies.pth").write_text(
        "\n".join(site.getsitepackages()) + "\n", encoding="utf-8"
    )
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--no-deps", "--no-index", "--quiet", str(wheel)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert install.returncode == 0, install.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    where = subprocess.run(
        [str(python), "-c", "import reconciler; print(reconciler.__file__)"],
        capture_output=True,
        text=True,
        check=True,
        cwd=empty,
    ).stdout.strip()
    assert Path(where).is_relative_to(Path(purelib)), where  # the wheel's copy, not the checkout
    script = venv / ("Scripts" if os.name == "nt" else "bin") / "sepm-reconciler"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SEPM_", "PYTHONPATH"))}
    demo = subprocess.run(
        [str(script), "demo", "--speed", "14400", "--timeout", "600"],
        capture_output=True,
        text=True,
        check=False,
        timeout=800,
        cwd=empty,
        env=env,
    )
    assert demo.returncode == 0, demo.stdout[-4000:] + demo.stderr[-2000:]
    flat = " ".join(demo.stdout.split())  # the console wraps where it likes
    # every client orphaned was predicted (laptops back after the swap, more of them on a loaded machine)
    assert re.search(
        r"✓ (0 orphaned clients|\d+ clients orphaned, each listed at risk before the swap)", flat
    ), flat[-2000:]
    assert "NOT predicted" not in flat
    assert list(empty.iterdir()) == []  # nothing written where it ran
