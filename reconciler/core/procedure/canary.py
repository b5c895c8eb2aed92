"""The canary analysis after every certificate swap (Argo Rollouts' analysis runs are the model), and the gate that
keeps every other swap from starting while one failed.

After a server's step 4a the clients that checked in within one heartbeat before the swap (its *cohort*: every
group, every domain the credentials see — a group the spec left out that still verified is orphaned like any other)
have ``rollout.canary.heartbeats`` heartbeats (manager clock) to check in again. Then, once, in step 4b:

* returned / cohort ≥ ``rollout.canary.minReturnRatio`` — the analysis **passed** (``CanaryPassed``, an event);
* below — it **failed**: the rollout stalls with ``SuspectedOrphans`` naming the silent clients (the stall is
  notified like any other), and :data:`no_canary_halted` holds the swap (4a) of every other managed server while the
  stall lasts. A person finds out why the clients went silent and resumes the server: the rollout goes on and the
  other swaps are free again (the analysis is not judged a second time for the same swap).

Step 5a starts only once the analysis was judged (:data:`canary_judged`). :func:`canary_passed` and
:func:`canary_halted` are pure functions of one record, for gates that order servers (waves of sites).
"""

from __future__ import annotations

from reconciler.core.actions import ActionKind
from reconciler.core.codes import Code
from reconciler.core.events import EventKind
from reconciler.core.phase import Phase
from reconciler.core.procedure.gates import Gate
from reconciler.core.procedure.given import Given
from reconciler.core.procedure.verdicts import Change, Check, Emit, Failed, Passed, Unknown, Verdict
from reconciler.core.record import CanaryResult, RolloutRecord
from reconciler.core.said import Said

__all__ = [
    "canary_halted",
    "canary_judged",
    "canary_passed",
    "canary_stalls",
    "judge_canary",
    "no_canary_halted",
]


def canary_halted(record: RolloutRecord) -> bool:
    """The canary analysis of ``record``'s swap failed and its rollout is stalled on it (no person resumed it yet):
    no other swap may start."""
    canary = record.facts.canary
    return canary is not None and not canary.passed and record.phase is Phase.STALLED


def canary_passed(record: RolloutRecord) -> bool:
    """The canary analysis of ``record``'s swap was judged and passed — or failed and a person resumed the rollout
    after the halt. Without a rollout open: the server is in sync (its last rollout completed, which needs the
    analysis judged, or nothing had to be swapped). False while a rollout's analysis is not judged yet."""
    if record.rollout_id is None:
        return record.phase is Phase.IN_SYNC
    canary = record.facts.canary
    if canary is None:
        return False
    return canary.passed or (canary.halted and record.phase is not Phase.STALLED)


def _facts(given: Given, canary: CanaryResult) -> dict[str, object]:
    analysis = given.obs.canary
    return {
        "server": given.name,
        "cohort": canary.cohort,
        "returned": canary.returned,
        "silent": canary.silent,
        "ratio": canary.ratio,
        "min_ratio": canary.min_ratio,
        "names": canary.silent_names,
        "return_by": analysis.return_by if analysis is not None else canary.judged_at,
        "canary": True,
    }


def judge_canary(given: Given) -> Change:
    """Step 4b, once: when the swap's cohort had its heartbeats to come back (no client still awaited, the manager's
    clock at or past the deadline), record the analysis. A pass is an event; a failure is recorded for
    :data:`canary_stalls`."""
    analysis = given.observation.canary if given.observation is not None else None
    manager_time = given.manager_time
    if given.facts.canary is not None or analysis is None or manager_time is None:
        return Change()
    if manager_time < analysis.return_by or analysis.awaited:
        return Change()
    minimum = given.rollout.canary.min_return_ratio
    result = CanaryResult(
        judged_at=manager_time,
        passed=analysis.return_ratio >= minimum,
        cohort=analysis.cohort,
        returned=analysis.returned,
        silent=analysis.silent,
        min_ratio=minimum,
        silent_names=analysis.silent_names,
    )
    events: tuple[Emit, ...] = ()
    if result.passed:
        said = Said(Code.CANARY_PASSED, _facts(given, result))
        events = (
            Emit(EventKind.CANARY, said, {"passed": True, "cohort": result.cohort, "silent": result.silent}),
        )
    return Change(facts={"canary": result}, events=events)


def _canary_stalls(given: Given) -> Verdict:
    """The canary analysis failed and has not halted the rollout yet: Passed stalls it (once; a resume goes on)."""
    canary = given.facts.canary
    said = Said(Code.SUSPECTED_ORPHANS, {"silent": 0, "canary": True, "server": given.name})
    if canary is None or canary.passed or canary.halted:
        return Failed(said)
    return Passed(
        Said(Code.SUSPECTED_ORPHANS, _facts(given, canary)), Change(facts={"canary": _halted(canary)})
    )


def _halted(canary: CanaryResult) -> CanaryResult:
    return CanaryResult(
        judged_at=canary.judged_at,
        passed=canary.passed,
        cohort=canary.cohort,
        returned=canary.returned,
        silent=canary.silent,
        min_ratio=canary.min_ratio,
        silent_names=canary.silent_names,
        halted=True,
    )


def _canary_judged(given: Given) -> Verdict:
    """Step 5a starts only once the canary analysis of the swap was judged (or there was no swap to judge: a
    rollout opened from observation alone)."""
    facts = given.facts
    said = Said(Code.SUSPECTED_ORPHANS, {"silent": 0, "server": given.name})
    if facts.canary is not None or facts.swap_seen is None:
        return Passed(said)
    analysis = given.observation.canary if given.observation is not None else None
    if analysis is None:
        return Unknown(Said(Code.OBSERVATION_UNKNOWN, {"what": "partial", "parts": "the clients"}))
    until = given.later(given.tuning.waiting_interval)
    if given.manager_time is not None and given.manager_time < analysis.return_by:
        until = min(until, given.now + (analysis.return_by - given.manager_time))
    awaited = Said(
        Code.SUSPECTED_ORPHANS,
        {
            "awaiting": True,
            "silent": analysis.silent,
            "returned": analysis.returned,
            "cohort": analysis.cohort,
            "return_by": analysis.return_by,
            "server": given.name,
        },
    )
    return Failed(awaited, until=until)


def _no_canary_halted(given: Given) -> Verdict:
    """No other managed server's rollout is halted by a failed canary analysis (every swap waits until a person
    resumes it)."""
    halted = sorted(name for name, record in given.others.items() if canary_halted(record))
    if not halted:
        return Passed(Said(Code.SUSPECTED_ORPHANS, {"silent": 0}))
    first = given.others[halted[0]]
    canary = first.facts.canary
    facts: dict[str, object] = {
        "halted_by": halted[0],
        "silent": canary.silent if canary is not None else 0,
        "names": canary.silent_names if canary is not None else (),
        "server": given.name,
    }
    return Failed(Said(Code.SUSPECTED_ORPHANS, facts), until=given.later(given.tuning.waiting_interval))


def _named(name: str, check: Check) -> Check:
    check.__name__ = check.__qualname__ = name
    return check


canary_stalls: Check = _named("canary_failed", _canary_stalls)
canary_judged = Gate(_named("canary_judged", _canary_judged))
no_canary_halted = Gate(
    _named("no_canary_halted", _no_canary_halted), kinds=frozenset({ActionKind.UPDATE_CERTIFICATE})
)
