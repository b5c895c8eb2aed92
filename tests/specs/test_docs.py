"""docs/spec.md stays in step with the model and with the codes findings carry."""

from __future__ import annotations

import re
import typing
from pathlib import Path

from pydantic import BaseModel

from reconciler.core.spec import ManagedServer
from reconciler.specs._validation import _models_in

REPO = Path(__file__).resolve().parents[2]
DOC = (REPO / "docs" / "spec.md").read_text(encoding="utf-8")


def _fields(model: type[BaseModel], prefix: str = "") -> list[str]:
    found: list[str] = []
    for name, info in model.model_fields.items():
        alias = info.alias or name
        found.append(prefix + alias)
        for inner in _models_in(info.annotation):
            found += _fields(inner, f"{prefix}{alias}.")
    return found


def test_every_field_of_the_model_is_documented() -> None:
    tokens = set(re.findall(r"`([A-Za-z][A-Za-z.]*)`", DOC))
    documented = {".".join(t.split(".")[: i + 1]) for t in tokens for i in range(len(t.split(".")))}
    missing = []
    for path in _fields(ManagedServer):
        parts = path.split(".")
        if not any(".".join(parts[i:]) in documented for i in range(len(parts))):
            missing.append(path)
    assert missing == []


def _emitted_codes() -> set[str]:
    codes: set[str] = set()
    for source in (REPO / "reconciler").glob("*/*.py"):
        if source.parent.name not in {"specs", "certs", "core", "hooks"}:
            continue
        text = source.read_text(encoding="utf-8")
        codes |= set(re.findall(r'code="([a-z][a-z-]+)"', text))
        codes |= set(re.findall(r'Finding\(\s*"([a-z][a-z-]+)"', text))
        codes |= {c.replace("_", "-") for c in re.findall(r'_fail\(\s*"([a-z_]+)"', text)}
        codes |= {
            f"{prefix}-{kind}"
            for prefix in ("cert", "keystore")
            for kind in re.findall(r'code=f"\{prefix\}-([a-z-]+)"', text)
        }
    return codes


def test_every_finding_code_is_documented() -> None:
    codes = _emitted_codes()
    assert {"plain-text-secret", "cert-expired", "keystore-wrong-password", "duplicate-key"} <= codes
    undocumented = sorted(c for c in codes if f"`{c}`" not in DOC)
    assert undocumented == []


def test_the_documented_example_is_a_valid_spec(tmp_path: Path) -> None:
    from reconciler.specs import load_specs

    example = DOC.split("## A complete annotated example", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "east.yaml").write_text(example, encoding="utf-8")
    spec_set = load_specs(tmp_path)
    assert [str(i) for i in spec_set.issues if i.severity != "info"] == []
    assert typing.cast(ManagedServer, spec_set.servers["sepm-east-01"].spec).spec.rollout.approvals == [4]
