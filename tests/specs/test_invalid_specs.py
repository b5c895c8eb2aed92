"""Every way a spec can be wrong gets exactly one located, actionable message (and nothing is loaded from it).

Each case writes files into an empty directory and asserts the complete list of findings, as ``validate`` prints
them: ``file:line:col: field: message``. ``{d}`` stands for the directory.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reconciler.specs import load_specs
from tests.specs.helpers import BASE, spec, write_files

MSL = "    managementServerList: {http: Default Management Server List (HTTP), original: Default Management Server List}"

CASES = [
    # --- YAML itself ---------------------------------------------------------------------------------------------
    pytest.param(
        {"east.yaml": spec(("  name: sepm-east-01", "  name: [sepm-east-01"))},
        [
            "{d}/east.yaml:5:5: YAML syntax error: expected ',' or ']', but got ':' (while parsing a "
            "flow sequence that starts at line 4, column 9)"
        ],
        id="yaml-syntax-error",
    ),
    pytest.param(
        {"east.yaml": spec(("    site: Site East", "\tsite: Site East"))},
        [
            "{d}/east.yaml:8:1: YAML syntax error: found character '\\t' that cannot start any token (while scanning for the next token)"
        ],
        id="yaml-tab-indentation",
    ),
    pytest.param(
        {"east.yaml": spec(("    site: Site East", "    site: Site East\n    site: Site West"))},
        [
            "{d}/east.yaml:9:5: spec.server.site: duplicate key 'site' (first at line 8, column 5): YAML would "
            "silently keep only the last one; remove one of them"
        ],
        id="duplicate-key",
    ),
    pytest.param(
        {"east.yaml": spec(("  name: sepm-east-01", "  name: !vault sepm-east-01"))},
        [
            "{d}/east.yaml:4:9: metadata.name: unsupported YAML value: could not determine a constructor for the "
            "tag '!vault'",
        ],
        id="unknown-yaml-tag",
    ),
    pytest.param(
        {"east.yaml": b"apiVersion: sepm-reconciler/v1\nkind: ManagedServer\nmetadata: {name: caf\xe9}\n"},
        ["{d}/east.yaml:3:21: is not UTF-8 text (byte 0xe9): save it as UTF-8"],
        id="not-utf8",
    ),
    pytest.param(
        {"east.yaml": "- apiVersion: sepm-reconciler/v1\n- kind: ManagedServer\n"},
        [
            "{d}/east.yaml:1:1: a spec document must be a mapping with apiVersion, kind, metadata and spec, got a list",
        ],
        id="document-is-a-list",
    ),
    # --- document envelope -------------------------------------------------------------------------------------
    pytest.param(
        {"east.yaml": spec(("apiVersion: sepm-reconciler/v1", "apiVersion: sepm-reconciler/v2"))},
        ["{d}/east.yaml:1:1: apiVersion: must be sepm-reconciler/v1, got 'sepm-reconciler/v2'"],
        id="wrong-api-version",
    ),
    pytest.param(
        {"east.yaml": spec(("apiVersion: sepm-reconciler/v1\n", ""))},
        ["{d}/east.yaml:1:1: apiVersion: required field is missing: add apiVersion: sepm-reconciler/v1"],
        id="missing-api-version",
    ),
    pytest.param(
        {"east.yaml": spec(("kind: ManagedServer", "kind: ManagedSever"))},
        ["{d}/east.yaml:2:1: kind: must be ManagedServer or Defaults, got 'ManagedSever'"],
        id="wrong-kind",
    ),
    pytest.param(
        {"east.yaml": spec(("kind: ManagedServer\n", ""))},
        ["{d}/east.yaml:1:1: kind: required field is missing: add kind: ManagedServer (or Defaults)"],
        id="missing-kind",
    ),
    pytest.param(
        {"east.yaml": spec(("spec:", "specs:"))},
        [
            "{d}/east.yaml:1:1: spec: required field is missing",
            "{d}/east.yaml:5:1: specs: unknown field 'specs': did you mean 'spec'?",
        ],
        id="misspelt-top-level-key",
    ),
    # --- fields --------------------------------------------------------------------------------------------------
    pytest.param(
        {"east.yaml": spec(("      minAckRatio: 1.0", "      minAckRatio: 1.5"))},
        ["{d}/east.yaml:16:7: spec.rollout.clients.minAckRatio: must be between 0 and 1, got 1.5"],
        id="ratio-out-of-range",
    ),
    pytest.param(
        {"east.yaml": spec(("      minAckRatio: 1.0", "      minAckRation: 1.0"))},
        [
            "{d}/east.yaml:16:7: spec.rollout.clients.minAckRation: unknown field 'minAckRation': did you mean 'minAckRatio'?"
        ],
        id="unknown-field-suggests",
    ),
    pytest.param(
        {"east.yaml": spec(("    site: Site East", "    ca_bundle: ca.pem"))},
        [
            "{d}/east.yaml:6:3: spec.server.site: required field is missing",
            "{d}/east.yaml:8:5: spec.server.ca_bundle: unknown field 'ca_bundle': did you mean 'caBundle'?",
        ],
        id="snake-case-key-and-missing-field-at-parent",
    ),
    pytest.param(
        {"east.yaml": spec(("      password: {env: SEPM_PASSWORD}", "      password: hunter2"))},
        [
            "{d}/east.yaml:11:7: spec.server.credentials.password: plain-text secrets are not allowed in specs "
            "(they are committed to Git): use {env: NAME} or {file: PATH}"
        ],
        id="plain-text-password",
    ),
    pytest.param(
        {"east.yaml": spec(("https://sepm-east-01", "https://admin:hunter2@sepm-east-01"))},
        [
            "{d}/east.yaml:7:5: spec.server.apiUrl: must not contain credentials; put them under credentials "
            "with {env: NAME} or {file: PATH}"
        ],
        id="credentials-in-url",
    ),
    pytest.param(
        {"east.yaml": spec(("https://sepm-east-01", "http://sepm-east-01"))},
        [
            "{d}/east.yaml:7:5: spec.server.apiUrl: must be an https:// URL such as "
            "https://sepm-east-01.corp.example:8446/sepm/api/v1, got "
            "'http://sepm-east-01.corp.example:8446/sepm/api/v1'"
        ],
        id="http-url",
    ),
    pytest.param(
        {"east.yaml": spec(("    site: Site East", '    ports: {clients: 70000, api: "8446"}'))},
        [
            "{d}/east.yaml:6:3: spec.server.site: required field is missing",
            "{d}/east.yaml:8:13: spec.server.ports.clients: must be between 1 and 65535, got 70000",
            "{d}/east.yaml:8:29: spec.server.ports.api: must be a whole number, got '8446': write it without quotes",
        ],
        id="ports-range-and-quoted-number",
    ),
    pytest.param(
        {"east.yaml": spec(("      minAckRatio: 1.0", "      minSoak: 24"))},
        [
            "{d}/east.yaml:16:7: spec.rollout.clients.minSoak: a bare number is ambiguous: write 24s, 24m, 24h or 24d"
        ],
        id="duration-without-unit",
    ),
    pytest.param(
        {"east.yaml": spec(("      minAckRatio: 1.0", "      maxSoak: 2w"))},
        [
            "{d}/east.yaml:16:7: spec.rollout.clients.maxSoak: invalid duration '2w': use a number and a unit s, "
            "m, h or d, e.g. 30s, 15m, 24h, 7d"
        ],
        id="duration-unknown-unit",
    ),
    pytest.param(
        {
            "east.yaml": spec(
                (
                    "    clients:\n      minAckRatio: 1.0",
                    "    clients: {minSoak: 7d, maxSoak: 2d, excludeOfflineFor: 8d}\n",
                )
            )
        },
        ["{d}/east.yaml:15:5: spec.rollout.clients: maxSoak (2d) must not be shorter than minSoak (7d)"],
        id="max-soak-shorter-than-min-soak",
    ),
    pytest.param(
        {
            "east.yaml": spec(
                (
                    "    clients:\n      minAckRatio: 1.0",
                    "    clients: {minSoak: 24h, excludeOfflineFor: 1d}\n",
                )
            )
        },
        [
            "{d}/east.yaml:15:5: spec.rollout.clients: excludeOfflineFor (1d) must be longer than minSoak (1d): "
            "a client silent for the whole soak — one the change may have cut off — would otherwise stop being "
            "waited for before the wait ends; raise excludeOfflineFor or shorten minSoak"
        ],
        id="exclude-offline-not-longer-than-min-soak",
    ),
    pytest.param(
        {
            "east.yaml": spec(
                ("    clients:\n      minAckRatio: 1.0", "    clients: {afterSwap: {minSoak: 20d}}\n")
            )
        },
        [
            "{d}/east.yaml:15:5: spec.rollout.clients: afterSwap: maxSoak (14d) must not be shorter than minSoak (20d)"
        ],
        id="after-swap-max-soak-shorter-than-min-soak",
    ),
    pytest.param(
        {"east.yaml": spec((MSL, "    managementServerList: {http: HTTP list}"))},
        [
            "{d}/east.yaml:21:5: spec.rollout.managementServerList: original is missing: give http (the HTTP copy of "
            "the clients' list) and original (the list they use now), or skip: true with a reason"
        ],
        id="management-server-list-without-original",
    ),
    pytest.param(
        {"east.yaml": spec((MSL, "    managementServerList: {skip: true}"))},
        [
            "{d}/east.yaml:21:5: spec.rollout.managementServerList: skip: true needs a reason (why the clients need "
            "no HTTP list around the certificate change); every report shows it"
        ],
        id="management-server-list-skip-without-reason",
    ),
    pytest.param(
        {"east.yaml": spec((MSL, "    managementServerList: {http: A, original: A}"))},
        [
            "{d}/east.yaml:21:5: spec.rollout.managementServerList: http and original are the same list ('A'): http is "
            "a copy of the original that uses HTTP"
        ],
        id="management-server-list-same-twice",
    ),
    pytest.param(
        {"east.yaml": spec((MSL, "    managementServerList: {skip: true, reason: r, http: A}"))},
        [
            "{d}/east.yaml:21:5: spec.rollout.managementServerList: give either http and original (the lists of steps "
            "2a and 5b) or skip: true with a reason, not both"
        ],
        id="management-server-list-skip-and-names",
    ),
    pytest.param(
        {"east.yaml": spec(("  name: sepm-east-01", "  name: SEPM_East"))},
        [
            "{d}/east.yaml:4:3: metadata.name: must be a DNS label: lowercase letters, digits and '-', 1 to 63 "
            "characters, starting and ending with a letter or digit, got 'SEPM_East'"
        ],
        id="name-not-a-dns-label",
    ),
    pytest.param(
        {"east.yaml": spec(("fingerprint: sha256:abab", "fingerprint: sha1:abab"))},
        [
            "{d}/east.yaml:13:5: spec.certificate.fingerprint: must be sha256: followed by 64 hex digits (the "
            f"SHA-256 of the DER certificate), got 'sha1:{'ab' * 32}'"
        ],
        id="fingerprint-wrong-form",
    ),
    pytest.param(
        {"east.yaml": spec(("    fingerprint:", "    file: east.crt\n    fingerprint:"))},
        [
            "{d}/east.yaml:12:3: spec.certificate: give exactly one of file (a public PEM/DER certificate) or "
            "fingerprint (sha256:…)"
        ],
        id="certificate-file-and-fingerprint",
    ),
    pytest.param(
        {
            "east.yaml": spec(
                ("  certificate:\n", "  certificate:\n    expiryWarning: 30d\n"),
                ("    fingerprint: sha256:" + "ab" * 32 + "\n", ""),
            )
        },
        [
            "{d}/east.yaml:12:3: spec.certificate: give exactly one of file (a public PEM/DER certificate) or "
            "fingerprint (sha256:…)"
        ],
        id="certificate-neither-file-nor-fingerprint",
    ),
    pytest.param(
        {
            "east.yaml": spec(
                ("  certificate:\n    fingerprint: sha256:" + "ab" * 32 + "\n", "  certificate:\n\n")
            )
        },
        ["{d}/east.yaml:12:3: spec.certificate: is empty: a value is required here (a mapping)"],
        id="certificate-empty",
    ),
    pytest.param(
        {"east.yaml": spec(("timezone: Europe/Madrid", "timezone: Europe/Madird"))},
        [
            "{d}/east.yaml:18:62: spec.rollout.window.timezone: unknown time zone 'Europe/Madird': use an IANA name "
            "such as Europe/Madrid, America/New_York or UTC"
        ],
        id="unknown-timezone",
    ),
    pytest.param(
        {"east.yaml": spec(('end: "04:00"', 'end: "22:00"'))},
        [
            "{d}/east.yaml:18:5: spec.rollout.window: start and end are equal: the window would be empty (omit "
            "window to allow any time)"
        ],
        id="empty-window",
    ),
    pytest.param(
        {"east.yaml": spec(('start: "22:00"', "start: 25:00"))},
        [
            "{d}/east.yaml:18:32: spec.rollout.window.start: must be a time of day \"HH:MM\" (24-hour clock, quoted), got '25:00'"
        ],
        id="time-of-day-out-of-range",
    ),
    pytest.param(
        {"east.yaml": spec(("days: [sat, sun]", "days: [sat, sunday]"))},
        [
            "{d}/east.yaml:18:26: spec.rollout.window.days[1]: must be 'mon', 'tue', 'wed', 'thu', 'fri', 'sat' or 'sun', got 'sunday'"
        ],
        id="unknown-weekday",
    ),
    pytest.param(
        {"east.yaml": spec(("approvals: [4]", "approvals: [4, 9]"))},
        ["{d}/east.yaml:17:5: spec.rollout.approvals: steps are numbered 1 to 7, got 9"],
        id="approval-step-out-of-range",
    ),
    pytest.param(
        {"east.yaml": spec(("    approvals: [4]", "    mode: dry-run"))},
        ["{d}/east.yaml:17:5: spec.rollout.mode: must be 'enforce' or 'report', got 'dry-run'"],
        id="unknown-mode",
    ),
    pytest.param(
        {
            "east.yaml": spec(
                ("updateCertificate: {command: [sh, -c, exit], timeout: 30m}", "breakReplication: auto")
            )
        },
        [
            "{d}/east.yaml:20:7: spec.rollout.actions.breakReplication: must be manual, or {command: [PROGRAM, ARG, "
            "…], timeout: 30m}, got 'auto'"
        ],
        id="unknown-action",
    ),
    pytest.param(
        {
            "east.yaml": spec(
                (
                    "    site: Site East",
                    "    site: Site East\n    api: {throttleWindow: 0s, maxResponseSize: 12KB, pageSize: 5}",
                )
            )
        },
        [
            "{d}/east.yaml:9:11: spec.server.api.throttleWindow: must be longer than 0s",
            "{d}/east.yaml:9:31: spec.server.api.maxResponseSize: must be a size such as 64MiB, 512KiB or a number "
            "of bytes, got '12KB'",
            "{d}/east.yaml:9:54: spec.server.api.pageSize: must be between 20 and 10000, got 5",
        ],
        id="api-limits",
    ),
    pytest.param(
        {"east.yaml": spec(("    site: Site East", "    site: Site East\n    api: {maxResponseSize: 10}"))},
        ["{d}/east.yaml:9:11: spec.server.api.maxResponseSize: must be between 1MiB and 2GiB, got 10 bytes"],
        id="api-response-size-out-of-range",
    ),
    pytest.param(
        {"east.yaml": spec(("command: [sh, -c, exit], timeout: 30m", "command: [], timeout: 0s"))},
        [
            "{d}/east.yaml:20:27: spec.rollout.actions.updateCertificate.command: must not be empty",
            "{d}/east.yaml:20:40: spec.rollout.actions.updateCertificate.timeout: must be longer than 0s",
        ],
        id="empty-hook-command-and-zero-timeout",
    ),
    pytest.param(
        {
            "east.yaml": spec(
                ("password: {env: SEPM_PASSWORD}", "password: {env: SEPM_PASSWORD, file: pw.txt}")
            )
        },
        [
            "{d}/east.yaml:11:7: spec.server.credentials.password: give one of env or file, not both: {env: NAME} "
            "or {file: PATH}"
        ],
        id="secret-ref-env-and-file",
    ),
    pytest.param(
        {"east.yaml": spec(("password: {env: SEPM_PASSWORD}", "password: {env: 1PASSWORD}"))},
        [
            "{d}/east.yaml:11:18: spec.server.credentials.password.env: must be an environment variable name "
            "(letters, digits and _, not starting with a digit), got '1PASSWORD'"
        ],
        id="secret-env-name-invalid",
    ),
    pytest.param(
        {"east.yaml": spec(("  rollout:", "  replication: {partners: [Site East]}\n  rollout:"))},
        [
            "{d}/east.yaml:5:1: spec: replication.partners lists the server's own site 'Site East': list the other "
            "sites it replicates with"
        ],
        id="partner-is-own-site",
    ),
    pytest.param(
        {"east.yaml": spec(("  rollout:", "  replication: {partners: [Site West, Site West]}\n  rollout:"))},
        [
            "{d}/east.yaml:14:17: spec.replication.partners: partners must be unique: 'Site West' is listed twice"
        ],
        id="duplicate-partner",
    ),
    # --- across documents and files -------------------------------------------------------------------------------
    pytest.param(
        {"a.yaml": BASE, "b.yaml": spec(("https://sepm-east-01", "https://sepm-east-02"))},
        [
            "{d}/b.yaml:4:3: metadata.name: duplicate server name 'sepm-east-01': already defined at {d}/a.yaml:4:3; "
            "names must be unique across all spec files"
        ],
        id="duplicate-name-across-files",
    ),
    pytest.param(
        {"a.yaml": BASE + "---\n" + spec(("  name: sepm-east-01", "  name: sepm-east-02"))},
        [
            "{d}/a.yaml:29:5: spec.server.apiUrl: sepm-east-01.corp.example:8446 is already managed by "
            "'sepm-east-01' ({d}/a.yaml:7:5): two specs would rotate the same manager"
        ],
        id="two-names-one-manager",
    ),
    pytest.param(
        {
            "a.yaml": BASE,
            "defaults.yaml": "apiVersion: sepm-reconciler/v1\nkind: Defaults\nspec: {}\n---\n"
            "apiVersion: sepm-reconciler/v1\nkind: Defaults\nspec: {}\n",
        },
        [
            "{d}/defaults.yaml:5:1: a second Defaults document in {d} (the first is at {d}/defaults.yaml:1:1): "
            "merge them into one"
        ],
        id="two-defaults-in-one-directory",
    ),
    pytest.param(
        {
            "a.yaml": BASE,
            "defaults.yaml": "apiVersion: sepm-reconciler/v1\nkind: Defaults\nspec:\n  rollout:\n"
            "    clients: {excludeOfflineFor: forever}\nmetadat: {}\n",
        },
        [
            "{d}/defaults.yaml:5:15: spec.rollout.clients.excludeOfflineFor: invalid duration 'forever': use a "
            "number and a unit s, m, h or d, e.g. 30s, 15m, 24h, 7d",
            "{d}/defaults.yaml:6:1: metadat: unknown field 'metadat'; a Defaults document holds apiVersion, kind, "
            "metadata, spec",
        ],
        id="errors-from-defaults-point-into-the-defaults-file",
    ),
    pytest.param(
        {
            "a.yaml": BASE,
            "defaults.yaml": "apiVersion: sepm-reconciler/v1\nkind: Defaults\nmetadata: {nam: corp}\nspec: {}\n",
        },
        [
            "{d}/defaults.yaml:3:12: metadata.nam: unknown field 'nam'; allowed here: name, labels, annotations"
        ],
        id="defaults-metadata-unknown-key",
    ),
    pytest.param(
        {},
        ["{d}: no *.yaml or *.yml files found: add one ManagedServer document per server (see docs/spec.md)"],
        id="empty-directory",
    ),
    pytest.param(
        {"notes.yaml": "# nothing here yet\n"},
        ["{d}: no ManagedServer document found: nothing to manage"],
        id="no-server-documents",
    ),
]


@pytest.mark.parametrize(("files", "expected"), CASES)
def test_each_invalid_spec_gets_one_located_message(
    tmp_path: Path, files: dict[str, str | bytes], expected: list[str]
) -> None:
    write_files(tmp_path, files)
    spec_set = load_specs(tmp_path)
    assert [str(issue) for issue in spec_set.issues] == [
        line.replace("{d}", str(tmp_path)) for line in expected
    ]
    assert not spec_set.valid
    assert all(issue.severity == "error" for issue in spec_set.issues)


def test_a_nonexistent_path_is_reported(tmp_path: Path) -> None:
    spec_set = load_specs(tmp_path / "nope")
    assert [str(i) for i in spec_set.issues] == [
        f"{tmp_path}/nope: does not exist: give a directory of *.yaml specs or one file"
    ]
    assert spec_set.servers == {}


def test_an_unreadable_spec_file_is_reported_and_the_others_still_load(tmp_path: Path) -> None:
    write_files(tmp_path, {"a.yaml": BASE})
    (tmp_path / "broken.yaml").symlink_to(tmp_path / "gone.yaml")
    spec_set = load_specs(tmp_path)
    assert [str(i) for i in spec_set.issues] == [
        f"{tmp_path}/broken.yaml: cannot read: No such file or directory"
    ]
    assert list(spec_set.servers) == ["sepm-east-01"]


def test_a_fifo_named_like_a_spec_is_reported_instead_of_blocking_the_run(tmp_path: Path) -> None:
    write_files(tmp_path, {"a.yaml": BASE})
    os.mkfifo(tmp_path / "pipe.yaml")  # reading it would wait for a writer forever
    spec_set = load_specs(tmp_path)
    assert [str(i) for i in spec_set.issues] == [
        f"{tmp_path}/pipe.yaml: is not a regular file: remove it or rename it"
    ]
    assert list(spec_set.servers) == ["sepm-east-01"]


@pytest.mark.timeout(20)
def test_a_symbolic_link_loop_is_read_once_instead_of_forever(tmp_path: Path) -> None:
    write_files(
        tmp_path, {"a.yaml": BASE, "sub/b.yaml": spec(name="sepm-b").replace("east-01.corp", "b.corp")}
    )
    (tmp_path / "sub" / "up").symlink_to("..")  # sub/up/sub/up/… would never end
    (tmp_path / "self").symlink_to(".")
    spec_set = load_specs(tmp_path)
    assert spec_set.issues == []
    assert list(spec_set.servers) == ["sepm-east-01", "sepm-b"]
    assert [p.relative_to(tmp_path).as_posix() for p in spec_set.files] == ["a.yaml", "sub/b.yaml"]


def test_all_errors_of_all_files_are_reported_in_one_run(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            "a.yaml": spec(("      minAckRatio: 1.0", "      minAckRatio: 2")),
            "sub/b.yaml": spec(("password: {env: SEPM_PASSWORD}", "password: secret"), name="sepm-b"),
            "sub/c.yaml": "kind: [",
        },
    )
    spec_set = load_specs(tmp_path)
    assert [(Path(i.file).name, i.line, i.code) for i in spec_set.issues] == [
        ("a.yaml", 16, "out-of-range"),
        ("b.yaml", 11, "plain-text-secret"),
        ("c.yaml", 1, "yaml"),
    ]


def test_secret_values_never_appear_in_messages(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            "a.yaml": spec(
                ("password: {env: SEPM_PASSWORD}", "password: Tr0ub4dor&3"),
                ("https://sepm-east-01", "https://admin:Tr0ub4dor-3@sepm-east-01"),
                ("username: {env: SEPM_USER}", "username: [Tr0ub4dor_5]"),
            )
        },
    )
    spec_set = load_specs(tmp_path)
    assert len(spec_set.issues) == 3
    text = "\n".join(str(i) for i in spec_set.issues)
    assert "Tr0ub4dor" not in text
