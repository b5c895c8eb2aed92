"""Hypothesis strategies for records and events (shared by the record and store round-trip tests)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TypeVar

from hypothesis import strategies as st

from reconciler.core.actions import ActionKind, Performer
from reconciler.core.codes import Code
from reconciler.core.events import Event, EventKind
from reconciler.core.procedure import Phase
from reconciler.core.record import (
    Aborted,
    Approval,
    Attempt,
    AttemptOutcome,
    Facts,
    ObservedSummary,
    PendingAction,
    Request,
    RolloutRecord,
    Stall,
)

moments = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC))
texts = st.text(max_size=40)
names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=20)
fingerprints = st.from_regex(r"sha256:[0-9a-f]{64}", fullmatch=True)
small = st.integers(min_value=0, max_value=10**6)
ports = st.sampled_from(["clients", "console", "api"])


T = TypeVar("T")


def optional(strategy: st.SearchStrategy[T]) -> st.SearchStrategy[T | None]:
    return st.none() | strategy


attempts = st.builds(
    Attempt,
    rollout_id=names,
    step=st.integers(0, 7),
    kind=st.sampled_from(ActionKind),
    number=st.integers(1, 20),
    performer=st.sampled_from(Performer),
    started_at=moments,
    deadline=moments,
    subject=texts,
    outcome=st.sampled_from(AttemptOutcome),
    finished_at=optional(moments),
    exit_code=optional(st.integers(-255, 255)),
    detail=texts,
)
approvals = st.builds(
    Approval,
    step=st.integers(1, 7),
    by=texts,
    reason=texts,
    at=moments,
    rollout_id=names,
    fingerprint=fingerprints,
    accept_at_risk=st.booleans(),
    at_risk_accepted=optional(small),
)
requests = st.builds(Request, by=texts, at=moments, reason=texts)
facts = st.builds(
    Facts,
    original_fingerprints=st.dictionaries(ports, optional(fingerprints)),
    partners=st.lists(texts, max_size=3).map(tuple),
    verification_before=st.dictionaries(names, optional(st.booleans()), max_size=4),
    step_started_manager_time=optional(moments),
    verification_off_at=optional(moments),
    verification_on_at=optional(moments),
    certificate_changed_at=optional(moments),
    replicate_requested=st.dictionaries(texts, moments, max_size=3),
    approvals_announced=st.lists(st.integers(1, 7), max_size=3).map(tuple),
    rollback_reason=optional(texts),
)
summaries = st.builds(
    ObservedSummary,
    observed_at=moments,
    api_reachable=st.booleans(),
    manager_time=optional(moments),
    fingerprints=st.dictionaries(ports, optional(fingerprints)),
    port_outcomes=st.dictionaries(ports, st.sampled_from(["presented", "refused", "timeout"])),
    verification_on=optional(small),
    verification_off=optional(small),
    replicated=optional(st.booleans()),
    partner_status=st.dictionaries(
        texts, optional(st.sampled_from(["SUCCEEDED", "FAILED_CONNECT"])), max_size=3
    ),
    eligible=optional(small),
    acknowledged=optional(small),
    ack_ratio=optional(st.floats(min_value=0, max_value=1)),
    at_risk_count=optional(small),
    at_risk_names=st.lists(texts, max_size=5).map(tuple),
    pending_offline=optional(small),
    excluded_offline=optional(small),
    stopped_checking_in=optional(small),
    errors=st.lists(texts, max_size=3).map(tuple),
)
records = st.builds(
    RolloutRecord,
    server=names,
    phase=st.sampled_from(Phase),
    entered_at=moments,
    updated_at=moments,
    next_check_at=moments,
    version=small,
    reason=texts,
    code=st.sampled_from([c.value for c in Code]),
    observation_failures=st.integers(0, 50),
    rollout_id=optional(names),
    target_fingerprint=optional(fingerprints),
    desired_fingerprint=optional(fingerprints),
    spec_revision=optional(texts),
    started_revision=optional(texts),
    procedure_version=optional(st.integers(1, 3)),
    started_at=optional(moments),
    stalled_from=optional(st.sampled_from(Phase)),
    stall=optional(
        st.builds(
            Stall, code=st.sampled_from([c.value for c in Code]), reason=texts, remedy=texts, at=moments
        )
    ),
    facts=facts,
    attempts=st.lists(attempts, max_size=3).map(tuple),
    approvals=st.lists(approvals, max_size=3).map(tuple),
    suspension=optional(requests),
    abort_request=optional(requests),
    resume_request=optional(requests),
    aborted=optional(
        st.builds(Aborted, by=texts, at=moments, reason=texts, target=fingerprints, revision=texts)
    ),
    pending_action=optional(
        st.builds(
            PendingAction,
            kind=st.sampled_from(ActionKind),
            performer=st.sampled_from(Performer),
            step=st.integers(0, 7),
            summary=texts,
            instructions=texts,
            attempt=st.integers(0, 20),
        )
    ),
    observed=optional(summaries),
)
events = st.builds(
    Event,
    at=moments,
    server=names,
    kind=st.sampled_from(EventKind),
    reason=texts,
    actor=texts,
    rollout_id=optional(names),
    from_phase=optional(st.sampled_from(Phase)),
    to_phase=optional(st.sampled_from(Phase)),
    details=st.dictionaries(
        names, st.none() | st.booleans() | st.integers(-(2**53), 2**53) | texts, max_size=4
    ),
)
