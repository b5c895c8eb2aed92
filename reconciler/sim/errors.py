"""The simulator's own errors (it imports nothing from the reconciler, not even :mod:`reconciler.errors`)."""

from __future__ import annotations

__all__ = ["CertificateRejected", "FleetError", "SimError"]


class SimError(Exception):
    """Root of the errors the simulator raises on purpose."""


class FleetError(SimError):
    """The fleet file is invalid. ``location`` is ``file:line`` when known, ``field`` the dotted path."""

    def __init__(self, message: str, *, location: str | None = None, field: str | None = None) -> None:
        self.message = message
        self.location = location
        self.field = field
        prefix = f"{location}: " if location else ""
        if field:
            prefix += f"{field}: "
        super().__init__(prefix + message)


class CertificateRejected(SimError):
    """A certificate update SEPM would refuse: not RSA, wrong password, key does not match, unreadable file."""
