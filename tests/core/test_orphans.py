"""Orphans after the swap are never excluded (#17 finding 2): the one detection, the frozen denominator, and the
step that does not complete while clients are silent."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from reconciler.core.codes import Code
from reconciler.core.orphans import Seen, SwapAnalysis, SwapWindow, analyse, classify_ms
from reconciler.core.procedure import Phase
from reconciler.core.record import Approval
from reconciler.sepm.acknowledgement import count_acknowledgements
from reconciler.sepm.ledger import ClientEntry
from tests.support.manager import Driver, World, hooked

T = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)
WINDOW = SwapWindow(
    swap_from=T, swap_seen=T + 2 * MIN, heartbeat=5 * MIN, exclude_offline_for=timedelta(days=2)
)


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def test_the_cohort_is_who_checked_in_within_a_heartbeat_before_the_swap() -> None:
    clients = [
        ("back", T + 4 * MIN),  # checked in after the change was seen
        ("silent", T - 2 * MIN),  # seen just before the swap, never since
        ("old", T - 10 * MIN),  # not seen within a heartbeat before: not in the cohort
        ("unknown", None),  # unknown is never a smaller fleet
    ]
    early = analyse(clients, WINDOW, T + 10 * MIN)
    assert (early.cohort, early.returned, early.awaited, early.silent) == (3, 1, 2, 0)
    late = analyse(clients, WINDOW, WINDOW.return_by)
    assert (late.cohort, late.returned, late.silent) == (3, 1, 2)
    assert late.silent_names == ("silent", "unknown")
    assert late.return_ratio == 1 / 3 and late.suspected
    assert classify_ms(ms(T - 10 * MIN), WINDOW.in_ms(), ms(T + 1000 * MIN)) is Seen.OUTSIDE


def _entry(name: str, last: datetime, online: bool) -> ClientEntry:
    return ClientEntry(name, -1, ms(last), online, "14.3.1", "g1")


def test_clients_eligible_at_the_swap_stay_eligible_however_long_they_are_silent() -> None:
    # the reproduction: 80 clients checked in a minute before the swap and, orphaned, never again
    entries = [_entry(f"LAPTOP-{i:04d}", T - MIN, online=False) for i in range(80)]
    entries += [_entry(f"DESK-{i:04d}", T + 3 * MIN, online=True) for i in range(20)]
    later = T + timedelta(days=5)  # far beyond excludeOfflineFor (2 days)
    without, _ = count_acknowledgements(
        entries,
        in_scope=None,
        change_time=T + 4 * MIN,
        manager_time=later,
        exclude_offline_for=timedelta(days=2),
    )
    assert without.eligible == 20, "before #17: the orphans fell out of the denominator"
    frozen, _ = count_acknowledgements(
        entries,
        in_scope=None,
        change_time=T + 4 * MIN,
        manager_time=later,
        exclude_offline_for=timedelta(days=2),
        swap=WINDOW,
    )
    assert frozen.eligible == 100 and frozen.excluded_offline == 0
    assert frozen.swap is not None and frozen.swap.silent == 80 and frozen.swap.returned == 20
    assert frozen.swap.silent_names[0] == "LAPTOP-0000"


def _to_step_6() -> Driver:
    driver = Driver(hooked(min_ack_ratio=0.5), World())
    for _ in range(300):
        decision = driver.tick()
        if decision.phase is Phase.WAITING_VERIFIED:
            return driver
        driver.world.advance(timedelta(hours=1))
    raise AssertionError(driver.decisions[-1].reason)


def test_silent_clients_after_the_swap_block_completion_and_are_named() -> None:
    driver = _to_step_6()
    record = driver.record
    assert record is not None and record.facts.swap_seen is not None and record.facts.swap_from is not None
    assert record.facts.swap_from <= record.facts.swap_seen
    world = driver.world
    world.swap = SwapAnalysis(
        swap_seen=record.facts.swap_seen,
        return_by=record.facts.swap_seen,
        cohort=80,
        returned=6,
        awaited=0,
        silent=74,
        silent_names=("LAPTOP-0001", "LAPTOP-0002"),
    )
    world.acknowledged = 1400  # minAckRatio 0.5 is met: only the detection holds it
    for _ in range(10):
        world.advance(timedelta(hours=12))
        decision = driver.tick()
        assert decision.phase is Phase.WAITING_VERIFIED
    assert decision.code is Code.SUSPECTED_ORPHANS
    assert "LAPTOP-0001" in decision.reason and "--accept-at-risk" in decision.reason
    # a person accepts them at risk: the rollout goes on, knowingly
    assert driver.record is not None
    accepted = Approval(
        step=7,
        by="alice",
        reason="re-enrolling them by hand",
        at=world.now,
        rollout_id=driver.record.rollout_id or "",
        fingerprint=driver.record.target_fingerprint or "",
        accept_at_risk=True,
        at_risk_accepted=600,
    )
    driver.record = replace(driver.record, approvals=(*driver.record.approvals, accepted))
    world.advance(timedelta(hours=1))
    assert driver.tick().phase is Phase.RESTORING_REPLICATION
