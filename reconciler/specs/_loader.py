"""Load a specs directory (or one file): every document of every ``*.yaml``/``*.yml`` file, recursively, sorted.

Each problem becomes a located :class:`SpecIssue`; loading never stops at the first one. ``kind: Defaults``
documents are deep-merged under every ManagedServer of the same directory (mappings merge, anything else: the
server's value wins). Relative paths are resolved against the directory of the file that holds the server.
"""

from __future__ import annotations

import copy
import json
import os
import stat
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from reconciler.certs import Severity
from reconciler.core.spec import API_VERSION, ManagedServer
from reconciler.specs._issues import Location, SpecIssue
from reconciler.specs._model import LoadedServer, SpecSet
from reconciler.specs._revision import spec_revision
from reconciler.specs._validation import describe_value, translate
from reconciler.specs._yaml import DataPath, YamlDocument, dotted_path, parse_documents

__all__ = ["SPEC_SUFFIXES", "load_specs"]

SPEC_SUFFIXES = (".yaml", ".yml")
MAX_SPEC_FILE = 1024 * 1024  # bytes of one spec file (a spec is a few KB; PyYAML reads ~1 MB/s)
MAX_SPECS_TOTAL = 16 * 1024 * 1024  # bytes of all the files of one load
KINDS = ("ManagedServer", "Defaults")

_FILE_FIELDS: tuple[DataPath, ...] = (
    ("spec", "server", "caBundle"),
    ("spec", "certificate", "file"),
    ("spec", "certificate", "keystore", "file"),
    ("spec", "certificate", "keystore", "keyFile"),
)
_SECRET_FIELDS: tuple[DataPath, ...] = (
    ("spec", "server", "credentials", "username"),
    ("spec", "server", "credentials", "password"),
    ("spec", "certificate", "keystore", "password"),
)
_DEFAULTS_KEYS = ("apiVersion", "kind", "metadata", "spec")
_DEFAULTS_METADATA_KEYS = ("name", "labels", "annotations")


@dataclass
class _Doc:
    doc: YamlDocument
    source: Path  # absolute
    display: str


