"""Reading records written at an older schema: each migration turns the stored form of one schema into the next."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.core.codes import STALL_CODES_BEFORE_SCHEMA_2, Code
from reconciler.core.phase import Phase

__all__ = ["migrate_schema_1", "migrate_schema_2"]


# Schema 1 kept the reason as a sentence only: its code is read from the sentences that version wrote, first match.
_SCHEMA_1_REASONS: tuple[tuple[str, Code], ...] = (
    ("needs an approval", Code.APPROVAL_MISSING),
    ("outside the maintenance window", Code.WINDOW_CLOSED),
    ("maintenance window cannot be evaluated", Code.WINDOW_CLOSED),
    ("keystore step 4 installs cannot be used", Code.KEYSTORE_UNUSABLE),
    ("suspended by", Code.SUSPENDED),
    ("report mode", Code.REPORT_MODE),
    ("does not know (it knows", Code.PROCEDURE_VERSION_UNKNOWN),
    ("nothing moves on an unknown observation", Code.OBSERVATION_UNKNOWN),
    ("was aborted by", Code.ABORTED),
    ("both partners have reached step 7", Code.PARTNER_ROTATING),
    ("waiting for an operator", Code.MANUAL_STEP_PENDING),
    ("has no result yet", Code.EFFECT_PENDING),
    ("waiting for its effect", Code.EFFECT_PENDING),
    ("retrying at", Code.RETRY_PENDING),
    ("minimum soak ends", Code.SOAK_NOT_OVER),
    ("waiting for clients", Code.CLIENTS_NOT_READY),
    ("undoing steps 1-", Code.ABORT_REQUESTED),
    ("— attempt ", Code.ACTION_STARTED),
    ("not observed yet", Code.NOT_OBSERVED_YET),
)


def _schema_1_code(record: Mapping[str, Any]) -> Code:
    phase = record.get("phase")
    if phase == Phase.IN_SYNC.value:
        return Code.IN_SYNC
    stall = record.get("stall")
    if phase == Phase.STALLED.value and isinstance(stall, Mapping):
        return STALL_CODES_BEFORE_SCHEMA_2.get(str(stall.get("code")), Code.UNRECORDED)
    reason = str(record.get("reason", ""))
    return next((code for words, code in _SCHEMA_1_REASONS if words in reason), Code.UNRECORDED)


def migrate_schema_1(record: Mapping[str, Any]) -> dict[str, Any]:
    """A schema-1 record in the schema-2 storage form: stall codes renamed to their codes, the reason's code read
    from its sentence (``Unrecorded`` when it cannot be: the next decision records it), no observation failures."""
    migrated = dict(record)
    stall = record.get("stall")
    if isinstance(stall, Mapping):
        old = str(stall.get("code"))
        migrated["stall"] = {**stall, "code": STALL_CODES_BEFORE_SCHEMA_2.get(old, Code.UNRECORDED).value}
    migrated["code"] = _schema_1_code(record).value
    migrated["observation_failures"] = 0
    migrated["schema"] = 2
    return migrated


_REPLICATION_BROKEN_IN = frozenset(
    p.value
    for p in (
        Phase.DISABLING_VERIFICATION,
        Phase.WAITING_UNVERIFIED,
        Phase.UPDATING_CERTIFICATE,
        Phase.ENABLING_VERIFICATION,
        Phase.WAITING_VERIFIED,
    )
)


def migrate_schema_2(record: Mapping[str, Any]) -> dict[str, Any]:
    """A schema-2 record in the schema-3 storage form: attempts gain ``process`` (the hook's process group), unknown
    for attempts recorded before it was kept (they are judged by observation and their deadline, as before); the
    facts gain ``partners_broken`` (true in steps 2-6 with recorded partners: step 1 broke them)."""
    migrated = dict(record)
    phase = record.get("stalled_from") if record.get("phase") == Phase.STALLED.value else record.get("phase")
    facts = record.get("facts")
    if isinstance(facts, Mapping):
        # schema 2 did not say whether replication was broken by the rollout: steps 2-6 had broken it (step 1 done)
        broken = phase in _REPLICATION_BROKEN_IN and bool(facts.get("partners"))
        migrated["facts"] = {**facts, "partners_broken": broken}
    attempts = record.get("attempts")
    if isinstance(attempts, list):
        migrated["attempts"] = [
            {**attempt, "process": None} if isinstance(attempt, Mapping) else attempt for attempt in attempts
        ]
    migrated["schema"] = 3
    return migrated
