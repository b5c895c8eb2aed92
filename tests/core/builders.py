"""Kept for the tests that import it: the builders live in :mod:`tests.support.manager`."""

from tests.support.manager import (
    FAST,
    NEW,
    NEWER,
    OLD,
    PORTS,
    ROGUE,
    T0,
    Driver,
    Group,
    World,
    certificate,
    hook,
    hooked,
    make_spec,
)

__all__ = [
    "FAST",
    "NEW",
    "NEWER",
    "OLD",
    "PORTS",
    "ROGUE",
    "T0",
    "Driver",
    "Group",
    "World",
    "certificate",
    "hook",
    "hooked",
    "make_spec",
]
