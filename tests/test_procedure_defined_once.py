"""The procedure is defined once: no module outside the table branches on a step number."""

from __future__ import annotations

import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "reconciler"
TABLE = PACKAGE / "core" / "procedure" / "table.py"

# "step == 4", "step in (3, 4)", "step >= 5", "3 <= record.step", "given.step in (6, 7)"…
BRANCH = re.compile(
    r"\bstep\b\s*(==|!=|<=|>=|<|>)\s*[1-9]"
    r"|[1-9]\s*(==|<=|<)\s*[\w.]*\bstep\b"
    r"|\bstep\s+(not\s+)?in\s+[\(\[\{]\s*[0-9]"
)


def offending() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == TABLE or "sim" in path.relative_to(PACKAGE).parts[:1]:
            continue  # the table itself; the simulator is another program (it knows no procedure)
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if BRANCH.search(line):
                found.append(f"{path.relative_to(PACKAGE.parent)}:{number}: {line.strip()}")
    return found


def test_no_module_outside_the_table_branches_on_a_step_number() -> None:
    assert offending() == []


def test_the_check_finds_such_a_branch() -> None:
    for line in ("if step == 4:", "given.step in (3, 4)", "1 <= record.step <= 4", "record.step >= 5"):
        assert BRANCH.search(line), line
    for line in ("step = record.step", "if record.step:", "self.step > 0", "step not in range(1, last + 1)"):
        assert not BRANCH.search(line), line