class _Loader:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.issues: list[SpecIssue] = []
        self.contents: list[tuple[Path, bytes]] = []
        self.files: list[Path] = []
        self.total = 0  # bytes read so far
        self.exists = False
        self.is_dir = False

    def error(self, where: Location, field: str | None, message: str, code: str) -> None:
        self.issues.append(SpecIssue.at(where, field, message, code=code))

    # --- files ---------------------------------------------------------------------------------------------------

    def discover(self) -> list[Path]:
        path = self.path
        try:
            self.exists, self.is_dir = path.exists(), path.is_dir()
        except (OSError, ValueError) as exc:  # a name too long, a NUL byte
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            self.error(Location(str(path)), None, f"cannot be used as a specs path: {reason}", "not-found")
            return []
        if not self.exists:
            self.error(
                Location(str(path)),
                None,
                "does not exist: give a directory of *.yaml specs or one file",
                "not-found",
            )
            return []
        if not self.is_dir:
            return [path]

        def unreadable(exc: OSError) -> None:
            where = Location(str(exc.filename or path))
            self.error(where, None, f"cannot read directory: {exc.strerror or exc}", "unreadable")

        found: list[Path] = []
        read: set[tuple[int, int]] = set()  # (device, inode) of every directory walked
        for root, dirs, names in os.walk(path, onerror=unreadable, followlinks=True):
            try:
                info = Path(root).stat()
            except OSError as exc:
                unreadable(exc)
                dirs[:] = []
                continue
            if (info.st_dev, info.st_ino) in read:
                dirs[:] = []  # a symbolic link back to a directory already read (a loop): read it once
                continue
            read.add((info.st_dev, info.st_ino))
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            found.extend(Path(root, n) for n in names if n.endswith(SPEC_SUFFIXES) and not n.startswith("."))
        if not found and not self.issues:
            self.error(
                Location(str(path)),
                None,
                "no *.yaml or *.yml files found: add one ManagedServer document per server (see docs/spec.md)",
                "no-specs",
            )
        return sorted(found, key=lambda p: p.parts)

    def read(self, file: Path, *, found_in_directory: bool) -> str | None:
        display = str(file)
        try:
            info = file.stat()
            if found_in_directory and not stat.S_ISREG(info.st_mode):
                # a FIFO or device named *.yaml would block the read (or never end): only plain files are specs
                self.error(
                    Location(display), None, "is not a regular file: remove it or rename it", "unreadable"
                )
                return None
            size = info.st_size
            if size > MAX_SPEC_FILE:
                self.error(
                    Location(display),
                    None,
                    f"is {size} bytes: too large for a spec file (at most {MAX_SPEC_FILE}); not read",
                    "unreadable",
                )
                return None
            if self.total + size > MAX_SPECS_TOTAL:
                self.error(
                    Location(display),
                    None,
                    f"not read: the spec files read before it already hold {self.total} bytes, and all of them "
                    f"together may hold at most {MAX_SPECS_TOTAL}; point --specs at the specs only",
                    "unreadable",
                )
                return None
            with file.open(
                "rb"
            ) as handle:  # the size may have grown since stat: read one byte past the limit
                data = handle.read(MAX_SPEC_FILE + 1)
            if len(data) > MAX_SPEC_FILE:
                self.error(
                    Location(display),
                    None,
                    f"is too large for a spec file (at most {MAX_SPEC_FILE} bytes)",
                    "unreadable",
                )
                return None
            self.total += len(data)
        except OSError as exc:
            self.error(Location(display), None, f"cannot read: {exc.strerror or exc}", "unreadable")
            return None
        self.contents.append((file.resolve(), data))
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            before = data[: exc.start]
            line = before.count(b"\n") + 1
            col = exc.start - (before.rfind(b"\n") + 1) + 1
            self.error(
                Location(display, line, col),
                None,
                f"is not UTF-8 text (byte 0x{data[exc.start]:02x}): save it as UTF-8",
                "unreadable",
            )
            return None

    # --- documents -----------------------------------------------------------------------------------------------

    def classify(self, item: _Doc) -> str | None:
        doc = item.doc
        data = doc.data
        if not isinstance(data, dict):
            self.error(
                doc.start,
                None,
                "a spec document must be a mapping with apiVersion, kind, metadata and spec, "
                f"got {describe_value(data)}",
                "invalid-document",
            )
            return None
        if "apiVersion" not in data:
            self.error(
                doc.start,
                "apiVersion",
                f"required field is missing: add apiVersion: {API_VERSION}",
                "api-version",
            )
        elif data["apiVersion"] != API_VERSION:
            self.error(
                doc.locate(("apiVersion",)),
                "apiVersion",
                f"must be {API_VERSION}, got {describe_value(data['apiVersion'])}",
                "api-version",
            )
        if "kind" not in data:
            self.error(
                doc.start, "kind", "required field is missing: add kind: ManagedServer (or Defaults)", "kind"
            )
            return None
        if data["kind"] not in KINDS:
            self.error(
                doc.locate(("kind",)),
                "kind",
                f"must be ManagedServer or Defaults, got {describe_value(data['kind'])}",
                "kind",
            )
            return None
        return str(data["kind"])

    def check_defaults(self, item: _Doc) -> bool:
        doc = item.doc
        ok = True
        for key in doc.data:
            if key not in _DEFAULTS_KEYS:
                self.error(
                    doc.locate((key,)),
                    str(key),
                    f"unknown field {key!r}; a Defaults document holds {', '.join(_DEFAULTS_KEYS)}",
                    "unknown-field",
                )
        for key in ("metadata", "spec"):
            if key in doc.data and not isinstance(doc.data[key], dict):
                self.error(
                    doc.locate((key,)),
                    key,
                    f"must be a mapping, got {describe_value(doc.data[key])}",
                    "wrong-type",
                )
                ok = False
        metadata = doc.data.get("metadata")
        for key in metadata if isinstance(metadata, dict) else {}:
            if key not in _DEFAULTS_METADATA_KEYS:
                self.error(
                    doc.locate(("metadata", key)),
                    f"metadata.{key}",
                    f"unknown field {key!r}; allowed here: {', '.join(_DEFAULTS_METADATA_KEYS)}",
                    "unknown-field",
                )
        if "spec" not in doc.data:
            self.error(
                doc.start,
                "spec",
                "required field is missing: a Defaults document merges its spec",
                "missing-field",
            )
            ok = False
        return ok

    # --- servers -------------------------------------------------------------------------------------------------

    def build_server(self, item: _Doc, defaults: _Doc | None) -> LoadedServer | None:
        doc = _merge(defaults.doc, item.doc) if defaults else _merge(None, item.doc)
        base_dir = item.source.parent
        written = _resolve_paths(doc.data, base_dir)
        try:
            spec = ManagedServer.model_validate(doc.data, by_alias=True, by_name=False)
        except ValidationError as exc:
            self.issues.extend(translate(exc, doc, skip=frozenset({"apiVersion", "kind"})))
            return None
        return LoadedServer(
            spec=spec,
            source=item.source,
            line=doc.start.line,
            base_dir=base_dir,
            file=item.display,
            written=written,
            _positions=doc,
        )

    def run(self) -> SpecSet:
        docs: list[_Doc] = []
        files = self.discover()
        in_directory = self.is_dir
        for file in files:
            text = self.read(file, found_in_directory=in_directory)
            if text is None:
                continue
            self.files.append(file.resolve())
            parsed, issues = parse_documents(text, str(file))
            self.issues.extend(issues)
            docs.extend(_Doc(d, file.resolve(), str(file)) for d in parsed)

        defaults: dict[Path, _Doc] = {}
        servers: list[_Doc] = []
        for item in docs:
            kind = self.classify(item)
            if kind == "ManagedServer":
                servers.append(item)
            elif kind == "Defaults" and self.check_defaults(item):
                first = defaults.get(item.source.parent)
                if first is not None:
                    self.error(
                        item.doc.start,
                        None,
                        f"a second Defaults document in {Path(item.display).parent} (the first is at "
                        f"{first.doc.start}): merge them into one",
                        "duplicate-defaults",
                    )
                    continue
                defaults[item.source.parent] = item

        loaded: dict[str, LoadedServer] = {}
        for item in servers:
            server = self.build_server(item, defaults.get(item.source.parent))
            if server is None:
                continue
            earlier = loaded.get(server.name)
            if earlier is not None:
                self.issues.append(
                    server.issue(
                        "metadata.name",
                        f"duplicate server name {server.name!r}: already defined at "
                        f"{earlier.locate('metadata.name')}; names must be unique across all spec files",
                        code="duplicate-name",
                    )
                )
                continue
            loaded[server.name] = server

        used_dirs = {item.source.parent for item in servers}
        for directory, item in defaults.items():
            if directory not in used_dirs:
                self.issues.append(
                    SpecIssue.at(
                        item.doc.start,
                        None,
                        "this Defaults document applies to no server: Defaults apply to the ManagedServer "
                        "documents of the same directory only",
                        code="defaults-unused",
                        severity=Severity.WARNING,
                    )
                )
        self.issues.extend(_cross_checks(list(loaded.values())))
        if files and not servers and not self.errors_found():
            self.error(
                Location(str(self.path)),
                None,
                "no ManagedServer document found: nothing to manage",
                "no-servers",
            )
        unique = {(str(i), i.code): i for i in self.issues}
        issues = sorted(unique.values(), key=SpecIssue.sort_key)
        return SpecSet(
            path=self.path,
            servers=loaded,
            issues=issues,
            revision=spec_revision(self.path, self.contents) if self.exists else "none",
            files=tuple(self.files),
        )

    def errors_found(self) -> bool:
        return any(i.severity is Severity.ERROR for i in self.issues)


