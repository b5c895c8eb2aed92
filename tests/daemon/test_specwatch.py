"""Spec reloads: a change is noticed, a valid set replaces the one in force, an invalid one never does."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from reconciler.daemon.specwatch import ReloadKind, SpecWatcher, specs_digest

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
def specs(tmp_path: Path) -> Path:
    target = tmp_path / "specs"
    shutil.copytree(REPO / "specs", target)
    return target


def _touch_later(path: Path) -> None:
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def test_the_digest_changes_with_content_names_and_a_swapped_link(specs: Path, tmp_path: Path) -> None:
    first = specs_digest(specs)
    assert specs_digest(specs) == first
    (specs / ".hidden.yaml").write_text("ignored: true\n")  # dot-files are skipped, as the loader skips them
    assert specs_digest(specs) == first
    _touch_later(specs / "site-east.yaml")
    second = specs_digest(specs)
    assert second != first
    (specs / "more.yaml").write_text("# nothing\n")
    assert specs_digest(specs) != second
    # git-sync swaps a symlink to a new worktree atomically: the digest follows the link
    other = tmp_path / "other"
    shutil.copytree(specs, other)
    link = tmp_path / "current"
    link.symlink_to(specs)
    before = specs_digest(link)
    tmp = tmp_path / "current.tmp"
    tmp.symlink_to(other)
    tmp.replace(link)
    assert specs_digest(link) != before


def test_the_digest_of_a_single_spec_file_follows_its_content(specs: Path) -> None:
    one = specs / "standalone.yaml"
    first = specs_digest(one)
    _touch_later(one)  # rewritten with the same size: only the modification time tells
    assert specs_digest(one) != first


def test_a_missing_path_has_its_own_digest(tmp_path: Path) -> None:
    assert specs_digest(tmp_path / "nope") == "missing"


def test_a_valid_set_is_loaded_then_kept_until_the_directory_changes(specs: Path) -> None:
    watcher = SpecWatcher(specs)
    loaded = watcher.poll(NOW)
    assert loaded.kind is ReloadKind.LOADED
    assert loaded.added == ("sepm-dmz-01", "sepm-east-01", "sepm-west-01")
    assert watcher.status.valid and watcher.status.servers == 3 and watcher.status.revision
    assert watcher.poll(NOW).kind is ReloadKind.UNCHANGED
    assert watcher.poll(NOW, force=True).kind is ReloadKind.LOADED  # SIGHUP


def test_an_invalid_commit_is_reported_and_the_last_valid_set_stays_in_force(specs: Path) -> None:
    watcher = SpecWatcher(specs)
    watcher.poll(NOW)
    in_force = watcher.current
    east = specs / "site-east.yaml"
    good = east.read_text()
    east.write_text(good.replace("  replication:", "  replicaton:"))  # a typo: an unknown key
    outcome = watcher.poll(NOW)
    assert outcome.kind is ReloadKind.INVALID
    assert outcome.spec_set is in_force and watcher.current is in_force
    assert any("site-east.yaml:" in e and "replicaton" in e for e in outcome.errors), outcome.errors
    assert watcher.status.valid is False and watcher.status.failures == 1
    assert watcher.status.revision == in_force.revision  # the revision in force, not the refused one
    assert watcher.poll(NOW).kind is ReloadKind.UNCHANGED  # reported once per change
    east.write_text(good)
    _touch_later(east)
    fixed = watcher.poll(NOW)
    assert fixed.kind is ReloadKind.LOADED and watcher.status.errors == []


def test_servers_added_removed_and_changed_are_named(specs: Path) -> None:
    watcher = SpecWatcher(specs)
    watcher.poll(NOW)
    (specs / "standalone.yaml").unlink()
    west = specs / "site-west.yaml"
    west.write_text(west.read_text().replace("minAckRatio: 0.99", "minAckRatio: 0.98"))
    outcome = watcher.poll(NOW)
    assert outcome.kind is ReloadKind.LOADED
    assert outcome.removed == ("sepm-dmz-01",) and outcome.added == ()
    assert outcome.changed == ("sepm-west-01",)


def test_a_path_that_disappears_is_an_invalid_commit(specs: Path) -> None:
    watcher = SpecWatcher(specs)
    watcher.poll(NOW)
    shutil.rmtree(specs)
    outcome = watcher.poll(NOW)
    assert outcome.kind is ReloadKind.INVALID and "does not exist" in outcome.errors[0]
    assert watcher.current is not None
