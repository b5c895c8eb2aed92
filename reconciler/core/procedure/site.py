"""The site rollout: the checks that make several managers of one site (one SEPM database) one rollout, and the
wave gate across sites.

* **The site is the unit of the policy steps.** A stage the table marks ``Unit.SITE`` or ``Unit.PARTNERSHIP`` is
  done once for the site, on the API of its *lead* — the first server of the site (by name) that is inside the
  procedure and whose last observation was complete. The other servers *follow*: their done check of that stage
  is "the lead is past it" (:func:`site_wide`), and they record the lead's change times so that they count their
  clients against the same changes. They never act in such a stage.
* **The server is the unit of the swap.** Step 4a begins only when fewer than ``rollout.site.swapConcurrency``
  other servers of the site are in 4a and every other server of the site answers (:data:`swap_turn`), so clients
  can fail over to a server that still answers; step 5a begins only when every rotating server of the site has
  finished 4a and its own 4b (:data:`site_swapped`).
* **A site rollout is never forked.** A server whose certificate drifts while another server of its site is past
  step 3 waits (:data:`site_joinable`) and starts with the next site rollout; before that it joins the one under way.
* **Waves.** ``rollout.wave`` orders sites: a server begins 4a only when every server of an earlier wave has passed
  4b (:data:`earlier_waves_passed`). :data:`WAVE_GATES` is the hook point where further checks of an earlier wave
  (the canary analysis) join.
"""

from __future__ import annotations

from datetime import datetime

from reconciler.core.actions import ActionKind
from reconciler.core.checks import observation_problem
from reconciler.core.codes import Code
from reconciler.core.phase import Phase
from reconciler.core.procedure.gates import Gate
from reconciler.core.procedure.given import Given
from reconciler.core.procedure.verdicts import Change, Check, Failed, Passed, Verdict
from reconciler.core.record import RolloutRecord
from reconciler.core.said import Said
from reconciler.core.site import healthy, rotating

__all__ = [
    "FOLLOWED_FACTS",
    "WAVE_GATES",
    "earlier_waves_passed",
    "lead",
    "passed_4b",
    "site_joinable",
    "site_refusal",
    "site_swapped",
    "site_wide",
    "swap_turn",
]

FOLLOWED_FACTS = (
    "partners",
    "partners_broken",
    "verification_before",
    "verification_off_at",
    "verification_on_at",
    "verification_off_noop",
    "verification_on_noop",
    "verification_unchanged",
    "settled_groups",
    "settled_entry",
    "list_switch",
    "list_restore",
    "list_switched_at",
    "list_restored_at",
    "replicate_requested",
)
"""The facts a follower takes from the lead when it follows a site stage: the site's change times and how its
lists and flags were seen (never the swap's facts, which are the server's own)."""


def _named(name: str, check: Check) -> Check:
    check.__name__ = check.__qualname__ = name
    return check


def _order(given: Given, phase: Phase) -> int:
    order = [s.phase for s in given.procedure.steps]
    return order.index(phase) if phase in order else -1


def lead(given: Given) -> str:
    """The server whose API does the site's policy steps now: the first member of the site (by name) inside the
    procedure whose last observation was complete — this server itself when it is the one (or alone)."""
    site = given.site
    if site is None or not site.shared:
        return given.name
    for name in site.members:
        if name == given.name:
            if rotating(given.record) and observation_problem(given.observation) is None:
                return name
        elif rotating(record := site.peers.get(name)) and healthy(record):
            return name
    return given.name


def _where(given: Given, record: RolloutRecord) -> str:
    phase = record.working_phase
    stage = given.procedure.stage(phase) if given.procedure.has(phase) else None
    return stage.label if stage is not None else phase.value.replace("_", " ")


def site_wide(check: Check) -> Check:
    """The done check of a site stage: ``check`` on the lead; on the other servers, "the lead is past this stage"
    (the lead's change times are recorded with it), else a hold that names the lead."""

    def wrapped(given: Given) -> Verdict:
        leader = lead(given)
        site = given.site
        if leader == given.name or site is None:
            return check(given)
        record = site.peers[leader]
        phase = given.record.working_phase
        stage = given.procedure.stage(phase)
        facts: dict[str, object] = {
            "site": site.name,
            "lead": leader,
            "step": stage.step,
            "lead_at": _where(given, record),
        }
        if _order(given, record.working_phase) > _order(given, phase):
            copied: dict[str, object] = {name: getattr(record.facts, name) for name in FOLLOWED_FACTS}
            manager_time: datetime | None = given.manager_time
            if manager_time is not None:
                copied["step_started_manager_time"] = manager_time
            return Passed(Said(Code.SITE_STEP_DONE_ON_PEER, facts), Change(facts=copied))
        return Failed(Said(Code.SITE_STEP_ON_PEER, facts))  # looked at again at the stage's pace

    return _named(check.__name__, wrapped)


def _swap_began(given: Given) -> bool:
    return given.facts.certificate_changed_at is not None