# --- helpers -----------------------------------------------------------------------------------------------------


def _copy_positions(source: YamlDocument, target: YamlDocument, prefix: DataPath) -> None:
    for table, into in ((source.keys, target.keys), (source.values, target.values)):
        for path, where in table.items():
            if path[: len(prefix)] == prefix:
                into.setdefault(path, where)


def _merge_into(
    target: dict[Any, Any], source: dict[Any, Any], path: DataPath, src: YamlDocument, dst: YamlDocument
) -> None:
    for key, value in source.items():
        sub = (*path, key)
        if key not in target:
            target[key] = copy.deepcopy(value)
            _copy_positions(src, dst, sub)
        elif isinstance(target[key], dict) and isinstance(value, dict) and sub not in _SECRET_FIELDS:
            _merge_into(target[key], value, sub, src, dst)  # secret references are replaced whole


def _merge(defaults: YamlDocument | None, server: YamlDocument) -> YamlDocument:
    """A copy of ``server`` with ``defaults.spec`` deep-merged under its ``spec`` (the server wins)."""
    merged = YamlDocument(copy.deepcopy(server.data), server.start, dict(server.keys), dict(server.values))
    base = defaults.data.get("spec") if defaults is not None else None
    if defaults is None or not isinstance(base, dict):
        return merged
    if "spec" not in merged.data:
        merged.data["spec"] = {}
    if isinstance(merged.data["spec"], dict):
        _merge_into(merged.data["spec"], base, ("spec",), defaults, merged)
    return merged


