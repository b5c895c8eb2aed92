"""Loading a specs directory: discovery, Defaults, relative paths, YAML conveniences, cross-server findings."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from reconciler.core.spec import EnvRef, FileRef, Mode
from reconciler.specs import Location, Severity, load_specs
from tests.specs.helpers import BASE, spec, write_files

DEFAULTS = """\
apiVersion: sepm-reconciler/v1
kind: Defaults
spec:
  server:
    caBundle: ca/root.pem
    credentials:
      username: {env: DEFAULT_USER}
      password: {file: secrets/default-password}
  rollout:
    mode: report
    clients: {minSoak: 48h, groups: [Default Group]}
    approvals: [1, 4, 7]
"""

# A server that relies on Defaults for credentials and overrides parts of rollout.
LEAN = """\
apiVersion: sepm-reconciler/v1
kind: ManagedServer
metadata: {name: sepm-lean-01}
spec:
  server:
    apiUrl: https://sepm-lean-01.corp.example:8446/sepm/api/v1
    site: Site Lean
  certificate: {file: certs/lean.crt}
  rollout:
    clients: {groups: [Laptops]}
    approvals: []
"""


def test_a_directory_is_read_recursively_in_sorted_order_skipping_hidden_entries(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            "b.yml": spec(name="sepm-b"),
            "a.yaml": spec(name="sepm-a"),
            "sub/c.yaml": spec(name="sepm-c"),
            ".hidden.yaml": "not: [valid",
            ".git/config.yaml": "not: [valid",
            "README.md": "# not a spec",
        },
    )
    spec_set = load_specs(tmp_path)
    assert spec_set.issues == []
    assert list(spec_set.servers) == ["sepm-a", "sepm-b", "sepm-c"]
    assert [p.name for p in spec_set.files] == ["a.yaml", "b.yml", "c.yaml"]


def test_a_file_may_hold_many_documents_and_empty_ones_are_ignored(tmp_path: Path) -> None:
    write_files(tmp_path, {"all.yaml": "---\n" + spec(name="sepm-a") + "---\n---\n" + spec(name="sepm-b")})
    spec_set = load_specs(tmp_path / "all.yaml")
    assert spec_set.issues == []
    assert [(s.name, s.line) for s in spec_set.servers.values()] == [("sepm-a", 2), ("sepm-b", 25)]


def test_defaults_merge_under_servers_of_the_same_directory_and_the_server_wins(tmp_path: Path) -> None:
    write_files(tmp_path, {"defaults.yaml": DEFAULTS, "lean.yaml": LEAN, "full.yaml": BASE})
    spec_set = load_specs(tmp_path)
    assert spec_set.issues == []
    lean = spec_set.servers["sepm-lean-01"].spec.spec
    assert lean.server.ca_bundle == str(tmp_path / "ca/root.pem")
    assert lean.server.credentials.username == EnvRef(env="DEFAULT_USER")
    assert lean.rollout.mode is Mode.REPORT  # from Defaults
    assert lean.rollout.clients.min_soak == timedelta(
        hours=48
    )  # merged inside a mapping the server also sets
    assert lean.rollout.clients.groups == ["Laptops"]  # lists are replaced, not appended
    assert lean.rollout.approvals == []  # an explicit empty list wins
    full = spec_set.servers["sepm-east-01"].spec.spec
    assert full.server.credentials.password == EnvRef(env="SEPM_PASSWORD")  # a secret ref is replaced whole
    assert full.rollout.approvals == [4]


def test_defaults_do_not_reach_into_subdirectories(tmp_path: Path) -> None:
    write_files(tmp_path, {"defaults.yaml": DEFAULTS, "full.yaml": BASE, "sub/lean.yaml": LEAN})
    spec_set = load_specs(tmp_path)
    assert [str(i).replace(str(tmp_path), "{d}") for i in spec_set.issues] == [
        "{d}/sub/lean.yaml:5:3: spec.server.credentials: required field is missing"
    ]


def test_an_explicit_null_overrides_a_default(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {"defaults.yaml": DEFAULTS, "lean.yaml": LEAN.replace("    approvals: []", "    window: null")},
    )
    server = load_specs(tmp_path).servers["sepm-lean-01"]
    assert server.spec.spec.rollout.window is None
    assert server.spec.spec.rollout.approvals == [1, 4, 7]


def test_relative_paths_resolve_from_the_spec_files_directory_and_the_written_form_is_kept(
    tmp_path: Path,
) -> None:
    write_files(tmp_path, {"defaults.yaml": DEFAULTS, "lean.yaml": LEAN})
    server = load_specs(tmp_path).servers["sepm-lean-01"]
    assert server.base_dir == tmp_path.resolve()
    assert server.source == (tmp_path / "lean.yaml").resolve()
    assert server.spec.spec.certificate.file == str(tmp_path / "certs/lean.crt")
    assert server.spec.spec.server.credentials.password == FileRef(
        file=str(tmp_path / "secrets/default-password")
    )
    assert dict(server.written) == {
        "spec.server.caBundle": "ca/root.pem",
        "spec.certificate.file": "certs/lean.crt",
        "spec.server.credentials.password.file": "secrets/default-password",
    }


def test_locate_points_at_the_file_where_a_field_is_written(tmp_path: Path) -> None:
    write_files(tmp_path, {"defaults.yaml": DEFAULTS, "lean.yaml": LEAN})
    server = load_specs(tmp_path).servers["sepm-lean-01"]
    assert server.locate("spec.certificate.file") == Location(str(tmp_path / "lean.yaml"), 8, 17)
    assert server.locate("spec.server.caBundle") == Location(str(tmp_path / "defaults.yaml"), 5, 5)
    assert server.locate("spec.rollout.clients.groups[0]") == Location(str(tmp_path / "lean.yaml"), 10, 24)
    # not written anywhere: the nearest written ancestor
    assert server.locate("spec.rollout.window.start") == Location(str(tmp_path / "lean.yaml"), 9, 3)


def test_unquoted_times_stay_strings_instead_of_yaml_base_60_numbers(tmp_path: Path) -> None:
    write_files(tmp_path, {"a.yaml": spec(('start: "22:00", end: "04:00"', "start: 22:00, end: 04:30"))})
    spec_set = load_specs(tmp_path)
    assert spec_set.issues == []
    window = spec_set.servers["sepm-east-01"].spec.spec.rollout.window
    assert window is not None and (window.start, window.end) == ("22:00", "04:30")


def test_anchors_aliases_and_merge_keys_work_and_explicit_keys_win(tmp_path: Path) -> None:
    text = spec(
        ("  name: sepm-east-01", "  name: sepm-east-01\n  annotations: {site: &site Site East}"),
        ("    site: Site East", "    site: *site"),
        ("      minAckRatio: 1.0", "      <<: {minAckRatio: 0.5, minSoak: 2h}\n      minSoak: 3h"),
    )
    write_files(tmp_path, {"a.yaml": text})
    spec_set = load_specs(tmp_path)
    assert spec_set.issues == []
    server = spec_set.servers["sepm-east-01"].spec
    assert server.spec.server.site == "Site East"
    clients = server.spec.rollout.clients
    assert (clients.min_ack_ratio, clients.min_soak) == (0.5, timedelta(hours=3))


def test_an_alias_bomb_is_refused_without_expanding_it(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 7)]
    write_files(tmp_path, {"bomb.yaml": "\n".join(lines) + "\n"})
    spec_set = load_specs(tmp_path)
    assert [str(i).replace(str(tmp_path), "{d}") for i in spec_set.issues] == [
        "{d}/bomb.yaml:1:1: the document expands to more than 20000 YAML nodes or 64 levels (aliases?): refusing it"
    ]


def _deep_aliases() -> str:
    """Each anchor nests the previous one 40 levels deeper: 30 lines that expand 1,200 levels deep."""
    lines = ["a0: &a0 x"]
    lines += [f"a{i}: &a{i} " + "[" * 40 + f"*a{i - 1}" + "]" * 40 for i in range(1, 31)]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "[" * 1000 + "]" * 1000 + "\n",
            "{d}/a.yaml:1:65: nested deeper than 64 levels: a spec is only a few levels deep; refusing the file",
            id="deep-flow-sequences",
        ),
        pytest.param(
            "".join("  " * i + "k:\n" for i in range(1000)),
            "{d}/a.yaml:64:127: nested deeper than 64 levels: a spec is only a few levels deep; refusing the file",
            id="deep-block-mappings",
        ),
        pytest.param(
            _deep_aliases(),
            "{d}/a.yaml:1:1: the document expands to more than 20000 YAML nodes or 64 levels (aliases?): refusing it",
            id="aliases-nesting-deeper-and-deeper",
        ),
        pytest.param(
            "k: [" + "1, " * 30_000 + "1]\n",
            "{d}/a.yaml:1:59996: more than 20000 YAML nodes in one file: split the specs into files (one per "
            "server); refusing the rest of the file",
            id="too-many-nodes",
        ),
        pytest.param(
            "apiVersion: " + "9" * 5000 + "\n",
            "{d}/a.yaml:1:13: apiVersion: cannot read this value (Exceeds the limit (4300 digits) for integer string "
            "conversion): quote it if it is text",
            id="integer-of-5000-digits",
        ),
        pytest.param(
            "apiVersion: 2026-02-30\n",
            "{d}/a.yaml:1:13: apiVersion: cannot read this value (day is out of range for month): quote it if it is "
            "text",
            id="a-date-that-does-not-exist",
        ),
    ],
)
def test_hostile_yaml_is_a_located_issue_never_an_exception(tmp_path: Path, text: str, expected: str) -> None:
    write_files(tmp_path, {"a.yaml": text})
    spec_set = load_specs(tmp_path)
    located = [str(i).replace(str(tmp_path), "{d}") for i in spec_set.errors if i.code == "yaml"]
    assert located == [expected]
    assert not spec_set.valid and spec_set.servers == {}


def test_a_spec_file_over_one_mebibyte_is_not_read(tmp_path: Path) -> None:
    write_files(tmp_path, {"a.yaml": spec(), "big.yaml": "# " + "x" * (1024 * 1024) + "\n"})
    spec_set = load_specs(tmp_path)
    assert [str(i).replace(str(tmp_path), "{d}") for i in spec_set.errors] == [
        "{d}/big.yaml: is 1048579 bytes: too large for a spec file (at most 1048576); not read"
    ]
    assert list(spec_set.servers) == ["sepm-east-01"]


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        pytest.param(
            {"a.yaml": spec(("  rollout:", "  replication: {partners: [Site North]}\n  rollout:"))},
            (
                Severity.INFO,
                "replication-partner-unmanaged",
                "{d}/a.yaml:14:17: spec.replication.partners: info: partner site 'Site North' is not the site of any "
                "server in these specs: the reconciler breaks and restores only this side of the partnership",
            ),
            id="partner-not-managed",
        ),
        pytest.param(
            {
                "a.yaml": spec(("  rollout:", "  replication: {partners: [Site West]}\n  rollout:")),
                "b.yaml": spec(name="sepm-west-01", site="Site West"),
            },
            (
                Severity.WARNING,
                "replication-asymmetric",
                "{d}/a.yaml:14:17: spec.replication.partners: warning: lists 'Site West', but no server of "
                "'Site West' lists 'Site East' as a partner: replication is symmetric, declare it on both sides",
            ),
            id="partnership-declared-on-one-side",
        ),
        pytest.param(
            {"a.yaml": spec(("    site: Site East", "    site: Site East\n    ports: {api: 9446}"))},
            (
                Severity.WARNING,
                "api-port-mismatch",
                "{d}/a.yaml:9:13: spec.server.ports.api: warning: is 9446 but apiUrl uses port 8446: the API "
                "port's certificate is observed on ports.api",
            ),
            id="api-port-differs-from-url",
        ),
        pytest.param(
            {"a.yaml": BASE, "sub/defaults.yaml": DEFAULTS},
            (
                Severity.WARNING,
                "defaults-unused",
                "{d}/sub/defaults.yaml:1:1: warning: this Defaults document applies to no server: Defaults apply "
                "to the ManagedServer documents of the same directory only",
            ),
            id="defaults-without-servers",
        ),
    ],
)
def test_cross_server_findings_are_warnings_or_info_and_keep_the_set_valid(
    tmp_path: Path, files: dict[str, str], expected: tuple[Severity, str, str]
) -> None:
    write_files(tmp_path, files)
    spec_set = load_specs(tmp_path)
    assert spec_set.valid
    assert [(i.severity, i.code, str(i).replace(str(tmp_path), "{d}")) for i in spec_set.issues] == [expected]


def test_a_symmetric_partnership_between_managed_servers_has_no_findings(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            "a.yaml": spec(("  rollout:", "  replication: {partners: [Site West]}\n  rollout:")),
            "b.yaml": spec(
                ("  rollout:", "  replication: {partners: [Site East]}\n  rollout:"),
                name="sepm-west-01",
                site="Site West",
            ),
        },
    )
    assert load_specs(tmp_path).issues == []
