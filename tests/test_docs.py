"""The documentation a clone has stands on its own: every relative link resolves inside the repository, nothing
points at a file a clone lacks, and the troubleshooting page covers every code, each with a cause and a fix."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from reconciler.core.codes import CODES, Code

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted(
    [ROOT / "README.md", ROOT / "CONTRIBUTING.md", ROOT / "CHANGELOG.md", *(ROOT / "docs").glob("*.md")]
)
LINK = re.compile(r"\]\(([^)\s]+)\)")


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_every_relative_link_resolves_inside_the_repository(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert "NOTES.md" not in text and "../shared" not in text and "/work/" not in text
    for target in LINK.findall(text):
        if target.startswith(("http://", "https://", "mailto:", "#")):
            continue
        file = (path.parent / target.split("#", 1)[0]).resolve()
        assert file.exists(), f"{path.name}: {target} does not exist"
        assert file.is_relative_to(ROOT), f"{path.name}: {target} leaves the repository"


def test_the_troubleshooting_page_gives_every_code_a_cause_and_a_fix() -> None:
    text = (ROOT / "docs" / "troubleshooting.md").read_text(encoding="utf-8")
    rows = {m.group(1): m.group(0) for m in re.finditer(r"^\| `(\w+)` \|[^\n]*$", text, flags=re.MULTILINE)}
    assert set(rows) == {c.value for c in Code}
    for code in Code:
        cells = [c.strip() for c in rows[code.value].strip("|").split("|")]
        assert len(cells) == 4 and all(cells), code
        assert CODES[code].when.split("`")[0][:30] in rows[code.value].replace("\\|", "|")
