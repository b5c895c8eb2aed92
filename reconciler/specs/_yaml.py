"""YAML with positions: every key and value of every document keeps its ``line:col``.

PyYAML composes node trees (which carry marks); we build the plain Python data from them ourselves so that we
can (a) remember where each path is written, (b) refuse duplicate keys, which YAML would silently resolve by
keeping the last one, and (c) keep unquoted ``22:00`` a string instead of YAML 1.1's base-60 integer 1320.
Merge keys (``<<: *anchor``) and aliases work; explicit keys win over merged ones.

Hostile input is refused with a located issue, never an exception: nesting deeper than :data:`MAX_DEPTH` levels
(PyYAML composes recursively: a 2 KB file of brackets would overflow the stack), more than :data:`MAX_NODES` nodes
in a file, or a document whose aliases expand to more than :data:`MAX_NODES` ("billion laughs"), and scalars that
cannot be constructed (an integer of thousands of digits, a date that does not exist).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from reconciler.specs._issues import Location, SpecIssue

__all__ = ["DataPath", "YamlDocument", "dotted_path", "parse_documents"]

DataPath = tuple[str | int, ...]

_MERGE_TAG = "tag:yaml.org,2002:merge"
_NULL_TAG = "tag:yaml.org,2002:null"  # an empty document composes to a null scalar
_NUMBER_TAGS = {"tag:yaml.org,2002:int", "tag:yaml.org,2002:float"}
MAX_NODES = 20_000  # per file as written, and per document once aliases are expanded ("billion laughs")
MAX_DEPTH = 64  # levels of nesting; a spec needs fewer than ten


@dataclass
class YamlDocument:
    """One document: its data, where it starts, and the position of every key and value (by data path)."""

    data: Any
    start: Location
    keys: dict[DataPath, Location] = field(default_factory=dict)
    values: dict[DataPath, Location] = field(default_factory=dict)

    def locate(self, path: DataPath) -> Location:
        """The key of ``path`` when it is a mapping entry, else its value; falls back to the nearest ancestor."""
        for end in range(len(path), 0, -1):
            prefix = path[:end]
            if isinstance(prefix[-1], str) and prefix in self.keys:
                return self.keys[prefix]
            if prefix in self.values:
                return self.values[prefix]
        return self.start


class _TooBig(Exception):
    pass


class _Refused(Exception):
    """The composer met a limit: parsing of the file stops here."""

    def __init__(self, mark: yaml.Mark | None, message: str) -> None:
        super().__init__(message)
        self.mark = mark
        self.message = message


class _LimitedLoader(yaml.SafeLoader):
    """The safe loader, refusing to compose more than :data:`MAX_NODES` nodes or nest deeper than :data:`MAX_DEPTH`
    (checked before recursing, so the limit is met long before Python's recursion limit)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._composed = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if self.check_event(AliasEvent):  # no new node: expansion is counted (and bounded) by the builder
            return super().compose_node(parent, index)
        self._composed += 1
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _Refused(
                    self._next_mark(),
                    f"nested deeper than {MAX_DEPTH} levels: a spec is only a few levels deep; refusing the file",
                )
            if self._composed > MAX_NODES:
                raise _Refused(
                    self._next_mark(),
                    f"more than {MAX_NODES} YAML nodes in one file: split the specs into files (one per server); "
                    "refusing the rest of the file",
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def _next_mark(self) -> yaml.Mark | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]  # PyYAML's stubs leave the parser untyped
        mark: yaml.Mark | None = getattr(event, "start_mark", None)
        return mark


class _Builder:
    def __init__(self, loader: yaml.SafeLoader, file: str, issues: list[SpecIssue]) -> None:
        self.loader = loader
        self.file = file
        self.issues = issues
        self.nodes = 0
        self.stack: set[int] = set()
        self.doc = YamlDocument(None, Location(file))

    def at(self, node: Node) -> Location:
        return Location(self.file, node.start_mark.line + 1, node.start_mark.column + 1)

    def error(self, node: Node, message: str, code: str, path: DataPath) -> None:
        self.issues.append(SpecIssue.at(self.at(node), dotted_path(path) or None, message, code=code))

    def build(self, node: Node, path: DataPath) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES or len(path) > MAX_DEPTH:
            raise _TooBig
        self.doc.values.setdefault(path, self.at(node))
        if id(node) in self.stack:
            self.error(
                node, "a YAML alias refers to itself: recursive structures are not allowed", "yaml", path
            )
            return None
        self.stack.add(id(node))
        try:
            if isinstance(node, MappingNode):
                return self.mapping(node, path)
            if isinstance(node, SequenceNode):
                return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
            return self.scalar(node, path)
        finally:
            self.stack.discard(id(node))

    def scalar(self, node: Node, path: DataPath) -> Any:
        assert isinstance(node, ScalarNode)  # noqa: S101 - composer invariant: only three node kinds exist
        if node.style is None and node.tag in _NUMBER_TAGS and ":" in node.value:
            return node.value  # YAML 1.1 sexagesimal (22:00 → 1320): keep what the user wrote
        try:
            return self.loader.construct_object(node, deep=True)
        except yaml.constructor.ConstructorError as exc:
            self.error(node, f"unsupported YAML value: {exc.problem}", "yaml", path)
        except (ValueError, OverflowError) as exc:  # 5,000 digits (int), 2026-02-30 (timestamp)…
            reason = str(exc).split(";")[0].split(":")[0]
            self.error(node, f"cannot read this value ({reason}): quote it if it is text", "yaml", path)
        return node.value  # validate the text as written, so that this is the only error about it

    def key(self, node: Node, path: DataPath) -> str | None:
        """Keys are text as written: ``1:`` is the key "1" and ``on:`` the key "on" (not YAML 1.1's true)."""
        if not isinstance(node, ScalarNode):
            self.error(node, "mapping keys must be plain scalars, not lists or mappings", "yaml", path)
            return None
        if not node.value:
            self.error(node, "a mapping key is empty", "yaml", path)
            return None
        return str(node.value)

    def mapping(self, node: MappingNode, path: DataPath) -> dict[str, Any]:
        result: dict[str, Any] = {}
        first_seen: dict[str, Location] = {}
        merged: list[tuple[str, Node, Location]] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merged.extend(self.merge_sources(value_node, path))
                continue
            key = self.key(key_node, path)
            if key is None:
                continue
            where = self.at(key_node)
            if key in first_seen:
                first = first_seen[key]
                self.issues.append(
                    SpecIssue.at(
                        where,
                        dotted_path((*path, key)),
                        f"duplicate key {key!r} (first at line {first.line}, column {first.col}): "
                        "YAML would silently keep only the last one; remove one of them",
                        code="duplicate-key",
                    )
                )
            first_seen[key] = where
            self.doc.keys[(*path, key)] = where
            self.doc.values.pop((*path, key), None)  # a duplicate's value position replaces the first
            result[key] = self.build(value_node, (*path, key))
        for key, value_node, where in merged:
            if key not in result:
                self.doc.keys[(*path, key)] = where
                result[key] = self.build(value_node, (*path, key))
        return result

    def merge_sources(self, node: Node, path: DataPath) -> list[tuple[str, Node, Location]]:
        sources = node.value if isinstance(node, SequenceNode) else [node]
        entries: list[tuple[str, Node, Location]] = []
        for source in sources:
            if not isinstance(source, MappingNode):
                self.error(source, "a merge key (<<) takes a mapping or a list of mappings", "yaml", path)
                continue
            for key_node, value_node in source.value:
                if isinstance(key_node, ScalarNode) and key_node.tag != _MERGE_TAG and key_node.value:
                    entries.append((str(key_node.value), value_node, self.at(key_node)))
        return entries


def dotted_path(path: DataPath) -> str:
    """``("spec", "rollout", "approvals", 1)`` → ``spec.rollout.approvals[1]``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _line_col(text: str, offset: int) -> tuple[int, int]:
    before = text[:offset]
    return before.count("\n") + 1, offset - (before.rfind("\n") + 1) + 1


def parse_documents(text: str, file: str) -> tuple[list[YamlDocument], list[SpecIssue]]:
    """Every non-empty document of ``text``, and the problems found (syntax errors end the file's parsing)."""
    documents: list[YamlDocument] = []
    issues: list[SpecIssue] = []
    try:
        loader = _LimitedLoader(text)
    except yaml.reader.ReaderError as exc:
        line, col = _line_col(text, exc.position)
        issues.append(
            SpecIssue(
                file, line, col, None, f"YAML cannot contain character #x{exc.character:04x}", code="yaml"
            )
        )
        return documents, issues
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None or (isinstance(node, ScalarNode) and node.tag == _NULL_TAG and not node.value):
                continue  # an empty document (a stray ---)
            builder = _Builder(loader, file, issues)
            builder.doc.start = builder.at(node)
            try:
                builder.doc.data = builder.build(node, ())
            except _TooBig:
                issues.append(
                    SpecIssue.at(
                        builder.doc.start,
                        None,
                        f"the document expands to more than {MAX_NODES} YAML nodes or {MAX_DEPTH} levels "
                        "(aliases?): refusing it",
                        code="yaml",
                    )
                )
                continue
            documents.append(builder.doc)
    except _Refused as exc:
        line, col = (exc.mark.line + 1, exc.mark.column + 1) if exc.mark else (0, 0)
        issues.append(SpecIssue(file, line, col, None, exc.message, code="yaml"))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        problem = exc.problem or "invalid YAML"
        context = ""
        if exc.context:
            started = exc.context_mark
            where = ""
            if started is not None and mark is not None and started.line != mark.line:
                where = f" that starts at line {started.line + 1}, column {started.column + 1}"
            context = f" ({exc.context}{where})"
        issues.append(SpecIssue(file, line, col, None, f"YAML syntax error: {problem}{context}", code="yaml"))
    except yaml.YAMLError as exc:  # pragma: no cover - every PyYAML error we know of is marked
        issues.append(SpecIssue(file, 0, 0, None, f"YAML error: {exc}", code="yaml"))
    finally:
        loader.dispose()
    return documents, issues
