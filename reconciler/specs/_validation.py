"""Pydantic errors → located, human messages.

A pydantic ``loc`` names model fields by alias (as written in YAML) and list indexes, interleaved with the tags of
union members (``EnvRef``, ``CommandAction``…). We walk it along the data to find the written path, then ask the
document where that path is. Messages say what is wrong and what is expected, in the user's terms ("must be
between 0 and 1, got 1.5"), never quoting a value under ``credentials`` or a ``password``.
"""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any

import annotated_types
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core.core_schema import ErrorType

from reconciler.core.spec import ManagedServer
from reconciler.specs._issues import SpecIssue
from reconciler.specs._yaml import DataPath, YamlDocument, dotted_path

__all__ = ["allowed_keys", "describe_value", "translate"]

_SECRET_SEGMENTS = {"credentials", "password"}
_BUILTIN_TYPES = frozenset(typing.get_args(ErrorType))

_TYPE_WORDS = {
    "string_type": "a string",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
}
_CODES = {
    "missing": "missing-field",
    "extra_forbidden": "unknown-field",
    "greater_than_equal": "out-of-range",
    "less_than_equal": "out-of-range",
    "greater_than": "out-of-range",
    "less_than": "out-of-range",
}


def describe_value(value: Any) -> str:
    """How a YAML value is shown in a message: strings quoted, mappings and lists by kind."""
    if value is None:
        return "an empty value"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value) if len(value) <= 80 else repr(value[:77] + "...")
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = str(value)  # a number of thousands of digits, a !!binary blob: shown cut
    return text if len(text) <= 80 else text[:77] + "..."


def _walk(loc: tuple[int | str, ...], data: Any) -> DataPath:
    """The data path a pydantic ``loc`` denotes: segments that are not keys/indexes (union tags) are skipped."""
    path: list[str | int] = []
    node = data
    for segment in loc:
        in_mapping = isinstance(node, dict) and segment in node
        in_list = isinstance(node, list) and isinstance(segment, int) and 0 <= segment < len(node)
        if in_mapping or in_list:
            path.append(segment)
            node = node[segment]
    return tuple(path)


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The models an annotation may hold (through Annotated, unions, lists and Optional)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _models_in(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType, list):
        return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]
    return []


def _fields_at(path: DataPath) -> list[tuple[str, FieldInfo]]:
    """``(alias, FieldInfo)`` of every field allowed in the mapping at ``path``."""
    models: list[type[BaseModel]] = [ManagedServer]
    for segment in path:
        if isinstance(segment, int):
            continue
        models = [
            m
            for model in models
            for name, info in model.model_fields.items()
            if (info.alias or name) == segment
            for m in _models_in(info.annotation)
        ]
    seen: dict[str, FieldInfo] = {}
    for model in models:
        for name, info in model.model_fields.items():
            seen.setdefault(info.alias or name, info)
    return list(seen.items())


def allowed_keys(path: DataPath) -> list[str]:
    """The camelCase keys a mapping at ``path`` may hold."""
    return [alias for alias, _ in _fields_at(path)]


def _bounds(path: DataPath) -> tuple[float | None, float | None]:
    if not path or not isinstance(path[-1], str):
        return None, None
    info = dict(_fields_at(path[:-1])).get(path[-1])
    low: float | None = None
    high: float | None = None
    for item in info.metadata if info else ():
        # annotated_types types the bounds as SupportsGe/SupportsLe; ours are numbers
        if isinstance(item, annotated_types.Ge):
            low = typing.cast(float, item.ge)
        elif isinstance(item, annotated_types.Le):
            high = typing.cast(float, item.le)
    return low, high


def _range_message(path: DataPath, ctx: dict[str, Any], shown: str) -> str:
    low, high = _bounds(path)
    if low is not None and high is not None:
        return f"must be between {low:g} and {high:g}{shown}"
    for key, words in (("ge", "at least"), ("gt", "more than"), ("le", "at most"), ("lt", "less than")):
        if key in ctx:
            return f"must be {words} {ctx[key]}{shown}"
    return f"is out of range{shown}"  # pragma: no cover - every range error carries its bound


def _message(err: Any, path: DataPath, secret: bool) -> str:
    kind: str = err["type"]
    ctx: dict[str, Any] = err.get("ctx") or {}
    value = err.get("input")
    shown = "" if secret else f", got {describe_value(value)}"
    if kind in _TYPE_WORDS:
        if value is None:
            return f"is empty: a value is required here ({_TYPE_WORDS[kind]})"
        quoted_number = isinstance(value, str) and value.strip().lstrip("-").replace(".", "", 1).isdigit()
        hint = ": write it without quotes" if quoted_number and kind.startswith(("int", "float")) else ""
        return f"must be {_TYPE_WORDS[kind]}{shown}{hint}"
    if kind in ("literal_error", "enum"):
        return f"must be {ctx.get('expected', 'one of the documented values')}{shown}"
    if kind in _CODES and _CODES[kind] == "out-of-range":
        return _range_message(path, ctx, shown)
    if kind in ("too_short", "string_too_short"):
        return "must not be empty"
    if kind == "value_error":
        return str(ctx.get("error", err["msg"]))
    if kind.startswith(("time_delta", "timedelta")):
        return "must be a duration such as 30s, 15m, 24h or 7d"
    if kind not in _BUILTIN_TYPES:
        return str(err["msg"])  # one of our PydanticCustomErrors: the message is ready
    message = str(err["msg"])
    return message[:1].lower() + message[1:]


def _code(kind: str) -> str:
    if kind in _CODES:
        return _CODES[kind]
    if kind in _TYPE_WORDS:
        return "wrong-type"
    if kind in ("literal_error", "enum", "value_error", "too_short", "string_too_short"):
        return "invalid-value"
    return kind.replace("_", "-")


def _unknown_key_message(path: DataPath) -> str:
    key = str(path[-1])
    allowed = allowed_keys(path[:-1])
    text = f"unknown field {key!r}"
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    if not close:
        close = [a for a in allowed if a.lower() == key.replace("_", "").replace("-", "").lower()]
    if close:
        text += f": did you mean {close[0]!r}?"
    elif allowed:
        text += f"; allowed here: {', '.join(allowed)}"
    return text


def translate(
    exc: ValidationError, doc: YamlDocument, *, skip: frozenset[str] = frozenset()
) -> list[SpecIssue]:
    """One located :class:`SpecIssue` per pydantic error (top-level fields in ``skip`` are checked elsewhere)."""
    issues: list[SpecIssue] = []
    seen: set[tuple[DataPath, str]] = set()
    for err in exc.errors(include_url=False):
        loc: tuple[int | str, ...] = tuple(err["loc"])
        if loc and loc[0] in skip:
            continue
        kind = err["type"]
        secret = any(segment in _SECRET_SEGMENTS for segment in loc)
        if kind == "missing":
            parent = _walk(loc[:-1], doc.data)
            path: DataPath = (*parent, loc[-1])
            where = doc.locate(parent) if parent else doc.start
            message = "required field is missing"
        else:
            path = _walk(loc, doc.data)
            where = doc.locate(path)
            message = _unknown_key_message(path) if kind == "extra_forbidden" else _message(err, path, secret)
        if (path, message) in seen:  # the same problem reached through two union members
            continue
        seen.add((path, message))
        issues.append(SpecIssue.at(where, dotted_path(path) or None, message, code=_code(kind)))
    return issues
