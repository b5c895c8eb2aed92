"""Validation of simulator responses against the vendor's Swagger 2.0 ``definitions`` (jsonschema, draft 4).

Swagger 2.0 quirks handled here: schemas live under ``definitions`` and refer to each other with
``#/definitions/X`` (resolved by embedding every definition in the validated schema); ``format: int32/int64`` is
informative only; ``readOnly`` is ignored by jsonschema. Where the Swagger contradicts a confirmed fact in NOTES.md
(``GET groups/{id}/locations`` returns strings, not objects) the test says so and validates the confirmed shape.
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


def response_schema(method: str, path: str) -> dict[str, Any]:
    """The 200 (or 204) response schema of ``METHOD /api/v1/path`` as the Swagger declares it."""
    operation = swagger()["paths"][f"/api/v1{path}"][method.lower()]
    return dict(operation["responses"]["200"].get("schema", {}))


def validate(instance: Any, schema: dict[str, Any]) -> None:
    full = {**schema, "definitions": swagger()["definitions"]}
    jsonschema.Draft4Validator(full).validate(instance)


def validate_definition(instance: Any, name: str) -> None:
    validate(instance, {"$ref": f"#/definitions/{name}"})


def validate_response(method: str, path: str, instance: Any) -> None:
    validate(instance, response_schema(method, path))
