"""Golden files: each output format of three fixed reports (a fleet with every kind of finding, a fleet in sync,
an offline read-back), byte for byte.

A golden file is the reviewed output. After an intended change of the output, regenerate them and review the diff:

    SEPM_UPDATE_GOLDEN=1 .venv/bin/pytest tests/report/test_golden.py
    git diff tests/report/golden/

With ``SEPM_UPDATE_GOLDEN=1`` the tests rewrite the files and are skipped (never silently passed); without it, a
missing or different golden file fails.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Callable
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from reconciler.report import JSON_SCHEMA, Report, render
from tests.report.scenario import HOSTILE, fleet_report, in_sync_report, offline_report

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("SEPM_UPDATE_GOLDEN") == "1"
REPORTS: dict[str, Callable[[], Report]] = {
    "fleet": fleet_report,
    "in-sync": in_sync_report,
    "offline": offline_report,
}
SUFFIX = {"text": "txt", "json": "json", "markdown": "md", "html": "html"}


def _compare(path: Path, actual: str) -> None:
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
        pytest.skip(f"rewrote {path.relative_to(GOLDEN.parent)}: review it with git diff")
    assert path.exists(), (
        f"{path} is missing: run SEPM_UPDATE_GOLDEN=1 pytest {Path(__file__).name} and review it"
    )
    expected = path.read_text(encoding="utf-8")
    if actual != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True), actual.splitlines(keepends=True), "golden", "actual"
            )
        )
        pytest.fail(f"{path.name} differs from the golden file (SEPM_UPDATE_GOLDEN=1 to accept):\n{diff}")


@pytest.mark.parametrize("output", list(SUFFIX))
@pytest.mark.parametrize("name", list(REPORTS))
def test_each_format_matches_its_golden_file(name: str, output: str) -> None:
    _compare(GOLDEN / f"{name}.{SUFFIX[output]}", render(REPORTS[name](), output))


def test_rendering_is_deterministic() -> None:
    assert all(render(fleet_report(), output) == render(fleet_report(), output) for output in SUFFIX)


@pytest.mark.parametrize("name", list(REPORTS))
def test_the_json_documents_follow_the_published_schema(name: str) -> None:
    document = json.loads(render(REPORTS[name](), "json"))
    jsonschema.validate(document, json.loads(JSON_SCHEMA.read_text(encoding="utf-8")))
    assert document["schemaVersion"] == 1


def test_the_fleet_json_carries_the_documented_keys() -> None:
    document = json.loads(render(fleet_report(), "json"))
    assert document["summary"] == {"servers": 7, "in_sync": 1, "errors": 3, "warnings": 3, "exitCode": 1}
    by_name = {s["name"]: s for s in document["servers"]}
    east = by_name["sepm-east"]
    assert east["in_sync"] is True
    assert east["desired"]["source"] == "file" and east["desired"]["file"] == "certs/east-2027.pem"
    assert east["desired"]["notAfter"] == "2027-09-27T12:00:00Z"
    assert east["served"]["clients"]["sans"] == ["sepm-east.corp.example", "sepm-east", "10.20.0.11"]
    assert set(east["served"]) == {"clients", "console", "api"}
    south = by_name["sepm-south"]["served"]["clients"]
    assert (south["outcome"], south["fingerprint"], south["error"]) == ("refused", None, "connection refused")
    west = by_name["sepm-west"]
    assert [f["reason"] for f in west["findings"]] == [
        "CertificateMismatch",
        "ExpiringSoon",
        "RolloutMustStartBy",
        "AtRiskClients",
    ]
    assert west["since"]["drift_began"] == "2026-11-28T08:00:00Z"
    assert [e["id"] for e in west["since"]["events"]] == [101, 140, 141]
    assert by_name["sepm-north"]["rollout"]["step"] == 3
    assert document["specs"]["errors"][0]["code"] == "invalid-url"


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _html(report: Report) -> _Collector:
    parser = _Collector()
    parser.feed(render(report, "html"))
    parser.close()
    return parser


def test_the_html_report_is_one_self_contained_file() -> None:
    parsed = _html(fleet_report())
    tags = {tag for tag, _ in parsed.tags}
    assert not tags & {"script", "link", "img", "iframe", "object", "embed", "base", "form"}
    for tag, attrs in parsed.tags:
        for name, value in attrs.items():
            assert not name.startswith("on"), f"<{tag} {name}=…> is an event handler"
            if name in ("href", "src"):
                assert value is not None and value.startswith("#"), (
                    f"<{tag} {name}={value!r}> leaves the page"
                )
    policy = next(
        a["content"]
        for t, a in parsed.tags
        if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"
    )
    assert policy is not None and "default-src 'none'" in policy
    style = render(fleet_report(), "html")
    assert "url(" not in style and "@import" not in style


def test_the_html_report_escapes_every_value_it_did_not_write() -> None:
    html = render(fleet_report(), "html")
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html  # Jinja2 autoescape (markupsafe)
    assert HOSTILE in "".join(_html(fleet_report()).text)  # shown as text, exactly


def test_the_markdown_report_neutralises_markup_in_certificate_subjects() -> None:
    markdown = render(fleet_report(), "markdown")
    assert "<script>" not in markdown
    assert "&lt;script&gt;" in markdown
    row = next(
        line for line in markdown.splitlines() if line.startswith("| console 8443") and "script" in line
    )
    cells = re.split(r"(?<!\\)\|", row)
    assert len(cells) == 7, f"a '|' in the subject split the table row: {row}"
    assert r"\*bold\*" in row and r"\[l\]" in row


def test_the_markdown_report_fits_a_pull_request_comment() -> None:
    markdown = render(fleet_report(), "markdown")
    assert len(markdown) < 65_536  # GitHub's comment limit
    assert markdown.startswith("## SEPM certificate report: ❌ errors")
    assert markdown.splitlines()[-1] == (
        "**7 servers: 1 in sync, 3 with warnings, 3 with errors, 1 spec error — exit code 1 (error)**"
    )


def test_text_is_coloured_only_when_asked() -> None:
    plain = render(fleet_report(), "text")
    coloured = render(fleet_report(), "text", color=True)
    assert "\x1b[" not in plain
    assert "\x1b[" in coloured
    assert re.sub(r"\x1b\[[0-9;]*m", "", coloured) == plain


def test_a_long_history_shows_its_last_events_and_says_how_many_are_left_out() -> None:
    report = fleet_report()
    west = next(s for s in report.servers if s.name == "sepm-west")
    assert west.history is not None
    first = west.history.events[0]
    events = tuple(replace(first, id=n, reason=f"move number {n}") for n in range(1, 26))
    long = replace(report, servers=(replace(west, history=replace(west.history, events=events)),))
    text, markdown = render(long, "text"), render(long, "markdown")
    assert "… 5 earlier event(s), all of them in --output json" in text
    assert "… 5 earlier event(s) (all of them in `--output json`)" in markdown
    for shown in (text, markdown):
        assert "25 event(s) since" in shown
        assert "move number 6" in shown and "move number 25" in shown
        assert "move number 5" not in shown  # 15 and 25 do not contain it: they read "number 1…", "number 2…"
    document = json.loads(render(long, "json"))
    assert len(document["servers"][0]["since"]["events"]) == 25


def _keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys(v)}
    return set()


def test_no_secret_or_credential_field_reaches_the_json() -> None:
    document = json.loads(render(fleet_report(), "json"))
    assert not {k.lower() for k in _keys(document)} & {"password", "username", "credentials", "token"}
    assert "SEPM_PASSWORD" not in json.dumps(document)
