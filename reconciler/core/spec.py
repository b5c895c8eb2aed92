"""Spec format ``sepm-reconciler/v1``: what users commit, per managed SEPM server.

The model is the single definition of the format: field names (camelCase in YAML), defaults, constraints. It is
pure data — loading files, locating errors in YAML and resolving secrets live in :mod:`reconciler.specs`.
``docs/spec.md`` documents every field; keep the two in step.

Secrets never appear in a spec: a password is a reference, ``{env: NAME}`` or ``{file: PATH}``, resolved at use.
"""

from __future__ import annotations

import re
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from reconciler.core.durations import format_duration, parse_duration

__all__ = [
    "API_VERSION",
    "Action",
    "Actions",
    "ClientPolicy",
    "CommandAction",
    "Credentials",
    "DesiredCertificate",
    "Duration",
    "EnvRef",
    "FileRef",
    "Keystore",
    "ManagedServer",
    "Metadata",
    "Mode",
    "Ports",
    "Replication",
    "Rollout",
    "SecretRef",
    "ServerConnection",
    "ServerSpec",
    "Weekday",
    "Window",
]

API_VERSION = "sepm-reconciler/v1"

FINGERPRINT_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
HHMM_RE = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def _to_duration(value: Any) -> Any:
    if isinstance(value, str):
        return parse_duration(value)
    if isinstance(value, bool):  # bool is an int: reject it explicitly
        raise ValueError("expected a duration such as 30s, 15m, 24h or 7d")
    if isinstance(value, int):
        raise ValueError(f"a bare number is ambiguous: write {value}s, {value}m, {value}h or {value}d")
    return value


Duration = Annotated[
    timedelta,
    BeforeValidator(_to_duration),
    PlainSerializer(format_duration, return_type=str, when_used="json-unless-none"),
]
"""A duration written ``30s``/``15m``/``24h``/``7d``; a :class:`~datetime.timedelta` in Python."""


