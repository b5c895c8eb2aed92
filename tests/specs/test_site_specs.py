"""The specs of one site (several managers sharing one database) must agree on what the site shares: a conflict is
one located error that names both files, and ``validate`` exits 1."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.cli import main
from reconciler.specs import load_specs
from tests.specs.helpers import spec, write_files

GROUPS = ("    clients:\n", "    clients:\n      groups: [My Company\\Laptops]\n")


def _site(tmp_path: Path, *east_b: tuple[str, str]) -> Path:
    """sepm-east-01 and sepm-east-02, both of Site East; ``east_b`` changes the second one."""
    return write_files(
        tmp_path,
        {"a.yaml": spec(GROUPS), "b.yaml": spec(GROUPS, *east_b, name="sepm-east-02")},
    )


def test_two_specs_of_one_site_that_agree_are_valid(tmp_path: Path) -> None:
    spec_set = load_specs(_site(tmp_path))
    assert spec_set.valid and spec_set.issues == [], [str(i) for i in spec_set.issues]


def test_two_specs_of_one_site_disagreeing_on_the_managed_groups_are_one_error_naming_both_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _site(tmp_path, ("groups: [My Company\\Laptops]", "groups: [My Company\\Servers]"))
    spec_set = load_specs(tmp_path)
    assert not spec_set.valid
    assert [(i.code, str(i).replace(str(tmp_path), "{d}")) for i in spec_set.errors] == [
        (
            "site-conflict",
            '{d}/b.yaml:16:7: spec.rollout.clients.groups: ["My Company\\\\Servers"] differs from '
            "[\"My Company\\\\Laptops\"] in 'sepm-east-01' ({d}/a.yaml:16:7): both serve site 'Site East', one "
            "database whose policy steps are done once for all its servers, so the managed groups must agree — "
            "write the same value in both specs",
        )
    ]
    with pytest.raises(SystemExit) as caught:
        main(["validate", "--specs", str(tmp_path)])
    assert caught.value.code == 1
    assert "site-conflict" not in capsys.readouterr().err


@pytest.mark.parametrize(
    ("change", "field"),
    [
        pytest.param(
            ("minAckRatio: 1.0", "minAckRatio: 0.9"), "spec.rollout.clients.minAckRatio", id="clients-rule"
        ),
        pytest.param(("approvals: [4]", "approvals: [1, 4]"), "spec.rollout.approvals", id="approvals"),
        pytest.param(('start: "22:00"', 'start: "23:00"'), "spec.rollout.window", id="window"),
        pytest.param(
            ("original: Default Management Server List}", "original: Another List}"),
            "spec.rollout.managementServerList",
            id="list-names",
        ),
        pytest.param(("  rollout:\n", "  rollout:\n    wave: 2\n"), "spec.rollout.wave", id="wave"),
    ],
)
def test_every_setting_the_site_shares_must_agree(
    tmp_path: Path, change: tuple[str, str], field: str
) -> None:
    _site(tmp_path, change)
    errors = load_specs(tmp_path).errors
    assert [(i.code, i.field) for i in errors] == [("site-conflict", field)]
    assert f"{tmp_path}/b.yaml:" in str(errors[0]) and f"({tmp_path}/a.yaml:" in str(errors[0])


def test_servers_of_different_sites_may_differ(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            "a.yaml": spec(GROUPS),
            "b.yaml": spec(("minAckRatio: 1.0", "minAckRatio: 0.5"), name="sepm-west-01", site="Site West"),
        },
    )
    assert load_specs(tmp_path).valid
