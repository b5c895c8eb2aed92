"""Validation of simulator responses against the vendor's Swagger 2.0 ``definitions`` (jsonschema, draft 4).

Swagger 2.0 quirks handled here: schemas live under ``definitions`` and refer to each other with
``#/definitions/X`` (resolved by embedding every definition in the validated schema); ``format: int32/int64`` is
informative only; ``readOnly`` is ignored by jsonschema. Where the Swagger contradicts a confirmed fact in NOTES.md
(``GET groups/{id}/locations`` returns strings, not objects) the test says so and validates the confirmed shape.

**Strictly** (the default): wherever the Swagger declares an object's properties, no other property is allowed
(``additionalProperties: false`` is added to every schema with ``properties`` that does not say otherwise, except
the parts of an ``allOf``, which would refuse each other's properties).
"""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

ROOT = Path(__file__).resolve().parents[2]


def swagger_path() -> Path:
    override = os.environ.get("SEPM_SWAGGER")
    # The vendor's contract is vendored in tests/data (downloaded from Broadcom's API portal; see NOTICE there).
    path = Path(override) if override else ROOT / "tests" / "data" / "sepm-rest-api-v1.swagger.json"
    assert path.is_file(), (
        f"the vendor Swagger is needed for the contract tests: {path} (or set SEPM_SWAGGER)"
    )
    return path


@cache
def swagger() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(swagger_path().read_text(encoding="utf-8"))
    return data


def _closed(node: Any, *, in_all_of: bool = False) -> Any:
    """A copy of ``node`` where every schema with ``properties`` refuses undeclared ones."""
    if isinstance(node, list):
        return [_closed(item, in_all_of=in_all_of) for item in node]
    if not isinstance(node, dict):
        return node
    out = {k: _closed(v, in_all_of=k == "allOf") for k, v in node.items()}
    if isinstance(node.get("properties"), dict) and "additionalProperties" not in node and not in_all_of:
        out["additionalProperties"] = False
    return out


@cache
def strict_definitions() -> dict[str, Any]:
    closed: dict[str, Any] = _closed(swagger()["definitions"])
    return closed


def response_schema(method: str, path: str) -> dict[str, Any]:
    """The 200 (or 204) response schema of ``METHOD /api/v1/path`` as the Swagger declares it."""
    operation = swagger()["paths"][f"/api/v1{path}"][method.lower()]
    return dict(operation["responses"]["200"].get("schema", {}))


def validate(instance: Any, schema: dict[str, Any], *, strict: bool = True) -> None:
    definitions = strict_definitions() if strict else swagger()["definitions"]
    full = {**(_closed(schema) if strict else schema), "definitions": definitions}
    jsonschema.Draft4Validator(full).validate(instance)


def validate_definition(instance: Any, name: str, *, strict: bool = True) -> None:
    validate(instance, {"$ref": f"#/definitions/{name}"}, strict=strict)


def validate_response(method: str, path: str, instance: Any, *, strict: bool = True) -> None:
    validate(instance, response_schema(method, path), strict=strict)