def _get(data: Any, path: DataPath) -> Any:
    for part in path:
        if not isinstance(data, dict) or part not in data:
            return None
        data = data[part]
    return data


def _absolute(value: str, base_dir: Path) -> str:
    return value if Path(value).is_absolute() else os.path.normpath(base_dir / value)


def _resolve_paths(data: Any, base_dir: Path) -> dict[str, str]:
    """Make the file paths of ``data`` absolute (in place); return what was written, by dotted field."""
    written: dict[str, str] = {}
    for path in _FILE_FIELDS:
        parent = _get(data, path[:-1])
        if isinstance(parent, dict) and isinstance(parent.get(path[-1]), str) and parent[path[-1]]:
            written[dotted_path(path)] = parent[path[-1]]
            parent[path[-1]] = _absolute(parent[path[-1]], base_dir)
    for path in _SECRET_FIELDS:
        ref = _get(data, path)
        if isinstance(ref, dict) and isinstance(ref.get("file"), str) and ref["file"]:
            written[dotted_path((*path, "file"))] = ref["file"]
            ref["file"] = _absolute(ref["file"], base_dir)
    return written


_SITE_SETTINGS: tuple[tuple[str, str], ...] = (
    ("spec.rollout.clients.groups", "the managed groups"),
    ("spec.rollout.clients.minAckRatio", "a rule of the waits for clients"),
    ("spec.rollout.clients.excludeOfflineFor", "a rule of the waits for clients"),
    ("spec.rollout.clients.minSoak", "a rule of the waits for clients"),
    ("spec.rollout.clients.maxSoak", "a rule of the waits for clients"),
    ("spec.rollout.clients.heartbeat", "a rule of the waits for clients"),
    ("spec.rollout.clients.afterSwap", "the rules of step 4b"),
    ("spec.rollout.managementServerList", "the management server list names"),
    ("spec.rollout.approvals", "the approvals"),
    ("spec.rollout.window", "the maintenance window"),
    ("spec.rollout.mode", "the mode"),
    ("spec.rollout.wave", "the wave"),
    ("spec.rollout.site.swapConcurrency", "the swap concurrency"),
    ("spec.replication.partners", "the replication partners (the site's partnerships)"),
)
"""The settings every spec of one site must agree on: the site's servers share one database (its groups, their
settings, its clients, its lists and its partnerships), and its policy steps are done once for all of them."""


