"""Spec format ``sepm-reconciler/v1``: what users commit, per managed SEPM server.

The model is the single definition of the format: field names (camelCase in YAML), defaults, constraints. It is
pure data — loading files, locating errors in YAML and resolving secrets live in :mod:`reconciler.specs`.
``docs/spec.md`` documents every field; keep the two in step.

Secrets never appear in a spec: a password is a reference, ``{env: NAME}`` or ``{file: PATH}``, resolved at use.

Validation messages are written for the person who edits the YAML: each custom check raises a
:class:`~pydantic_core.PydanticCustomError` whose *type* is a stable code (``plain_text_secret``, ``invalid_name``…)
that the loader reports as ``plain-text-secret``, ``invalid-name``…; messages never repeat a secret.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    PlainSerializer,
    Tag,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from reconciler.core.durations import format_duration, parse_duration

__all__ = [
    "API_VERSION",
    "Action",
    "Actions",
    "AfterSwap",
    "ApiUse",
    "Canary",
    "ClientPolicy",
    "ClientRules",
    "CommandAction",
    "Credentials",
    "DesiredCertificate",
    "Duration",
    "EnvRef",
    "FileRef",
    "Keystore",
    "ManagedServer",
    "ManagementServerList",
    "Metadata",
    "Mode",
    "Ports",
    "Replication",
    "Rollout",
    "SecretRef",
    "ServerConnection",
    "ServerSpec",
    "SiteRollout",
    "Weekday",
    "Window",
]

API_VERSION = "sepm-reconciler/v1"

FINGERPRINT_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
HHMM_RE = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

_SECRET_HINT = "{env: NAME} or {file: PATH}"  # noqa: S105 - a hint shown to users, not a password
_ACTION_HINT = "manual, or {command: [PROGRAM, ARG, …], timeout: 30m}"


def _fail(code: str, message: str) -> PydanticCustomError:
    """A validation error with a stable ``code`` (becomes the finding's code) and a ready-to-print message."""
    return PydanticCustomError(code, message)


def _to_duration(value: Any) -> Any:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, str):
        try:
            return parse_duration(value)
        except ValueError as exc:
            raise _fail("invalid_duration", str(exc)) from exc
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise _fail(
            "invalid_duration", f"a bare number is ambiguous: write {value}s, {value}m, {value}h or {value}d"
        )
    raise _fail("invalid_duration", "must be a duration such as 30s, 15m, 24h or 7d")


Duration = Annotated[
    timedelta,
    BeforeValidator(_to_duration),
    PlainSerializer(format_duration, return_type=str, when_used="json-unless-none"),
]
"""A duration written ``30s``/``15m``/``24h``/``7d``; a :class:`~datetime.timedelta` in Python."""


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise _fail("invalid_duration", "must be longer than 0s")
    return value


class _Model(BaseModel):
    """Common configuration: camelCase aliases, unknown keys are errors, instances are immutable.

    ``populate_by_name`` lets Python code build models with snake_case names; the loader validates YAML with
    aliases only, so a spec must use the camelCase names.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        str_strip_whitespace=False,
    )


# --- secrets -----------------------------------------------------------------------------------------------------


class EnvRef(_Model):
    """A secret read from an environment variable of the reconciler's process."""

    env: str

    @field_validator("env")
    @classmethod
    def _env_name(cls, value: str) -> str:
        if not ENV_NAME_RE.match(value):
            raise _fail(
                "invalid_secret_ref",
                "must be an environment variable name (letters, digits and _, not starting with a digit), "
                f"got {value!r}",
            )
        return value


class FileRef(_Model):
    """A secret read from a file (first line, trailing newline stripped), e.g. a mounted Kubernetes Secret."""

    file: str = Field(min_length=1)


def _secret_tag(value: Any) -> str:
    if isinstance(value, FileRef) or (isinstance(value, dict) and "file" in value and "env" not in value):
        return "FileRef"
    return "EnvRef"


