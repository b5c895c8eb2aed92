"""The reconciler's exception tree, classified by what should happen next.

::

    Error                        root of everything the reconciler raises on purpose
    ├── SpecError                the user's spec (or a file it names) is wrong: fix it; nothing was done
    │   └── SecretError          a {env: …}/{file: …} secret reference cannot be resolved
    ├── CertificateError         a certificate or keystore cannot be used (bad file, wrong password, non-RSA key…)
    ├── TemporaryError           try again later (``delay`` hints when): timeouts, 5xx, 429, refused connections
    │   └── UnreachableError     the manager (or one of its ports) cannot be reached right now
    ├── PermanentError           retrying will not help; a human must act: 4xx, wrong credentials, bad responses
    │   ├── AuthenticationError  the manager refused the credentials
    │   └── ProtocolError        the manager answered something we cannot understand
    ├── StateError               the state store is unusable (locked, newer schema, corrupt)
    │   └── ConflictError        another process moved the record first (compare-and-set lost)
    │       └── FencedError      this process no longer holds the lease at its epoch: it may not write or act
    └── HookError                a user hook could not be started or was killed on timeout

Third-party exceptions are translated at the adapter boundary and chained (``raise … from exc``). Messages never
contain secrets; response bodies quoted in messages are truncated.
"""

from __future__ import annotations

__all__ = [
    "AuthenticationError",
    "CertificateError",
    "ConflictError",
    "Error",
    "FencedError",
    "HookError",
    "PermanentError",
    "ProtocolError",
    "SecretError",
    "SpecError",
    "StateError",
    "TemporaryError",
    "UnreachableError",
]


class Error(Exception):
    """Root of every error the reconciler raises on purpose."""


class SpecError(Error):
    """The spec is invalid. ``location`` is ``file:line:col`` when known, ``field`` the dotted field path."""

    def __init__(self, message: str, *, location: str | None = None, field: str | None = None) -> None:
        self.message = message
        self.location = location
        self.field = field
        prefix = ""
        if location:
            prefix += f"{location}: "
        if field:
            prefix += f"{field}: "
        super().__init__(prefix + message)


class SecretError(SpecError):
    """A secret reference ({env: NAME} or {file: PATH}) cannot be resolved. Never carries the secret itself."""


class CertificateError(Error):
    """A certificate or keystore cannot be used."""


class TemporaryError(Error):
    """A failure that may go away by itself; ``delay`` (seconds) hints when to try again."""

    def __init__(self, message: str, *, delay: float | None = None) -> None:
        self.delay = delay
        super().__init__(message)


class UnreachableError(TemporaryError):
    """The manager, or one of its ports, cannot be reached right now."""


class PermanentError(Error):
    """Retrying will not help: a human must act."""


class AuthenticationError(PermanentError):
    """The manager refused the credentials (or the account lacks the rights needed)."""


class ProtocolError(PermanentError):
    """The manager answered something we cannot understand (malformed JSON, missing fields)."""


class StateError(Error):
    """The state store is unusable."""


class ConflictError(StateError):
    """Another process changed the record since it was read: the compare-and-set was lost."""


class FencedError(ConflictError):
    """The writer no longer holds the lease at the epoch it acted under (another daemon took over): nothing was
    written, and no action may start on its behalf."""


class HookError(Error):
    """A user hook could not be started, or was killed when its timeout expired."""