class _Model(BaseModel):
    """Common configuration: camelCase aliases, unknown keys are errors, instances are immutable."""

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

    env: str = Field(min_length=1, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")


class FileRef(_Model):
    """A secret read from a file (first line, trailing newline stripped), e.g. a mounted Kubernetes Secret."""

    file: str = Field(min_length=1)


SecretRef = EnvRef | FileRef
"""Where a secret comes from. Plain-text secrets are rejected by the model."""


def _no_plain_secret(value: Any) -> Any:
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        raise ValueError("plain-text secrets are not allowed in specs; use {env: NAME} or {file: PATH}")
    return value


PasswordRef = Annotated[SecretRef, BeforeValidator(_no_plain_secret)]


# --- server --------------------------------------------------------------------------------------------------------


class Ports(_Model):
    """Where the served certificate is observed. SEPM defaults: clients 443 (Apache), console 8443, API 8446."""

    clients: int = Field(default=443, ge=1, le=65535)
    console: int = Field(default=8443, ge=1, le=65535)
    api: int = Field(default=8446, ge=1, le=65535)

    def items(self) -> list[tuple[str, int]]:
        """``[("clients", 443), ("console", 8443), ("api", 8446)]`` in that order."""
        return [("clients", self.clients), ("console", self.console), ("api", self.api)]


class Credentials(_Model):
    """A SEPM system administrator account. The username may be plain; the password must be a reference."""

    username: str | SecretRef
    password: PasswordRef
    domain: str = ""


class ServerConnection(_Model):
    """How to reach the manager."""

    api_url: str = Field(pattern=r"^https://[^/\s]+(/\S*)?$")
    ports: Ports = Ports()
    site: str = Field(min_length=1)
    ca_bundle: str | None = None
    credentials: Credentials
    timeout: Duration = timedelta(seconds=30)

    @field_validator("api_url")
    @classmethod
    def _strip_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @property
    def host(self) -> str:
        """The host name (or address) of ``apiUrl``."""
        authority = self.api_url.split("://", 1)[1].split("/", 1)[0]
        if authority.startswith("["):  # IPv6 literal
            return authority[1 : authority.index("]")]
        return authority.rsplit(":", 1)[0] if ":" in authority else authority


# --- certificate ---------------------------------------------------------------------------------------------------


class Keystore(_Model):
    """What a hook installs in step 4: PKCS#12, PEM certificate + key, or JKS. Never committed to Git."""

    file: str = Field(min_length=1)
    password: PasswordRef | None = None


class DesiredCertificate(_Model):
    """The certificate the manager must present: a public certificate file, or its fingerprint."""

    file: str | None = None
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
            raise ValueError("must be sha256: followed by 64 hex digits (the SHA-256 of the DER certificate)")
        return normalized

    @model_validator(mode="after")
    def _exactly_one_source(self) -> DesiredCertificate:
        if (self.file is None) == (self.fingerprint is None):
            raise ValueError(
                "give exactly one of file (a public PEM/DER certificate) or fingerprint (sha256:…)"
            )
        return self


# --- replication and rollout ---------------------------------------------------------------------------------------


class Replication(_Model):
    """Replication partners (site names), broken in step 1 and restored in step 7."""

    partners: list[str] = Field(default_factory=list)

    @field_validator("partners")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("partners must be unique")
        if any(not p.strip() for p in value):
            raise ValueError("partner site names must not be empty")
        return value


class Mode(StrEnum):
    """``enforce`` walks the procedure; ``report`` only observes and reports."""

    ENFORCE = "enforce"
    REPORT = "report"


class ClientPolicy(_Model):
    """Which clients are waited for in steps 3 and 6, and for how long."""

    groups: list[str] = Field(default_factory=list)
    min_ack_ratio: float = Field(default=1.0, ge=0.0, le=1.0)
    exclude_offline_for: Duration = timedelta(days=7)
    min_soak: Duration = timedelta(hours=24)
    max_soak: Duration = timedelta(days=14)

    @model_validator(mode="after")
    def _soak_order(self) -> ClientPolicy:
        if self.max_soak < self.min_soak:
            raise ValueError("maxSoak must not be shorter than minSoak")
        return self


class Weekday(StrEnum):
    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"


class Window(_Model):
    """When step 4 (the disruptive one) may start. ``end`` before ``start`` spans midnight."""

    days: list[Weekday] = Field(default_factory=lambda: list(Weekday), min_length=1)
    start: str = Field(pattern=HHMM_RE.pattern)
    end: str = Field(pattern=HHMM_RE.pattern)
    timezone: str = "UTC"

    @model_validator(mode="after")
    def _not_empty(self) -> Window:
        if self.start == self.end:
            raise ValueError(
                "start and end are equal: the window would be empty (omit window to allow any time)"
            )
        return self


class CommandAction(_Model):
    """Run the user's hook. argv only — secrets reach it through the environment, never the arguments."""

    command: list[str] = Field(min_length=1)
    timeout: Duration = timedelta(minutes=30)
    max_attempts: int = Field(default=3, ge=1, le=20)

    @field_validator("command")
    @classmethod
    def _non_empty_program(cls, value: list[str]) -> list[str]:
        if not value[0].strip():
            raise ValueError("the first element must be the program to run")
        return value


Action = Literal["manual"] | CommandAction
"""``manual`` (an operator does it; the reconciler shows how and waits for the observation) or a command."""


class Actions(_Model):
    """How the steps SEPM's REST API cannot do are carried out."""

    break_replication: Action = "manual"
    update_certificate: Action = "manual"
    restore_replication: Action = "manual"


class Rollout(_Model):
    """How the procedure is run."""

    mode: Mode = Mode.ENFORCE
    clients: ClientPolicy = ClientPolicy()
    approvals: list[int] = Field(default_factory=list)
    window: Window | None = None
    actions: Actions = Actions()

    @field_validator("approvals")
    @classmethod
    def _steps(cls, value: list[int]) -> list[int]:
        bad = [s for s in value if not 1 <= s <= 7]
        if bad:
            raise ValueError(f"steps are numbered 1 to 7, got {bad[0]}")
        if len(set(value)) != len(value):
            raise ValueError("each step may be listed once")
        return sorted(value)


# --- the document --------------------------------------------------------------------------------------------------


class ServerSpec(_Model):
    """``spec`` of a ManagedServer."""

    server: ServerConnection
    certificate: DesiredCertificate
    replication: Replication = Replication()
    rollout: Rollout = Rollout()


class Metadata(_Model):
    name: str = Field(pattern=NAME_RE.pattern)
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
