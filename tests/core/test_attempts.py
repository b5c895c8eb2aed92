"""Hook attempts: recorded before they run, never re-run blindly after a crash, backed off, bounded, resumable."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from reconciler.core.actions import Performer, UpdateCertificate
from reconciler.core.attempts import attempt_key, complete_attempt
from reconciler.core.codes import Code
from reconciler.core.events import EventKind
from reconciler.core.procedure import Phase
from reconciler.core.record import AttemptOutcome, Request
from reconciler.core.requests import resume
from tests.support.manager import NEW, OLD, Driver, World, hook, hooked

MINUTE = timedelta(minutes=1)


def at_step4(**spec: Any) -> Driver:
    driver = Driver(hooked(update_certificate=hook(timeout="10m", max_attempts=3), **spec), World())
    driver.run_until(Phase.UPDATING_CERTIFICATE, step=timedelta(hours=1), limit=100)
    return driver


def update_attempts(driver: Driver) -> list[object]:
    assert driver.record is not None
    return [a for a in driver.record.attempts if a.step == 4]


def test_attempt_is_recorded_pending_before_the_hook_runs() -> None:
    driver = at_step4()
    decision = driver.decide()
    action = decision.action
    assert isinstance(action, UpdateCertificate) and action.performer is Performer.COMMAND
    assert action.command == ("/opt/hooks/sepm-step", "--verbose")
    assert (action.attempt, action.max_attempts, action.timeout) == (1, 3, timedelta(minutes=10))
    [attempt] = [a for a in decision.record.attempts if a.step == 4]
    assert attempt.outcome is AttemptOutcome.PENDING
    assert attempt.deadline == driver.world.now + timedelta(minutes=10)
    assert [e.kind for e in decision.events] == [EventKind.ATTEMPT_STARTED]


def test_after_a_crash_the_hook_is_not_run_again_before_its_timeout() -> None:
    driver = at_step4()
    driver.decide()  # attempt 1 persisted; the process dies before recording a result
    started = driver.world.now
    for _ in range(14):  # 10 min timeout + 5 min grace
        driver.world.advance(MINUTE)
        decision = driver.decide()
        assert decision.action is None, f"re-ran the hook at {driver.world.now}"
        assert decision.code is Code.EFFECT_PENDING and decision.outcome.said.get("number") == 1
    driver.world.advance(MINUTE * 2)
    decision = driver.decide()  # effect never observed: lost, then retried after backoff
    assert decision.action is None
    assert decision.code is Code.RETRY_PENDING
    facts = decision.outcome.said.facts
    assert (facts["number"], facts["max"]) == (1, 3) and facts["last"].startswith("no result was recorded")
    # lost at its deadline (10 min) + grace (5 min), retried after the backoff (5 min)
    assert facts["until"] == started + timedelta(minutes=20)
    lost = [e for e in decision.events if e.kind is EventKind.ATTEMPT_FAILED]
    assert len(lost) == 1
    driver.world.now = decision.next_check_at
    decision = driver.decide()
    assert isinstance(decision.action, UpdateCertificate) and decision.action.attempt == 2


def test_an_attempt_whose_process_group_still_runs_is_never_judged_lost_nor_run_beside() -> None:
    driver = at_step4()
    decision = driver.decide()  # attempt 1 persisted; the reconciler dies, its hook hangs on
    assert driver.record is not None
    (attempt,) = [a for a in driver.record.attempts if a.step == 4]
    driver.alive = frozenset({attempt_key(attempt)})
    for _ in range(30):  # far past its 10 min timeout + 5 min grace: it still runs, so nothing else starts
        driver.world.advance(MINUTE * 2)
        decision = driver.decide()
        assert decision.action is None, "attempt 2 would run beside attempt 1"
        assert decision.code is Code.EFFECT_PENDING and decision.outcome.said.get("running")
    assert "is still running" in decision.reason and "past its timeout" in decision.reason
    assert all(a.outcome is AttemptOutcome.PENDING for a in driver.record.attempts if a.step == 4)
    driver.alive = frozenset()  # its group was ended: now it is judged lost, and attempt 2 may start
    driver.world.advance(MINUTE)
    decision = driver.decide()
    assert isinstance(decision.action, UpdateCertificate) and decision.action.attempt == 2
    assert [e.kind for e in decision.events][:1] == [EventKind.ATTEMPT_FAILED]


def test_after_a_crash_an_observed_effect_completes_the_step_without_a_rerun() -> None:
    driver = at_step4()
    decision = driver.decide()
    assert decision.action is not None
    driver.world.apply(decision.action)  # the hook did its job, then the reconciler died before recording it
    driver.world.advance(MINUTE)
    decision = driver.decide()
    assert decision.phase is Phase.FETCHING_CERTIFICATE
    [attempt] = [a for a in decision.record.attempts if a.step == 4]
    assert attempt.outcome is AttemptOutcome.SUPERSEDED
    assert attempt.detail == "no result recorded; the effect was observed"


def test_failed_hook_backs_off_exponentially_then_succeeds() -> None:
    driver = at_step4()
    started = []
    for _ in range(200):
        decision = driver.decide()
        if decision.phase is not Phase.UPDATING_CERTIFICATE:
            break
        if decision.action is not None:
            started.append(driver.world.now)
            fail = len(started) <= 2  # fails twice, then succeeds
            if not fail:
                driver.world.apply(decision.action)
            assert driver.record is not None
            driver.record, _ = complete_attempt(
                driver.record,
                decision.action,
                now=driver.world.now,
                succeeded=not fail,
                exit_code=3 if fail else 0,
            )
        driver.world.advance(MINUTE)
    assert decision.phase is Phase.FETCHING_CERTIFICATE
    assert len(started) == 3
    # backoff (FAST tuning): 5 min after the first failure, 10 min after the second
    assert started[1] - started[0] == timedelta(minutes=5)
    assert started[2] - started[1] == timedelta(minutes=10)
    assert [a.exit_code for a in update_attempts(driver)] == [3, 3, 0]  # type: ignore[attr-defined]  # Attempts


def test_max_attempts_failures_stall_and_resume_counts_afresh() -> None:
    driver = at_step4()
    for _ in range(300):
        decision = driver.decide()
        if decision.phase is Phase.STALLED:
            break
        if decision.action is not None:
            assert driver.record is not None
            driver.record, _ = complete_attempt(
                driver.record,
                decision.action,
                now=driver.world.now,
                succeeded=False,
                exit_code=2,
                detail="WinRM: access denied",
            )
        driver.world.advance(MINUTE)
    assert decision.phase is Phase.STALLED
    assert decision.record.step == 4
    assert decision.record.stall is not None and decision.record.stall.code == "UpdateCertificateFailed"
    assert decision.code is Code.UPDATE_CERTIFICATE_FAILED
    assert (decision.outcome.said.get("failures"), decision.outcome.said.get("last")) == (
        3,
        "exit 2: WinRM: access denied",
    )
    assert "sepm-reconciler resume sepm-east-01" in (decision.remedy or "")
    # not restarted automatically for the same revision
    driver.world.advance(timedelta(days=1))
    assert driver.decide().phase is Phase.STALLED
    assert driver.record is not None
    driver.record, _ = resume(driver.record, by="carol", now=driver.world.now)
    decision = driver.decide()
    assert decision.phase is Phase.UPDATING_CERTIFICATE
    assert decision.events[-1].actor == "carol"
    decision = driver.decide()
    assert isinstance(decision.action, UpdateCertificate)
    # a fresh series (the failures before the stall no longer count toward the maximum), but the number goes on:
    # (rollout id, step, attempt) names one attempt, which a hook may use to be idempotent
    assert decision.action.attempt == 4
    assert decision.code is Code.ACTION_STARTED
    assert (decision.outcome.said.get("number"), decision.outcome.said.get("try")) == (4, 1)
    assert "attempt 4 (1 of 3 since the step was entered again)" in decision.reason
    assert len(update_attempts(driver)) == 4  # the three failed ones stay on record
    numbers = [a.number for a in update_attempts(driver)]
    assert numbers == sorted(set(numbers)), numbers


def test_a_new_spec_revision_retries_a_stalled_rollout() -> None:
    driver = at_step4()
    assert driver.record is not None
    stalled = replace(driver.record, phase=Phase.STALLED, stalled_from=Phase.UPDATING_CERTIFICATE)
    driver.record = stalled
    assert driver.decide().phase is Phase.STALLED
    driver.revision = "rev-2"
    decision = driver.decide()
    assert decision.phase is Phase.UPDATING_CERTIFICATE
    assert decision.code is Code.RESUMED and decision.outcome.said.get("revision") == "rev-2"


def test_success_reported_without_effect_counts_as_failed_after_the_grace() -> None:
    driver = at_step4()
    decision = driver.decide()
    assert driver.record is not None and decision.action is not None
    driver.record, _ = complete_attempt(
        driver.record, decision.action, now=driver.world.now, succeeded=True, exit_code=0
    )
    driver.world.advance(MINUTE * 4)
    waiting = driver.decide()
    assert waiting.code is Code.EFFECT_PENDING and waiting.outcome.said.get("succeeded")
    driver.world.advance(MINUTE * 2)
    decision = driver.decide()
    assert [e.code for e in decision.events] == ["AttemptIneffective"]
    [attempt] = update_attempts(driver)
    assert attempt.outcome is AttemptOutcome.INEFFECTIVE  # type: ignore[attr-defined]  # an Attempt


def test_window_closing_mid_step_does_not_interrupt_but_holds_the_retry() -> None:
    # Open every day 08:00-09:00 UTC; step 4 is entered inside it.
    window = {
        "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
        "start": "08:00",
        "end": "09:00",
        "timezone": "UTC",
    }
    driver = Driver(hooked(update_certificate=hook(timeout="30m"), window=window), World())
    driver.run_until(Phase.WAITING_UNVERIFIED, step=MINUTE)
    driver.world.now = driver.world.now.replace(day=2, hour=8, minute=50)
    assert driver.decide().phase is Phase.UPDATING_CERTIFICATE
    decision = driver.decide()
    assert decision.action is not None  # 08:50: the update starts inside the window
    driver.world.now = driver.world.now.replace(hour=9, minute=5)  # the window closed meanwhile
    decision = driver.decide()
    assert decision.action is None and decision.code is Code.EFFECT_PENDING  # not interrupted
    assert driver.record is not None
    started = driver.decisions[-2].action
    assert started is not None
    driver.record, _ = complete_attempt(
        driver.record, started, now=driver.world.now, succeeded=False, exit_code=1
    )
    driver.world.advance(timedelta(minutes=30))
    decision = driver.decide()
    assert decision.action is None
    assert decision.code is Code.WINDOW_CLOSED
    assert decision.outcome.said.get("opens") == datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
    assert decision.next_check_at <= driver.world.now.replace(day=3, hour=8, minute=0)


def test_a_half_done_swap_is_retried_even_when_the_window_closed() -> None:
    # Open every day 08:00-09:00 UTC. The hook restarts Apache with the new certificate, then fails.
    window = {
        "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
        "start": "08:00",
        "end": "09:00",
        "timezone": "UTC",
    }
    driver = Driver(hooked(update_certificate=hook(timeout="30m"), window=window), World())
    driver.run_until(Phase.WAITING_UNVERIFIED, step=MINUTE)
    driver.world.now = driver.world.now.replace(day=2, hour=8, minute=50)
    assert driver.decide().phase is Phase.UPDATING_CERTIFICATE
    started = driver.decide().action
    assert started is not None
    driver.world.install(NEW, ("clients",))
    assert driver.record is not None
    driver.record, _ = complete_attempt(
        driver.record, started, now=driver.world.now, succeeded=False, exit_code=1
    )
    driver.world.now = driver.world.now.replace(hour=9, minute=30)  # closed; the backoff (5 min) is over
    decision = driver.decide()
    assert decision.record.facts.certificate_changed_at is not None
    assert isinstance(decision.action, UpdateCertificate) and decision.action.attempt == 2, (
        "clients already see the new certificate on one port: finishing the swap does not wait for the window"
    )


def test_results_are_matched_to_their_attempt() -> None:
    driver = at_step4()
    decision = driver.decide()
    assert driver.record is not None and decision.action is not None
    stranger = replace(decision.action, attempt=7)
    with pytest.raises(ValueError, match="no attempt 7 of update_certificate at step 4"):
        complete_attempt(driver.record, stranger, now=driver.world.now, succeeded=True)


def test_a_late_result_is_kept_without_changing_the_verdict() -> None:
    driver = at_step4()
    decision = driver.decide()
    action = decision.action
    assert action is not None
    driver.world.advance(timedelta(minutes=20))
    driver.decide()  # judged lost
    assert driver.record is not None
    record, event = complete_attempt(driver.record, action, now=driver.world.now, succeeded=True, exit_code=0)
    [attempt] = [a for a in record.attempts if a.step == 4 and a.number == 1]
    assert attempt.outcome is AttemptOutcome.LOST
    assert "late result: succeeded (exit 0)" in attempt.detail
    assert "already judged lost" in event.reason


def test_suspension_holds_new_attempts() -> None:
    driver = at_step4()
    assert driver.record is not None
    driver.record = replace(driver.record, suspension=Request("dave", driver.world.now, "incident"))
    decision = driver.decide()
    assert decision.action is None
    assert decision.phase is Phase.UPDATING_CERTIFICATE
    assert driver.world.served["clients"] == OLD
    assert NEW not in driver.world.served.values()
