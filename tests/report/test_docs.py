"""docs/report.md documents every reason code with its severity, every option, the exit codes, and a JSON example
that follows the published schema."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest

from reconciler.cli.report import report
from reconciler.core.drift import Reason, Severity
from reconciler.report import JSON_SCHEMA

DOC = (Path(__file__).parents[2] / "docs" / "report.md").read_text(encoding="utf-8")


def _table_rows(heading: str) -> dict[str, list[str]]:
    section = DOC.split(heading, 1)[1]
    rows = {}
    for line in section.splitlines():
        if line.startswith("| `"):
            cells = [c.strip() for c in line.strip("|").split(" | ")]
            rows[cells[0].strip("`")] = cells[1:]
        elif rows and not line.startswith("|"):
            break
    return rows


@pytest.mark.parametrize("reason", list(Reason), ids=[r.value for r in Reason])
def test_every_reason_code_is_documented_with_its_severity(reason: Reason) -> None:
    rows = _table_rows("## Reason codes")
    assert reason.value in rows, f"{reason.value} is missing from the reason table of docs/report.md"
    severities = {s.strip() for s in rows[reason.value][0].split("/")}
    assert severities <= {s.value for s in Severity} and severities


def test_the_documented_exit_codes_are_the_commands() -> None:
    rows = _table_rows("## Exit codes")
    assert set(rows) == {"0", "1", "2", "64"}
    assert "error → 1, warning → 2, info → 0" in DOC


def test_every_option_of_the_command_is_documented() -> None:
    rows = _table_rows("| option | meaning |")
    options = {opt for param in report.params for opt in param.opts if opt.startswith("--")}
    documented = {row.split()[0] for row in rows}
    assert options == documented


def test_the_json_example_follows_the_schema() -> None:
    block = re.search(r"```json\n(.*?)\n```", DOC, re.DOTALL)
    assert block is not None
    jsonschema.validate(json.loads(block.group(1)), json.loads(JSON_SCHEMA.read_text(encoding="utf-8")))


def test_the_text_example_is_real_output() -> None:
    block = re.search(r"```text\n(.*?)\n```", DOC, re.DOTALL)
    assert block is not None
    golden = (Path(__file__).parent / "golden" / "fleet.txt").read_text(encoding="utf-8").splitlines()
    for line in block.group(1).splitlines():
        if line != "…":
            assert line in golden, f"docs/report.md shows a line the report does not print: {line!r}"


def test_the_markdown_example_is_real_output() -> None:
    block = re.search(r"```markdown\n(.*?)\n```", DOC, re.DOTALL)
    assert block is not None
    golden = (Path(__file__).parent / "golden" / "fleet.md").read_text(encoding="utf-8").splitlines()
    for line in filter(None, block.group(1).splitlines()):
        assert line in golden, f"docs/report.md shows a line the report does not print: {line!r}"
