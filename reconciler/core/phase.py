"""Where one manager stands: the phases of the procedure (the states of its machine), and its version."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["PROCEDURE_VERSION", "SUPPORTED_PROCEDURE_VERSIONS", "Phase", "define_phase"]

PROCEDURE_VERSION = 1
"""Bumped whenever the meaning of a phase or move changes. A rollout keeps the version it started with."""

SUPPORTED_PROCEDURE_VERSIONS: frozenset[int] = frozenset({1})

_DEFINED: dict[str, Phase] = {}


class Phase(StrEnum):
    """Where one manager stands. The values are stored and shown: never rename one without a migration."""

    NEW = "new"  # never observed yet
    IN_SYNC = "in_sync"  # every port presents the desired certificate; no rollout
    DRIFTED = "drifted"  # a rollout is due but held: approval, report mode, suspension, or it was aborted
    BREAKING_REPLICATION = "breaking_replication"  # step 1
    DISABLING_VERIFICATION = "disabling_verification"  # step 2
    WAITING_UNVERIFIED = "waiting_unverified"  # step 3
    UPDATING_CERTIFICATE = "updating_certificate"  # step 4
    ENABLING_VERIFICATION = "enabling_verification"  # step 5
    WAITING_VERIFIED = "waiting_verified"  # step 6
    RESTORING_REPLICATION = "restoring_replication"  # step 7
    STALLED = "stalled"  # needs a human: a code, a reason and a remedy
    ROLLING_BACK = "rolling_back"  # undoing steps 1-3 (abort, or the spec reverted before step 4)

    @classmethod
    def _missing_(cls, value: object) -> Phase | None:
        return _DEFINED.get(value) if isinstance(value, str) else None


def define_phase(value: str) -> Phase:
    """A phase beyond the members above, for a procedure table that adds a stage (the tests that show a new
    sub-step is a change to the table use it; a sub-step of the shipped procedure adds a member instead).

    The result is a :class:`Phase` like the others — ``Phase(value) is define_phase(value)``, it is stored and
    compared by value — but iterating over ``Phase`` does not list it.
    """
    if value in Phase._value2member_map_ or value in _DEFINED:
        return Phase(value)
    if not value.isidentifier() or not value.islower():
        raise ValueError(f"a phase is a lower-case identifier, got {value!r}")
    member = str.__new__(Phase, value)
    member._name_ = value.upper()
    member._value_ = value
    _DEFINED[value] = member
    return member
