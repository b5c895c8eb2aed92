"""The package's public surface and entry points."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from pathlib import Path

import reconciler
import reconciler.errors as errors


def test_version_is_exposed() -> None:
    assert reconciler.__version__.count(".") == 2


def test_errors_public_surface_is_exactly_the_tree() -> None:
    public = {name for name in dir(errors) if isinstance(getattr(errors, name), type)} - {"annotations"}
    assert set(errors.__all__) == {n for n in public if issubclass(getattr(errors, n), Exception)}
    for name in errors.__all__:
        assert issubclass(getattr(errors, name), errors.Error)


def test_temporary_error_carries_a_retry_hint() -> None:
    exc = errors.UnreachableError("port 443 refused", delay=5.0)
    assert isinstance(exc, errors.TemporaryError)
    assert exc.delay == 5.0


def test_python_dash_m_runs_the_cli() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "reconciler", "--version"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"sepm-reconciler, version {reconciler.__version__}"


def test_unknown_option_is_a_usage_error_with_exit_64() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "reconciler", "--no-such-option"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 64
    assert "No such option" in proc.stderr


def test_the_console_script_is_sepm_reconciler() -> None:
    scripts = importlib.metadata.entry_points(group="console_scripts")
    assert [s.value for s in scripts if s.name == "sepm-reconciler"] == ["reconciler.cli:main"]
    installed = Path(sys.executable).with_name(
        "sepm-reconciler"
    )  # make venv installs it beside the interpreter
    proc = subprocess.run([str(installed), "--version"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"sepm-reconciler, version {reconciler.__version__}"
