"""Where one manager stands: the phases of the procedure (the states of its machine), and its version."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["PROCEDURE_VERSION", "SUPPORTED_PROCEDURE_VERSIONS", "Phase", "define_phase"]

PROCEDURE_VERSION = 2
"""Bumped whenever the meaning of a phase or move changes. A rollout keeps the version it started with.

2: the vendor's whole procedure for SEPM 14 and later (KB 187099) — sub-steps 2a (the HTTP management server list),
4b (clients fetch the new certificate) and 5b (the original list back); step 3 waits for both changes of step 2.
A rollout started with version 1 is continued by the same table: before the swap it goes back to 2a (its clients
were never switched to the HTTP list); after it, 5b restores a list it never changed (a no-op)."""

SUPPORTED_PROCEDURE_VERSIONS: frozenset[int] = frozenset({1, 2})

_DEFINED: dict[str, Phase] = {}


class Phase(StrEnum):
    """Where one manager stands. The values are stored and shown: never rename one without a migration."""

    NEW = "new"  # never observed yet
    IN_SYNC = "in_sync"  # every port presents the desired certificate; no rollout
    DRIFTED = "drifted"  # a rollout is due but held: approval, report mode, suspension, or it was aborted
    BREAKING_REPLICATION = "breaking_replication"  # step 1
    SWITCHING_TO_HTTP_LIST = "switching_to_http_list"  # step 2a
    DISABLING_VERIFICATION = "disabling_verification"  # step 2b
    WAITING_UNVERIFIED = "waiting_unverified"  # step 3
    UPDATING_CERTIFICATE = "updating_certificate"  # step 4a
    FETCHING_CERTIFICATE = "clients_fetching_certificate"  # step 4b
    ENABLING_VERIFICATION = "enabling_verification"  # step 5a
    RESTORING_ORIGINAL_LIST = "restoring_original_list"  # step 5b
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
