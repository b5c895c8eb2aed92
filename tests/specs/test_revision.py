"""The spec revision: the Git commit that last touched the specs (+ -dirty), else a hash of the files."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from reconciler.specs import load_specs
from tests.specs.helpers import BASE, spec, write_files


def _git(repo: Path, *args: str) -> str:
    git = shutil.which("git")
    if git is None:
        pytest.skip("git is not on PATH")
    proc = subprocess.run(
        [
            git,
            "-c",
            "user.name=Test",
            "-c",
            "user.email=test@example.invalid",
            "-c",
            "commit.gpgsign=false",
            *args,
        ],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return proc.stdout.strip()


def test_outside_git_the_revision_is_a_hash_of_the_files_that_changes_with_them(tmp_path: Path) -> None:
    write_files(tmp_path, {"a.yaml": BASE})
    first = load_specs(tmp_path).revision
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", first)
    assert load_specs(tmp_path).revision == first
    write_files(tmp_path, {"a.yaml": spec(("minAckRatio: 1.0", "minAckRatio: 0.9"))})
    assert load_specs(tmp_path).revision != first


def test_in_git_the_revision_is_the_last_commit_touching_the_specs_and_dirty_when_changed(
    tmp_path: Path,
) -> None:
    _git(tmp_path, "init", "-q")
    specs = write_files(tmp_path / "specs", {"a.yaml": BASE})
    (tmp_path / "README").write_text("x")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-q", "-m", "specs")
    specs_commit = _git(tmp_path, "rev-parse", "HEAD")
    assert load_specs(specs).revision == specs_commit

    (tmp_path / "README").write_text("y")  # a commit outside specs/ is not a new spec revision
    _git(tmp_path, "commit", "-q", "-am", "docs")
    assert load_specs(specs).revision == specs_commit

    write_files(
        specs, {"b.yaml": spec(name="sepm-b", site="Site B").replace("sepm-east-01.corp", "sepm-b.corp")}
    )
    assert load_specs(specs).revision == f"{specs_commit}-dirty"  # untracked spec file
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-q", "-m", "more specs")
    assert load_specs(specs).revision == _git(tmp_path, "rev-parse", "HEAD")


def test_a_never_committed_directory_inside_git_falls_back_to_the_content_hash(tmp_path: Path) -> None:
    _git(tmp_path, "init", "-q")
    specs = write_files(tmp_path / "specs", {"a.yaml": BASE})
    assert load_specs(specs).revision.startswith("sha256:")
