"""The canary analysis after every swap and the domains a rollout counts: the pure computations at their edges, the
halt and the fleet-wide swap gate, the DomainNotVisible hold — table-driven, no simulator."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from reconciler.core.codes import Code
from reconciler.core.events import EventKind
from reconciler.core.observation import ClientAcknowledgement, DomainCounts, merge_acknowledgements
from reconciler.core.orphans import Seen, SwapAnalysis, SwapWindow, analyse, classify_ms, merge_analyses
from reconciler.core.procedure import Phase
from reconciler.core.procedure.canary import canary_halted, canary_passed
from reconciler.core.record import CanaryResult, RolloutRecord
from reconciler.core.requests import resume
from tests.support.manager import Driver, World, hooked

T = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)
MS = timedelta(milliseconds=1)
HOUR = timedelta(hours=1)
WINDOW = SwapWindow(
    swap_from=T, swap_seen=T + 2 * MIN, heartbeat=5 * MIN, exclude_offline_for=timedelta(days=2), heartbeats=3
)


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


# --- the heartbeat window, at its edges ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("last_seen", "now", "expected"),
    [
        (
            T - 5 * MIN,
            T + 3 * MIN,
            Seen.AWAITED,
        ),  # exactly one heartbeat before the swap began: in the cohort
        (T - 5 * MIN - MS, T + 3 * MIN, Seen.OUTSIDE),  # a millisecond earlier: not in it
        (T + 2 * MIN, T + 3 * MIN, Seen.RETURNED),  # at the moment the change was seen: back
        (T + 2 * MIN - MS, T + 3 * MIN, Seen.AWAITED),  # a millisecond before it: not back yet
        (
            T - MIN,
            T + 17 * MIN - MS,
            Seen.AWAITED,
        ),  # just before 3 heartbeats after the change was seen: awaited
        (T - MIN, T + 17 * MIN, Seen.SILENT),  # at 3 heartbeats after it: silent
        (None, T + 17 * MIN, Seen.SILENT),  # unknown is never a smaller fleet
    ],
    ids=[
        "cohort-edge",
        "before-cohort",
        "back-at-seen",
        "not-back",
        "awaited-edge",
        "silent-edge",
        "unknown",
    ],
)
def test_the_heartbeat_window_edges(last_seen: datetime | None, now: datetime, expected: Seen) -> None:
    assert WINDOW.return_by == T + 17 * MIN
    seen_ms = None if last_seen is None else ms(last_seen)
    assert classify_ms(seen_ms, WINDOW.in_ms(), ms(now)) is expected


def test_the_number_of_heartbeats_moves_the_deadline() -> None:
    five = replace(WINDOW, heartbeats=5)
    assert five.return_by == T + 2 * MIN + 25 * MIN
    clients = [("a", T - MIN), ("b", T + 20 * MIN)]
    assert analyse(clients, WINDOW, T + 20 * MIN).silent == 1
    assert analyse(clients, five, T + 20 * MIN).awaited == 1


def test_domains_merge_into_one_analysis_and_one_count() -> None:
    east = analyse([("A-1", T - MIN), ("A-2", T + 5 * MIN)], WINDOW, WINDOW.return_by)
    west = analyse([("B-1", T - MIN), ("B-2", None)], WINDOW, WINDOW.return_by)
    merged = merge_analyses((east, west))
    assert merged is not None
    assert (merged.cohort, merged.returned, merged.silent) == (4, 1, 3)
    assert merged.silent_names == ("A-1", "B-1", "B-2")
    assert merge_analyses(()) is None
    parts = tuple(
        ClientAcknowledgement(
            change_time=T,
            total=10,
            eligible=9,
            acknowledged=a,
            pending_online=9 - a,
            pending_offline=0,
            excluded_offline=1,
            at_risk_count=10 - a,
            at_risk_names=(f"{p}-2", f"{p}-1"),
        )
        for p, a in (("Z", 9), ("A", 4))
    )
    total = merge_acknowledgements(parts)
    assert total is not None
    assert (total.total, total.eligible, total.acknowledged, total.at_risk_count) == (20, 18, 13, 7)
    assert total.at_risk_names == ("A-1", "A-2", "Z-1", "Z-2")


# --- the analysis judged once, the halt, the fleet-wide gate --------------------------------------------------------


def _failing(seen: datetime, cohort: int = 100, silent: int = 5) -> SwapAnalysis:
    return SwapAnalysis(
        swap_seen=seen,
        return_by=seen + 15 * MIN,
        cohort=cohort,
        returned=cohort - silent,
        awaited=0,
        silent=silent,
        silent_names=tuple(f"KIOSK-{i:02d}" for i in range(silent)),
    )


def _at_4b() -> Driver:
    driver = Driver(hooked(), World())
    driver.run_until(Phase.FETCHING_CERTIFICATE, step=HOUR, limit=400)
    return driver


def test_a_canary_that_passes_is_recorded_once_and_step_5_follows() -> None:
    driver = _at_4b()
    driver.run_until(Phase.ENABLING_VERIFICATION, step=HOUR, limit=100)
    assert driver.record is not None and driver.record.facts.canary is not None
    assert driver.record.facts.canary.passed
    passed = [e for e in driver.events if e.kind is EventKind.CANARY]
    assert [e.code for e in passed] == [Code.CANARY_PASSED.value]
    assert canary_passed(driver.record) and not canary_halted(driver.record)
    driver.run_until(Phase.IN_SYNC, step=HOUR, limit=200)
    assert driver.record.facts.canary is None and canary_passed(driver.record), "a completed rollout passed"


def test_step_5_waits_until_the_canary_was_judged() -> None:
    driver = _at_4b()
    assert driver.record is not None and driver.record.facts.swap_seen is not None
    seen = driver.record.facts.swap_seen
    driver.world.canary = replace(_failing(seen, silent=0), returned=0, awaited=100)  # nobody back yet
    for _ in range(40):  # far past step 4b's minSoak
        decision = driver.tick()
        assert decision.phase is Phase.FETCHING_CERTIFICATE, decision.reason
        driver.world.advance(HOUR)
    assert decision.code is Code.SUSPECTED_ORPHANS and driver.record.facts.canary is None


def test_98_percent_back_passes_and_97_halts() -> None:
    for silent, halts in ((2, False), (3, True)):
        driver = _at_4b()
        assert driver.record is not None and driver.record.facts.swap_seen is not None
        driver.world.canary = _failing(driver.record.facts.swap_seen, cohort=100, silent=silent)
        driver.world.advance(HOUR)
        decision = driver.tick()
        canary = driver.record.facts.canary
        assert canary is not None and canary.passed is not halts, decision.reason
        assert (decision.phase is Phase.STALLED) is halts, decision.reason


def test_a_failed_canary_halts_names_the_silent_clients_and_holds_every_other_swap() -> None:
    east = _at_4b()
    assert east.record is not None and east.record.facts.swap_seen is not None
    east.world.canary = _failing(east.record.facts.swap_seen)
    east.world.advance(HOUR)
    decision = east.tick()
    assert decision.phase is Phase.STALLED and decision.code is Code.SUSPECTED_ORPHANS, decision.reason
    assert "KIOSK-00" in decision.reason and "canary analysis failed" in decision.reason
    assert "sepm-reconciler resume sepm-east-01" in (decision.remedy or "")
    assert canary_halted(east.record) and not canary_passed(east.record)

    west = Driver(
        hooked(name="sepm-west-01", site="Site West", partners=()),
        World(name="sepm-west-01", site="Site West", partners={}),
        others={"sepm-east-01": east.record},
    )
    west.run_until(Phase.WAITING_UNVERIFIED, step=HOUR, limit=400)
    for _ in range(40):  # far past its minSoak
        held = west.tick()
        assert held.phase is Phase.WAITING_UNVERIFIED, held.reason
        west.world.advance(HOUR)
    assert held.code is Code.SUSPECTED_ORPHANS and "sepm-east-01" in held.reason, held.reason

    # a person resumes east: the analysis is not judged again, and west may swap
    east.record, _ = resume(east.record, by="bob", now=east.world.now, reason="kiosks re-enrolled")
    east.tick()
    assert east.record.phase is Phase.FETCHING_CERTIFICATE, east.record.reason
    assert not canary_halted(east.record) and canary_passed(east.record)
    east.world.advance(HOUR)
    east.tick()
    assert east.record.phase is not Phase.STALLED, east.record.reason
    west.others = {"sepm-east-01": east.record}
    west.run_until(Phase.UPDATING_CERTIFICATE, step=HOUR, limit=20)


def test_the_canary_facts_survive_the_store() -> None:
    canary = CanaryResult(T, False, 100, 95, 5, 0.98, ("KIOSK-01",), halted=True)
    driver = _at_4b()
    assert driver.record is not None
    record = replace(
        driver.record, facts=replace(driver.record.facts, canary=canary, domains=("Default", "B"))
    )
    again = RolloutRecord.from_storage(record.to_storage())
    assert again.facts.canary == canary and again.facts.domains == ("Default", "B")
    stored = record.to_storage()
    del stored["facts"]["canary"], stored["facts"]["domains"]  # a record written before they were kept
    old = RolloutRecord.from_storage(stored)
    assert old.facts.canary is None and old.facts.domains == ()


# --- domains -------------------------------------------------------------------------------------------------------


def _with_domains(driver: Driver, *names: str, missing: tuple[str, ...] = ()) -> None:
    observe = driver.world.observe

    def observed(record: RolloutRecord | None) -> object:
        obs = observe(record)
        counts = tuple(DomainCounts(f"id-{n}", n, True, 10, 10, 0) for n in names)
        return replace(obs, domains=counts, domains_missing=missing)

    driver.world.observe = observed  # type: ignore[method-assign,assignment]


def test_a_domain_the_spec_names_that_is_not_visible_holds_the_start() -> None:
    driver = Driver(hooked(), World())
    _with_domains(driver, "Default", missing=("Branch",))
    for _ in range(3):
        decision = driver.tick()
        assert decision.code is Code.DOMAIN_NOT_VISIBLE, decision.reason
        assert decision.action is None
        driver.world.advance(HOUR)


def test_a_domain_counted_by_the_rollout_that_disappears_holds_every_step() -> None:
    driver = Driver(hooked(), World())
    _with_domains(driver, "Default", "Branch")
    driver.run_until(Phase.WAITING_UNVERIFIED, step=HOUR, limit=400)
    assert driver.record is not None and driver.record.facts.domains == ("Default", "Branch")
    _with_domains(driver, "Default")
    for _ in range(50):  # far past minSoak
        decision = driver.tick()
        assert decision.phase is Phase.WAITING_UNVERIFIED and decision.code is Code.DOMAIN_NOT_VISIBLE
        driver.world.advance(HOUR)
    assert "'Branch'" in decision.reason
    _with_domains(driver, "Default", "Branch")
    driver.run_until(Phase.UPDATING_CERTIFICATE, step=HOUR, limit=50)