def _secret_shape(value: Any) -> Any:
    if isinstance(value, EnvRef | FileRef):
        return value
    if isinstance(value, dict):
        given = {"env", "file"} & set(value)
        if len(given) == 2:
            raise _fail("invalid_secret_ref", f"give one of env or file, not both: {_SECRET_HINT}")
        if not given:
            raise _fail("invalid_secret_ref", f"a secret reference is {_SECRET_HINT}")
        return value
    raise _fail("invalid_secret_ref", f"must be a secret reference: {_SECRET_HINT}")


SecretRef = Annotated[
    Annotated[EnvRef, Tag("EnvRef")] | Annotated[FileRef, Tag("FileRef")],
    Discriminator(_secret_tag),
    BeforeValidator(_secret_shape),
]
"""Where a secret comes from: ``{env: NAME}`` or ``{file: PATH}``. Plain-text secrets are rejected by the model."""


def _no_plain_secret(value: Any) -> Any:
    if value is not None and not isinstance(value, dict | EnvRef | FileRef):
        # Never quote the value: it is (or looks like) the secret itself.
        raise _fail(
            "plain_text_secret",
            f"plain-text secrets are not allowed in specs (they are committed to Git): use {_SECRET_HINT}",
        )
    return value


PasswordRef = Annotated[SecretRef, BeforeValidator(_no_plain_secret)]


def _username_tag(value: Any) -> str:
    return "str" if isinstance(value, str) else "SecretRef"


def _username_shape(value: Any) -> Any:
    if isinstance(value, str | dict | EnvRef | FileRef):
        return value
    raise _fail("wrong_type", f"must be a user name (a string) or a secret reference {_SECRET_HINT}")


Username = Annotated[
    Annotated[str, Tag("str")] | Annotated[SecretRef, Tag("SecretRef")],
    Discriminator(_username_tag),
    BeforeValidator(_username_shape),
]


# --- server --------------------------------------------------------------------------------------------------------


_Port = Annotated[int, Field(ge=1, le=65535, strict=True)]


class Ports(_Model):
    """Where the served certificate is observed. SEPM defaults: clients 443 (Apache), console 8443, API 8446."""

    clients: _Port = 443
    console: _Port = 8443
    api: _Port = 8446

    def items(self) -> list[tuple[str, int]]:
        """``[("clients", 443), ("console", 8443), ("api", 8446)]`` in that order."""
        return [("clients", self.clients), ("console", self.console), ("api", self.api)]


class Credentials(_Model):
    """A SEPM system administrator account. The username may be plain; the password must be a reference."""

    username: Username
    password: PasswordRef
    domain: str = ""


_SIZE_RE = re.compile(r"^\s*(\d+)\s*(B|KiB|MiB|GiB)?\s*$")
_SIZE_UNITS = {None: 1, "B": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30}


