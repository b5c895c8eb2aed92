"""What the loader returns: the loaded servers, every issue found, and the revision of the specs."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from reconciler.certs import Severity
from reconciler.core.spec import ManagedServer
from reconciler.specs._issues import Location, SpecIssue
from reconciler.specs._yaml import DataPath, YamlDocument

__all__ = ["LoadedServer", "SpecSet"]

_SEGMENT = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _parse_field(dotted: str) -> DataPath:
    return tuple(int(index) if index else name for name, index in _SEGMENT.findall(dotted))


@dataclass(frozen=True, slots=True)
class LoadedServer:
    """One validated ManagedServer.

    ``spec`` has its relative paths (``certificate.file``, ``caBundle``, ``keystore.file``/``keyFile`` and
    ``{file: …}`` secret references) resolved against ``base_dir``, the directory of ``source``; ``written`` keeps
    what the user wrote for those fields, by dotted field path. ``source`` is absolute, ``file`` is the path as shown
    in messages, ``line`` is where the document starts.
    """

    spec: ManagedServer
    source: Path
    line: int
    base_dir: Path
    file: str
    written: Mapping[str, str] = field(default_factory=dict)
    _positions: YamlDocument | None = field(default=None, repr=False, compare=False)

    @property
    def name(self) -> str:
        return self.spec.metadata.name

    def locate(self, dotted_field: str) -> Location:
        """Where ``dotted_field`` (e.g. ``spec.certificate.file``) is written — in a Defaults document when it
        came from one; the nearest written ancestor when it is not written at all."""
        if self._positions is None:
            return Location(self.file, self.line, 1)
        return self._positions.locate(_parse_field(dotted_field))

    def issue(
        self,
        dotted_field: str,
        message: str,
        *,
        code: str,
        severity: Severity = Severity.ERROR,
    ) -> SpecIssue:
        """A :class:`SpecIssue` located at ``dotted_field`` of this server."""
        return SpecIssue.at(self.locate(dotted_field), dotted_field, message, code=code, severity=severity)


@dataclass(frozen=True, slots=True)
class SpecSet:
    """Everything loaded from a specs directory (or file).

    ``servers`` holds the servers whose documents validated, by name. ``issues`` holds every finding, sorted by
    place; when :attr:`errors` is not empty the set is invalid and nothing may act on it.
    """

    path: Path
    servers: dict[str, LoadedServer]
    issues: list[SpecIssue]
    revision: str
    files: tuple[Path, ...] = ()

    @property
    def errors(self) -> list[SpecIssue]:
        return [i for i in self.issues if i.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[SpecIssue]:
        return [i for i in self.issues if i.severity is Severity.WARNING]

    @property
    def valid(self) -> bool:
        return not self.errors
