"""YAML loading that remembers where each value was written, so a fleet error names ``file:line``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import yaml

from reconciler.sim.errors import FleetError

__all__ = ["Located", "load_located"]

Path = tuple[str | int, ...]

MAX_PATHS = 200_000  # positions remembered per file: an alias bomb must not expand without end


class Located:
    """A parsed YAML document plus the line (1-based) of every mapping key and sequence item."""

    def __init__(self, data: Any, lines: dict[Path, int], source: str) -> None:
        self.data = data
        self.lines = lines
        self.source = source

    def where(self, path: Path) -> str | None:
        """``source:line`` of ``path`` or of its nearest ancestor that has a line."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return f"{self.source}:{line}"
        return self.source or None

    def error(self, path: Path, message: str) -> FleetError:
        return FleetError(message, location=self.where(path), field=dotted(path) or None)


def dotted(path: Path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


class _TooBig(Exception):
    pass


def _walk(node: yaml.Node, path: Path) -> Iterator[tuple[Path, int]]:
    yield path, node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.value)
            yield (*path, key), key_node.start_mark.line + 1
            for sub_path, line in _walk(value_node, (*path, key)):
                if sub_path != (*path, key):
                    yield sub_path, line
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            yield from _walk(item, (*path, index))


def load_located(text: str, source: str) -> Located:
    """Parse ``text`` (one YAML document) with the safe loader; YAML syntax errors become :class:`FleetError`."""
    lines: dict[Path, int] = {}
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
        for count, (path, line) in enumerate(_walk(node, ()) if node is not None else ()):
            if count >= MAX_PATHS:
                raise _TooBig
            lines.setdefault(path, line)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        location = f"{source}:{mark.line + 1}" if mark is not None else source
        raise FleetError(f"not valid YAML: {exc.problem}", location=location) from exc
    except yaml.reader.ReaderError as exc:  # a NUL byte, a control character
        line = text[: exc.position].count("\n") + 1
        raise FleetError(
            f"YAML cannot contain character #x{exc.character:04x}", location=f"{source}:{line}"
        ) from exc
    except yaml.YAMLError as exc:
        raise FleetError(f"not valid YAML: {exc}", location=source) from exc
    except RecursionError as exc:  # hostile input: PyYAML composes recursively
        raise FleetError("not a fleet file: nested hundreds of levels deep", location=source) from exc
    except _TooBig as exc:
        raise FleetError(
            f"not a fleet file: expands to more than {MAX_PATHS} YAML nodes (aliases?)", location=source
        ) from exc
    except ValueError as exc:  # an integer of thousands of digits, a date that does not exist
        raise FleetError(f"not valid YAML: {str(exc).split(';')[0]}", location=source) from exc
    return Located(data, lines, source)