def _swap_turn(given: Given) -> Verdict:
    """Step 4a of this server may begin: fewer than ``swapConcurrency`` other servers of the site are in 4a, and
    every other server of the site answered its last look (its clients' failover target)."""
    site = given.site
    said = Said(Code.SITE_SWAP_TURN, {"server": given.name, "site": site.name if site else ""})
    if site is None or not site.shared or _swap_began(given):
        return Passed(said)
    down = tuple(n for n in site.members if n != given.name and not healthy(site.peers.get(n)))
    if down:
        return Failed(
            Said(Code.SITE_PEER_DOWN, {"server": given.name, "site": site.name, "down": down}),
            until=given.later(given.tuning.active_interval),
        )
    swapping = tuple(
        n
        for n, r in sorted(site.peers.items())
        if r.rollout_id is not None and r.working_phase is Phase.UPDATING_CERTIFICATE
    )
    if len(swapping) >= site.swap_concurrency:
        return Failed(
            said.but(swapping=swapping, concurrency=site.swap_concurrency),
            until=given.later(given.tuning.active_interval),
        )
    return Passed(said)


def passed_4b(given: Given, record: RolloutRecord | None) -> bool:
    """``record``'s server has finished its swap and its own step 4b: it is past 4b, or held at the gate of 5a with
    4b done (code ``SiteSwapsPending``), or in sync."""
    if record is None:
        return False
    if not rotating(record):
        return record.phase is Phase.IN_SYNC
    phase = record.working_phase
    if _order(given, phase) >= _order(given, Phase.ENABLING_VERIFICATION):
        return True
    return phase is Phase.FETCHING_CERTIFICATE and record.code == Code.SITE_SWAPS_PENDING.value


def _site_swapped(given: Given) -> Verdict:
    """Step 5a may begin: every server of the site inside the procedure has finished 4a and its step 4b."""
    site = given.site
    said = Said(Code.SITE_SWAPS_PENDING, {"server": given.name, "site": site.name if site else ""})
    if site is None or not site.shared:
        return Passed(said)
    waiting = tuple(
        (name, _where(given, record))
        for name, record in sorted(site.peers.items())
        if rotating(record) and not passed_4b(given, record)
    )
    if waiting:
        return Failed(said.but(waiting=waiting))  # at the pace of 4b (waiting)
    return Passed(said)


def _site_joinable(given: Given) -> Verdict:
    """A rollout starts (step 1) only while no other server of the site is past step 3: it joins the site rollout
    under way before the swap, or waits for the next one — it never forks it."""
    site = given.site
    said = Said(Code.SITE_ROLLOUT_BUSY, {"server": given.name, "site": site.name if site else ""})
    if site is None or not site.shared:
        return Passed(said)
    ahead = tuple(
        (name, _where(given, record))
        for name, record in sorted(site.peers.items())
        if rotating(record) and _order(given, record.working_phase) > _order(given, Phase.WAITING_UNVERIFIED)
    )
    if ahead:
        return Failed(said.but(ahead=ahead), until=given.later(given.tuning.waiting_interval))
    return Passed(said)


def site_refusal(given: Given) -> Said | None:
    """An abort of a server of a site is refused while another server of the site is past step 3: its rollback
    would turn verification back on for the site's clients (the groups are the site's) during or after a swap."""
    site = given.site
    if site is None or not site.shared:
        return None
    swapping = tuple(
        name
        for name, record in sorted(site.peers.items())
        if rotating(record) and _order(given, record.working_phase) > _order(given, Phase.WAITING_UNVERIFIED)
    )
    if not swapping:
        return None
    return Said(
        Code.ABORT_REFUSED,
        {
            "server": given.name,
            "phase": given.record.phase.value,
            "why": "site",
            "swapping": ", ".join(swapping),
        },
    )


def _earlier_waves_passed(given: Given) -> Verdict:
    """Step 4a of a server of wave N begins only when every server of waves 1..N-1 has passed 4b."""
    site = given.site
    said = Said(Code.EARLIER_WAVE_PENDING, {"server": given.name, "wave": site.wave if site else 1})
    if site is None or not site.earlier or _swap_began(given):
        return Passed(said)
    waiting = tuple(
        (name, wave, _where(given, record) if record is not None else "not observed yet")
        for name, (wave, record) in site.earlier.items()
        if not passed_4b(given, record)
    )
    if waiting:
        return Failed(said.but(waiting=waiting), until=given.later(given.tuning.waiting_interval))
    return Passed(said)


_SWAP = frozenset({ActionKind.UPDATE_CERTIFICATE})
swap_turn = Gate(_named("site_swap_turn", _swap_turn), kinds=_SWAP)
site_swapped = Gate(
    _named("site_swapped", _site_swapped), kinds=frozenset({ActionKind.SET_VERIFICATION}), before_review=True
)
site_joinable = Gate(_named("site_joinable", _site_joinable))
earlier_waves_passed = Gate(_named("earlier_waves_passed", _earlier_waves_passed), kinds=_SWAP)

WAVE_GATES: tuple[Gate, ...] = (earlier_waves_passed,)
"""What an earlier wave must have passed before a later wave's server begins 4a. The canary analysis is covered by
:func:`passed_4b`: a server counts as past 4b only once step 5a's entry gates up to ``site_swapped`` pass, and
``canary_judged`` comes before it; a canary that halted is a stall (``SuspectedOrphans``), which is not past 4b until
a person resumes it. Further checks of an earlier wave join here."""