def _site_value(server: LoadedServer, dotted: str) -> Any:
    value: Any = server.spec.model_dump(mode="json", by_alias=True)
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if dotted == "spec.replication.partners" and isinstance(value, list):
        return sorted(value)
    return value


def _site_conflicts(sites: Mapping[str, list[LoadedServer]]) -> list[SpecIssue]:
    """Two specs of one site that disagree on a setting the site shares: an error located in the later one (by
    name), naming the place in the first."""
    issues: list[SpecIssue] = []
    for site, members in sites.items():
        ordered = sorted(members, key=lambda s: s.name)
        first = ordered[0]
        for dotted, what in _SITE_SETTINGS:
            expected = _site_value(first, dotted)
            for server in ordered[1:]:
                value = _site_value(server, dotted)
                if value == expected:
                    continue
                issues.append(
                    server.issue(
                        dotted,
                        f"{json.dumps(value)} differs from {json.dumps(expected)} in {first.name!r} "
                        f"({first.locate(dotted)}): both serve site {site!r}, one database whose policy steps are "
                        f"done once for all its servers, so {what} must agree — write the same value in both specs",
                        code="site-conflict",
                    )
                )
    return issues


def _cross_checks(servers: list[LoadedServer]) -> list[SpecIssue]:
    """Checks across servers: one manager per endpoint, replication partners that know each other, the servers of
    one site agreeing on what the site shares."""
    issues: list[SpecIssue] = []
    endpoints: dict[tuple[str, int], LoadedServer] = {}
    sites: dict[str, list[LoadedServer]] = defaultdict(list)
    for server in servers:
        conn = server.spec.spec.server
        sites[conn.site].append(server)
        endpoint = (conn.host, conn.api_port)
        other = endpoints.setdefault(endpoint, server)
        if other is not server:
            issues.append(
                server.issue(
                    "spec.server.apiUrl",
                    f"{conn.host}:{conn.api_port} is already managed by {other.name!r} "
                    f"({other.locate('spec.server.apiUrl')}): two specs would rotate the same manager",
                    code="duplicate-server",
                )
            )
        if conn.api_port != conn.ports.api:
            issues.append(
                server.issue(
                    "spec.server.ports.api",
                    f"is {conn.ports.api} but apiUrl uses port {conn.api_port}: the API port's certificate is "
                    "observed on ports.api",
                    code="api-port-mismatch",
                    severity=Severity.WARNING,
                )
            )
    for server in servers:
        own_site = server.spec.spec.server.site
        for partner in server.spec.spec.replication.partners:
            if partner not in sites:
                issues.append(
                    server.issue(
                        "spec.replication.partners",
                        f"partner site {partner!r} is not the site of any server in these specs: the reconciler "
                        "breaks and restores only this side of the partnership",
                        code="replication-partner-unmanaged",
                        severity=Severity.INFO,
                    )
                )
            elif not any(own_site in other.spec.spec.replication.partners for other in sites[partner]):
                issues.append(
                    server.issue(
                        "spec.replication.partners",
                        f"lists {partner!r}, but no server of {partner!r} lists {own_site!r} as a partner: "
                        "replication is symmetric, declare it on both sides",
                        code="replication-asymmetric",
                        severity=Severity.WARNING,
                    )
                )
    issues.extend(_site_conflicts(sites))
    return issues


def load_specs(path: Path) -> SpecSet:
    """Load and validate every spec under ``path`` (a directory, recursively, or one file). Never raises for bad
    input: every problem is a located issue in the result."""
    return _Loader(path).run()
