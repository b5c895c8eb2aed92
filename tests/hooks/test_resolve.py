"""Hook paths start from the spec file's directory (the old working-directory resolution kept one release, with a
warning); validate and the start of every rollout check that each hook's program and scripts can run."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from reconciler.errors import HookError
from reconciler.hooks import check_hooks, resolve_hook, run_hook
from reconciler.specs import load_specs


def _script(path: Path, body: str = "#!/bin/sh\necho ran in $(pwd)\n", executable: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body, encoding="utf-8")
    if executable:
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_a_relative_program_resolves_from_the_spec_directory_and_runs_there(tmp_path: Path) -> None:
    specs = tmp_path / "specs"
    _script(specs / "hooks" / "swap.sh")
    resolved = resolve_hook(["./hooks/swap.sh", "--fast"], specs, cwd=tmp_path / "elsewhere")
    assert resolved.argv == (str((specs / "hooks" / "swap.sh").resolve()), "--fast")
    assert resolved.cwd == specs and resolved.legacy is None


def test_a_script_argument_resolves_from_the_spec_directory(tmp_path: Path) -> None:
    specs = tmp_path / "specs"
    _script(specs / "hooks" / "swap.py", "print('hi')\n", executable=False)
    resolved = resolve_hook([sys.executable, "hooks/swap.py"], specs, cwd=tmp_path)
    assert resolved.argv == (sys.executable, "hooks/swap.py") and resolved.cwd == specs


def test_the_old_working_directory_resolution_still_works_this_release_with_a_warning(tmp_path: Path) -> None:
    specs, old = tmp_path / "specs", tmp_path / "checkout"
    specs.mkdir()
    _script(old / "deploy" / "hooks" / "swap.py", "print('hi')\n", executable=False)
    resolved = resolve_hook([sys.executable, "deploy/hooks/swap.py"], specs, cwd=old)
    assert resolved.cwd == old
    assert resolved.legacy is not None
    assert (
        "found only from the working directory" in resolved.legacy
        and "for this release only" in resolved.legacy
    )


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (
            ["./hooks/missing.sh"],
            r"the hook program ./hooks/missing.sh does not exist \(relative paths start from the spec file's directory",
        ),
        (["no-such-program-xyz", "x"], r"the hook program 'no-such-program-xyz' is not on PATH"),
        ([sys.executable, "hooks/missing.ps1"], r"the hook names hooks/missing.ps1, which does not exist"),
        (["./hooks/plain.sh"], r"is not an executable file: chmod \+x it"),
        ([" "], r"the hook command is empty"),
    ],
    ids=["program-missing", "not-on-path", "script-missing", "not-executable", "empty"],
)
def test_a_hook_that_cannot_run_is_refused_saying_why(
    tmp_path: Path, command: list[str], message: str
) -> None:
    _script(tmp_path / "hooks" / "plain.sh", executable=False)
    with pytest.raises(HookError, match=message):
        resolve_hook(command, tmp_path, cwd=tmp_path / "nowhere")


def test_options_urls_and_assignments_are_not_taken_for_files(tmp_path: Path) -> None:
    resolved = resolve_hook(
        [sys.executable, "-NoProfile", "https://example.invalid/x.ps1", "--mode=a/b", "-c", "pass"], tmp_path
    )
    assert resolved.cwd == tmp_path


@pytest.mark.skipif(sys.platform.startswith("win"), reason="a shell script")
async def test_the_hook_runs_in_the_spec_directory(tmp_path: Path) -> None:
    specs = tmp_path / "specs"
    _script(specs / "hooks" / "where.sh", "#!/bin/sh\npwd\n")
    resolved = resolve_hook(["hooks/where.sh"], specs, cwd=tmp_path)
    result = await run_hook(resolved.argv, variables={}, timeout_s=20, cwd=resolved.cwd)
    assert result.succeeded and Path(result.output_tail.strip()) == specs.resolve()


def _spec(specs: Path, command: list[str]) -> None:
    specs.mkdir(parents=True, exist_ok=True)
    (specs / "east.yaml").write_text(
        "apiVersion: sepm-reconciler/v1\nkind: ManagedServer\nmetadata: {name: sepm-east-01}\nspec:\n"
        "  server: {apiUrl: 'https://sepm-east-01.corp.example:8446/sepm/api/v1', site: Site East,\n"
        "           credentials: {username: u, password: {env: P}}}\n"
        "  certificate: {fingerprint: 'sha256:" + "a" * 64 + "'}\n"
        f"  rollout: {{actions: {{updateCertificate: {{command: {command!r}}}}}}}\n",
        encoding="utf-8",
    )


def test_validate_locates_a_hook_that_cannot_run(tmp_path: Path) -> None:
    _spec(tmp_path / "specs", ["./hooks/swap.sh"])
    server = load_specs(tmp_path / "specs").servers["sepm-east-01"]
    [issue] = check_hooks(server)
    assert issue.is_error and issue.code == "hook-not-found"
    assert str(issue).startswith(f"{tmp_path / 'specs' / 'east.yaml'}:8:")
    assert (
        "spec.rollout.actions.updateCertificate.command: the hook program ./hooks/swap.sh does not exist"
        in str(issue)
    )


def test_validate_warns_about_the_old_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _script(tmp_path / "deploy" / "swap.py", "print()\n", executable=False)
    _spec(tmp_path / "specs", [sys.executable, "deploy/swap.py"])
    monkeypatch.chdir(tmp_path)
    server = load_specs(tmp_path / "specs").servers["sepm-east-01"]
    [issue] = check_hooks(server)
    assert not issue.is_error and issue.code == "hook-legacy-path"
    assert os.fspath(tmp_path) in str(issue)


def test_the_list_hooks_of_2a_and_5b_are_checked_too(tmp_path: Path) -> None:
    specs = tmp_path / "specs"
    specs.mkdir(parents=True)
    (specs / "east.yaml").write_text(
        "apiVersion: sepm-reconciler/v1\nkind: ManagedServer\nmetadata: {name: sepm-east-01}\nspec:\n"
        "  server: {apiUrl: 'https://sepm-east-01.corp.example:8446/sepm/api/v1', site: Site East,\n"
        "           credentials: {username: u, password: {env: P}}}\n"
        "  certificate: {fingerprint: 'sha256:" + "a" * 64 + "'}\n"
        "  rollout:\n"
        "    actions:\n"
        "      switchToHttpList: {command: [./hooks/lists.sh]}\n"
        "      restoreOriginalList: {command: [./hooks/lists.sh]}\n",
        encoding="utf-8",
    )
    server = load_specs(specs).servers["sepm-east-01"]
    fields = sorted(str(issue).split(": ")[1] for issue in check_hooks(server))
    assert fields == [
        "spec.rollout.actions.restoreOriginalList.command",
        "spec.rollout.actions.switchToHttpList.command",
    ]
    assert all(issue.code == "hook-not-found" for issue in check_hooks(server))
    _script(specs / "hooks" / "lists.sh")
    assert check_hooks(server) == []