def _to_bytes(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        size = value
    else:
        match = _SIZE_RE.match(value) if isinstance(value, str) else None
        if match is None:
            raise _fail(
                "invalid_size", f"must be a size such as 64MiB, 512KiB or a number of bytes, got {value!r}"
            )
        size = int(match[1]) * _SIZE_UNITS[match[2]]
    if not 2**20 <= size <= 2**31:
        raise _fail("out_of_range", f"must be between 1MiB and 2GiB, got {size} bytes")
    return size


ByteSize = Annotated[int, BeforeValidator(_to_bytes)]
"""A size in bytes, written ``64MiB``, ``512KiB``, ``1GiB`` or a plain number of bytes."""


class ApiUse(_Model):
    """How the reconciler uses the manager's REST API: its throttle, the size of answers, the page size."""

    throttle_window: Duration = timedelta(minutes=1)
    throttle_budget: Duration = timedelta(minutes=3)
    max_response_size: ByteSize = 64 * 2**20
    page_size: int = Field(default=1000, ge=20, le=10_000)

    @field_validator("throttle_window", "throttle_budget")
    @classmethod
    def _durations_positive(cls, value: timedelta) -> timedelta:
        return _positive(value)


class ServerConnection(_Model):
    """How to reach the manager."""

    api_url: str
    ports: Ports = Ports()
    site: str = Field(min_length=1)
    ca_bundle: str | None = None
    credentials: Credentials
    timeout: Duration = timedelta(seconds=30)
    api: ApiUse = ApiUse()

    @field_validator("api_url")
    @classmethod
    def _https_url(cls, value: str) -> str:
        example = "https://sepm-east-01.corp.example:8446/sepm/api/v1"
        parts = urlsplit(value.strip())
        if "@" in parts.netloc:
            # user:password@host — never echo it.
            raise _fail(
                "plain_text_secret",
                f"must not contain credentials; put them under credentials with {_SECRET_HINT}",
            )
        if parts.scheme != "https" or not parts.hostname:
            raise _fail("invalid_url", f"must be an https:// URL such as {example}, got {value!r}")
        try:
            parts.port  # noqa: B018 - evaluated for its ValueError on a bad port
        except ValueError:
            raise _fail("invalid_url", f"has an invalid port: {value!r}") from None
        if parts.query or parts.fragment or any(c.isspace() for c in value.strip()):
            raise _fail(
                "invalid_url", f"must be a plain URL without query, fragment or spaces, got {value!r}"
            )
        return value.strip().rstrip("/")

    @field_validator("timeout")
    @classmethod
    def _timeout_positive(cls, value: timedelta) -> timedelta:
        return _positive(value)

    @property
    def host(self) -> str:
        """The host name (lower case) or IP address of ``apiUrl``, without brackets for IPv6."""
        return urlsplit(self.api_url).hostname or ""

    @property
    def api_port(self) -> int:
        """The port of ``apiUrl`` (443 when the URL names none)."""
        return urlsplit(self.api_url).port or 443


# --- certificate ---------------------------------------------------------------------------------------------------


class Keystore(_Model):
    """What a hook installs in step 4: PKCS#12, PEM certificate + key (one file, or ``file`` + ``keyFile``), or
    JKS (installed by the hook, but not inspected: convert it to PKCS#12 to have it checked). Never committed."""

    file: str = Field(min_length=1)
    key_file: str | None = Field(default=None, min_length=1)
    password: PasswordRef | None = None


class DesiredCertificate(_Model):
    """The certificate the manager must present: a public certificate file, or its fingerprint."""

    file: str | None = Field(default=None, min_length=1)
    fingerprint: str | None = None
    keystore: Keystore | None = None
    expiry_warning: Duration = timedelta(days=30)

    @field_validator("fingerprint")
    @classmethod
    def _fingerprint_form(cls, value: str | None) -> str | None:
        if value is None:
            return None
        normalized = value.strip()
        if normalized.lower().startswith("sha256:"):
            normalized = "sha256:" + normalized[7:].replace(":", "").lower()
        if not FINGERPRINT_RE.match(normalized):
            raise _fail(
                "invalid_fingerprint",
                "must be sha256: followed by 64 hex digits (the SHA-256 of the DER certificate), "
                f"got {value!r}",
            )
        return normalized

    @model_validator(mode="after")
    def _exactly_one_source(self) -> DesiredCertificate:
        if (self.file is None) == (self.fingerprint is None):
            raise _fail(
                "invalid_certificate_source",
                "give exactly one of file (a public PEM/DER certificate) or fingerprint (sha256:…)",
            )
        return self


# --- replication and rollout ---------------------------------------------------------------------------------------


class Replication(_Model):
    """Replication partners (site names), broken in step 1 and restored in step 7."""

    partners: list[str] = Field(default_factory=list)

    @field_validator("partners")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if any(not p.strip() for p in value):
            raise _fail("invalid_value", "partner site names must not be empty")
        duplicates = sorted({p for p in value if value.count(p) > 1})
        if duplicates:
            raise _fail("invalid_value", f"partners must be unique: {duplicates[0]!r} is listed twice")
        return value


class Mode(StrEnum):
    """``enforce`` walks the procedure; ``report`` only observes and reports."""

    ENFORCE = "enforce"
    REPORT = "report"


class AfterSwap(_Model):
    """Step 4b's own rules for the wait until clients checked in since the swap (each omitted one: the value of
    ``spec.rollout.clients``)."""

    min_ack_ratio: float | None = Field(default=None, ge=0.0, le=1.0, strict=True)
    exclude_offline_for: Duration | None = None
    min_soak: Duration | None = None
    max_soak: Duration | None = None

    @field_validator("max_soak")
    @classmethod
    def _max_soak_positive(cls, value: timedelta | None) -> timedelta | None:
        return None if value is None else _positive(value)


@dataclass(frozen=True, slots=True)
class ClientRules:
    """The rules of one wait for clients (steps 3, 4b and 6): how many, how long, who is not waited for."""

    min_ack_ratio: float
    exclude_offline_for: timedelta
    min_soak: timedelta
    max_soak: timedelta


class ClientPolicy(_Model):
    """Which clients are waited for in steps 3, 4b and 6, and for how long."""

    groups: list[str] = Field(default_factory=list)
    min_ack_ratio: float = Field(default=1.0, ge=0.0, le=1.0, strict=True)
    exclude_offline_for: Duration = timedelta(days=7)
    min_soak: Duration = timedelta(hours=24)
    max_soak: Duration = timedelta(days=14)
    heartbeat: Duration = timedelta(minutes=5)
    after_swap: AfterSwap = AfterSwap()
    domains: Literal["all"] | list[str] = "all"

    @property
    def domain_names(self) -> tuple[str, ...] | None:
        """The domains named by ``domains`` (None: ``all``, every domain the credentials see)."""
        return None if self.domains == "all" else tuple(self.domains)

    @field_validator("domains")
    @classmethod
    def _unique_domains(cls, value: str | list[str]) -> str | list[str]:
        if isinstance(value, str):
            return value
        if not value:
            raise _fail("invalid_value", "list at least one domain name, or write `all` (every domain)")
        if any(not d.strip() for d in value):
            raise _fail("invalid_value", "domain names must not be empty")
        folded = [d.casefold() for d in value]
        duplicates = sorted({d for d in value if folded.count(d.casefold()) > 1})
        if duplicates:
            raise _fail("invalid_value", f"domains must be unique: {duplicates[0]!r} is listed twice")
        return value

    @property
    def rules(self) -> ClientRules:
        """The rules of steps 3 and 6."""
        return ClientRules(self.min_ack_ratio, self.exclude_offline_for, self.min_soak, self.max_soak)

    @property
    def rules_after_swap(self) -> ClientRules:
        """The rules of step 4b: ``afterSwap``'s, each omitted one taken from steps 3 and 6."""
        a = self.after_swap
        return ClientRules(
            self.min_ack_ratio if a.min_ack_ratio is None else a.min_ack_ratio,
            self.exclude_offline_for if a.exclude_offline_for is None else a.exclude_offline_for,
            self.min_soak if a.min_soak is None else a.min_soak,
            self.max_soak if a.max_soak is None else a.max_soak,
        )

    @field_validator("groups")
    @classmethod
    def _unique_groups(cls, value: list[str]) -> list[str]:
        if any(not g.strip() for g in value):
            raise _fail("invalid_value", "group paths must not be empty")
        duplicates = sorted({g for g in value if value.count(g) > 1})
        if duplicates:
            raise _fail("invalid_value", f"groups must be unique: {duplicates[0]!r} is listed twice")
        return value

    @field_validator("max_soak")
    @classmethod
    def _max_soak_positive(cls, value: timedelta) -> timedelta:
        return _positive(value)

    @field_validator("heartbeat")
    @classmethod
    def _heartbeat_positive(cls, value: timedelta) -> timedelta:
        return _positive(value)

    @model_validator(mode="after")
    def _soak_order(self) -> ClientPolicy:
        for where, rules in (("", self.rules), ("afterSwap: ", self.rules_after_swap)):
            if rules.max_soak < rules.min_soak:
                raise _fail(
                    "invalid_value",
                    f"{where}maxSoak ({format_duration(rules.max_soak)}) must not be shorter than "
                    f"minSoak ({format_duration(rules.min_soak)})",
                )
            if rules.exclude_offline_for <= rules.min_soak:
                raise _fail(
                    "invalid_value",
                    f"{where}excludeOfflineFor ({format_duration(rules.exclude_offline_for)}) must be longer than "
                    f"minSoak ({format_duration(rules.min_soak)}): a client silent for the whole soak — one the change "
                    "may have cut off — would otherwise stop being waited for before the wait ends; raise "
                    "excludeOfflineFor or shorten minSoak",
                )
        return self


class Weekday(StrEnum):
    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"


def _hhmm(value: Any) -> Any:
    if isinstance(value, str) and HHMM_RE.match(value):
        return value
    shown = repr(value) if isinstance(value, str) else str(value)
    raise _fail("invalid_time", f'must be a time of day "HH:MM" (24-hour clock, quoted), got {shown}')


_TimeOfDay = Annotated[str, BeforeValidator(_hhmm)]


class Window(_Model):
    """When step 4 (the disruptive one) may start. ``end`` before ``start`` spans midnight."""

    days: list[Weekday] = Field(default_factory=lambda: list(Weekday), min_length=1)
    start: _TimeOfDay
    end: _TimeOfDay
    timezone: str = "UTC"

    @field_validator("days")
    @classmethod
    def _unique_days(cls, value: list[Weekday]) -> list[Weekday]:
        if len(set(value)) != len(value):
            raise _fail("invalid_value", "each day may be listed once")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise _fail(
                "invalid_timezone",
                f"unknown time zone {value!r}: use an IANA name such as Europe/Madrid, America/New_York or UTC",
            ) from None
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> Window:
        if self.start == self.end:
            raise _fail(
                "invalid_value",
                "start and end are equal: the window would be empty (omit window to allow any time)",
            )
        return self


class CommandAction(_Model):
    """Run the user's hook. argv only — secrets reach it through the environment, never the arguments."""

    command: list[str] = Field(min_length=1)
    timeout: Duration = timedelta(minutes=30)
    max_attempts: int = Field(default=3, ge=1, le=20, strict=True)
    environment: dict[str, str] = Field(default_factory=dict)  # plain settings for the hook, never secrets

    @field_validator("environment")
    @classmethod
    def _plain_settings(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not ENV_NAME_RE.match(name):
                raise _fail(
                    "invalid_value",
                    f"{name!r} is not an environment variable name (letters, digits and _, not starting with a digit)",
                )
            if name.upper().startswith("SEPM_RECONCILER_"):
                raise _fail(
                    "invalid_value",
                    f"{name}: SEPM_RECONCILER_* variables are set by the reconciler itself (see docs/operations.md)",
                )
            if any(word in name.upper() for word in ("PASSWORD", "PASSWD", "SECRET", "TOKEN")):
                raise _fail(
                    "plain_text_secret",
                    f"{name} looks like a secret, and a spec holds none: set it in the reconciler's environment "
                    "(hooks inherit it, minus the secrets the specs reference) or read it from a file in the hook",
                )
        return value

    @field_validator("command")
    @classmethod
    def _non_empty_program(cls, value: list[str]) -> list[str]:
        if not value[0].strip():
            raise _fail("invalid_value", "the first element must be the program to run")
        return value

    @field_validator("timeout")
    @classmethod
    def _timeout_positive(cls, value: timedelta) -> timedelta:
        return _positive(value)


def _action_tag(value: Any) -> str:
    return "manual" if isinstance(value, str) else "CommandAction"


def _action_shape(value: Any) -> Any:
    if value == "manual" or isinstance(value, dict | CommandAction):
        return value
    shown = repr(value) if isinstance(value, str) else type(value).__name__
    raise _fail("invalid_action", f"must be {_ACTION_HINT}, got {shown}")


Action = Annotated[
    Annotated[Literal["manual"], Tag("manual")] | Annotated[CommandAction, Tag("CommandAction")],
    Discriminator(_action_tag),
    BeforeValidator(_action_shape),
]
"""``manual`` (an operator does it; the reconciler shows how and waits for the observation) or a command."""


class Actions(_Model):
    """How the steps SEPM's REST API cannot do are carried out."""

    break_replication: Action = "manual"
    switch_to_http_list: Action = "manual"
    update_certificate: Action = "manual"
    restore_original_list: Action = "manual"
    restore_replication: Action = "manual"


class ManagementServerList(_Model):
    """The management server lists of steps 2a and 5b (SEPM 14 and later, KB 187099): ``http``, the copy of the
    clients' list that uses HTTP, assigned to every managed group before verification is turned off; ``original``,
    the list they go back to. Or ``skip: true`` with a ``reason`` (every report then warns)."""

    http: str | None = Field(default=None, min_length=1)
    original: str | None = Field(default=None, min_length=1)
    skip: bool = Field(default=False, strict=True)
    reason: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _lists_or_skip(self) -> ManagementServerList:
        named = self.http is not None or self.original is not None
        if self.skip:
            if named:
                raise _fail(
                    "invalid_value",
                    "give either http and original (the lists of steps 2a and 5b) or skip: true with a reason, "
                    "not both",
                )
            if self.reason is None or not self.reason.strip():
                raise _fail(
                    "invalid_value",
                    "skip: true needs a reason (why the clients need no HTTP list around the certificate change); "
                    "every report shows it",
                )
            return self
        if self.reason is not None:
            raise _fail("invalid_value", "reason goes with skip: true")
        if self.http is None or self.original is None:
            missing = "http" if self.http is None else "original"
            raise _fail(
                "invalid_value",
                f"{missing} is missing: give http (the HTTP copy of the clients' list) and original (the list they "
                "use now), or skip: true with a reason",
            )
        if self.http == self.original:
            raise _fail(
                "invalid_value",
                f"http and original are the same list ({self.http!r}): http is a copy of the original that uses HTTP",
            )
        return self


class SiteRollout(_Model):
    """How the servers of one site (the specs naming the same ``spec.server.site``) rotate together: the policy
    steps are done once for the site, the swap (4a) per server, at most ``swapConcurrency`` servers at a time."""

    swap_concurrency: int = Field(default=1, ge=1, le=64, strict=True)


class Canary(_Model):
    """The canary analysis after each certificate swap (step 4a): of the clients that checked in within a heartbeat
    before the swap, at least ``minReturnRatio`` must check in again within ``heartbeats`` heartbeats after it, or
    every further swap halts (``SuspectedOrphans``) until a person resumes or aborts."""

    min_return_ratio: float = Field(default=0.98, ge=0.0, le=1.0, strict=True)
    heartbeats: int = Field(default=3, ge=1, le=100, strict=True)


class Rollout(_Model):
    """How the procedure is run."""

    mode: Mode = Mode.ENFORCE
    wave: int = Field(default=1, ge=1, le=1000, strict=True)
    site: SiteRollout = SiteRollout()
    clients: ClientPolicy = ClientPolicy()
    approvals: list[Annotated[int, Field(strict=True)]] = Field(default_factory=list)
    window: Window | None = None
    actions: Actions = Actions()
    management_server_list: ManagementServerList | None = None
    canary: Canary = Canary()

    @field_validator("approvals")
    @classmethod
    def _steps(cls, value: list[int]) -> list[int]:
        bad = [s for s in value if not 1 <= s <= 7]
        if bad:
            raise _fail("invalid_value", f"steps are numbered 1 to 7, got {bad[0]}")
        if len(set(value)) != len(value):
            raise _fail("invalid_value", "each step may be listed once")
        return sorted(value)


# --- the document --------------------------------------------------------------------------------------------------


class ServerSpec(_Model):
    """``spec`` of a ManagedServer."""

    server: ServerConnection
    certificate: DesiredCertificate
    replication: Replication = Replication()
    rollout: Rollout = Rollout()

    @model_validator(mode="after")
    def _not_own_partner(self) -> ServerSpec:
        if self.server.site in self.replication.partners:
            raise _fail(
                "invalid_value",
                f"replication.partners lists the server's own site {self.server.site!r}: "
                "list the other sites it replicates with",
            )
        return self


def _dns_label(value: Any) -> Any:
    if isinstance(value, str) and not NAME_RE.match(value):
        raise _fail(
            "invalid_name",
            "must be a DNS label: lowercase letters, digits and '-', 1 to 63 characters, starting and ending "
            f"with a letter or digit, got {value!r}",
        )
    return value


class Metadata(_Model):
    name: Annotated[str, BeforeValidator(_dns_label)]
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class ManagedServer(_Model):
    """One managed SEPM server: ``apiVersion: sepm-reconciler/v1``, ``kind: ManagedServer``."""

    api_version: Literal["sepm-reconciler/v1"]
    kind: Literal["ManagedServer"]
    metadata: Metadata
    spec: ServerSpec

    @property
    def name(self) -> str:
        return self.metadata.name
