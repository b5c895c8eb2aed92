"""Several domains on one manager, and the canary analysis after every swap, on the strict simulator.

* Two domains, churn on: both domains' groups are PATCHed and their clients counted, each domain on its own; the
  rollout ends in sync with no orphaned client.
* A domain removed from the credentials' view mid-rollout holds the rollout (``DomainNotVisible``): nothing moves
  until it is visible again — never a smaller fleet.
* A swap that orphans clients on purpose (a group the spec left out still verifies) is caught by the canary
  analysis: the rollout halts (``SuspectedOrphans``, the silent clients named, a stall), and the other managed
  server never starts its swap until a person resumes the halted one.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from reconciler.core.codes import Code
from reconciler.core.events import EventKind
from reconciler.core.procedure import Phase
from reconciler.engine import TickResult
from tests.e2e.conftest import RigFactory
from tests.e2e.kit import GROUPS, Pki, cli, fleet, in_sync, manager, write_spec

pytestmark = pytest.mark.slow

CHURN = {"addPerDay": 20, "removePerDay": 10, "reimagePerDay": 5}
BRANCH_GROUPS = [
    {"name": "My Company", "inherits": False},
    {"name": "My Company\\Shops", "inherits": False},
    {"name": "My Company\\Shops\\Tills", "inherits": True},
]


def _two_domains(name: str, cert: Any, *, clients: int = 200) -> dict[str, Any]:
    entry = manager(name, "Site East", cert, clients=clients, offline_share=0.0)
    entry["clients"]["churn"] = dict(CHURN)
    entry["domains"] = [
        {
            "name": "Branch",
            "groups": BRANCH_GROUPS,
            "clients": {"count": 120, "heartbeat": "5m", "churn": dict(CHURN)},
        }
    ]
    return entry


def _result(results: list[TickResult], name: str) -> TickResult:
    return next(r for r in results if r.server == name)


async def test_two_domains_are_patched_and_counted_each_and_end_with_no_orphans(
    make_rig: RigFactory, pki: Pki
) -> None:
    old, new = pki.leaf("east-old"), pki.leaf("east-new")
    async with make_rig(fleet(_two_domains("sepm-east", old))) as rig:
        write_spec(rig.specs_dir, rig.sim, "sepm-east", pki, new)
        rig.start_engine()
        await rig.run_until(lambda rs: rs[0].phase_after is Phase.WAITING_UNVERIFIED)

        truth = rig.truth()["managers"]["sepm-east"]
        assert truth["domains"] == ["Default", "Branch"]
        assert all(not g["secure_communications"] for g in truth["groups"]), (
            "step 2b turned verification off in every group of both domains"
        )
        observed = rig.record("sepm-east").observed
        assert observed is not None and set(observed.domains) == {"Default", "Branch"}
        branch = observed.domains["Branch"]
        assert branch["eligible"] is not None and branch["eligible"] >= 100, branch
        assert observed.eligible == sum(int(c["eligible"] or 0) for c in observed.domains.values())

        await rig.run_until(in_sync, max_ticks=300)
        truth = rig.truth()["managers"]["sepm-east"]
        assert set(truth["served"].values()) == {new.fingerprint}
        assert {g["domain"] for g in truth["groups"]} == {"Default", "Branch"}
        assert all(g["secure_communications"] for g in truth["groups"]), "verification is on again everywhere"
        rig.assert_no_orphans("sepm-east")
        canary = [e for e in rig.store.events("sepm-east") if e.kind is EventKind.CANARY]
        assert [e.code for e in canary] == [Code.CANARY_PASSED.value]

        code, out, err = await cli("status", "--state", rig.state_url, "--output", "json")
        assert code == 0, err
        (entry,) = json.loads(out)["servers"]
        assert set(entry["domains"]) == {"Default", "Branch"}
        assert set(entry["domains"]["Branch"]) == {"eligible", "acknowledged", "at_risk"}
        assert entry["canary"] is None, "the rollout is over: its facts went with it (the event stays)"
        code, out, err = await cli("status", "--state", rig.state_url)
        assert code == 0, err
        flat = " ".join(out.split())
        assert "clients by domain:" in flat and "Default:" in flat and "Branch:" in flat
        code, out, err = await cli(
            "report", "--specs", str(rig.specs_dir), "--state", rig.state_url, "--output", "text"
        )
        assert code == 0, (out, err)
        assert "domain Branch" in out and "domain Default" in out
        code, out, err = await cli("plan", "--specs", str(rig.specs_dir), "--output", "json")
        assert code == 0, (out, err)
        assert set(json.loads(out)["servers"][0]["domains"]) == {"Default", "Branch"}


async def test_a_domain_the_credentials_stop_seeing_mid_rollout_holds_it(
    make_rig: RigFactory, pki: Pki
) -> None:
    old, new = pki.leaf("east-old"), pki.leaf("east-new")
    async with make_rig(fleet(_two_domains("sepm-east", old))) as rig:
        write_spec(rig.specs_dir, rig.sim, "sepm-east", pki, new)
        rig.start_engine()
        await rig.run_until(lambda rs: rs[0].phase_after is Phase.WAITING_UNVERIFIED)
        assert rig.record("sepm-east").facts.domains == ("Default", "Branch")

        await rig.admin("sepm-east").faults(hidden_domains=["Branch"])
        for _ in range(30):  # far past minSoak: without the domain, every remaining client would be ready
            (result,) = await rig.tick()
            assert result.code is Code.DOMAIN_NOT_VISIBLE, result.reason
            assert result.phase_after is Phase.WAITING_UNVERIFIED
            await rig.advance(timedelta(hours=4))
        assert "Branch" in result.reason
        assert [r for r in rig.hook_runs() if r["step"] == "4"] == [], "the swap never started"

        await rig.admin("sepm-east").faults(hidden_domains=[])
        await rig.run_until(in_sync, max_ticks=300)
        rig.assert_no_orphans("sepm-east")


async def test_a_domain_the_spec_names_that_is_not_visible_holds_the_start(
    make_rig: RigFactory, pki: Pki
) -> None:
    old, new = pki.leaf("east-old"), pki.leaf("east-new")
    async with make_rig(fleet(_two_domains("sepm-east", old))) as rig:
        write_spec(rig.specs_dir, rig.sim, "sepm-east", pki, new, clients={"domains": ["Default", "Shops"]})
        rig.start_engine()
        for _ in range(3):
            (result,) = await rig.tick()
            assert result.code is Code.DOMAIN_NOT_VISIBLE, result.reason
            assert "Shops" in result.reason
            await rig.advance(timedelta(hours=1))
        assert not [r for r in rig.hook_runs() if r["step"] in ("2", "4")], "nothing was done"
        assert all(g["secure_communications"] for g in rig.truth()["managers"]["sepm-east"]["groups"])


async def test_a_swap_that_orphans_clients_halts_every_further_swap_until_a_person_resumes(
    make_rig: RigFactory, pki: Pki
) -> None:
    east_old, east_new = pki.leaf("east-old"), pki.leaf("east-new")
    west_old, west_new = pki.leaf("west-old"), pki.leaf("west-new")
    sim_fleet = fleet(
        manager("sepm-east", "Site East", east_old, offline_share=0.0),
        manager("sepm-west", "Site West", west_old, offline_share=0.0),
    )
    async with make_rig(sim_fleet) as rig:
        # east's spec leaves the kiosks out: they keep verifying, and the swap orphans them
        managed = [g["name"] for g in GROUPS if g["name"] != "My Company\\Kiosks" and not g["inherits"]]
        write_spec(rig.specs_dir, rig.sim, "sepm-east", pki, east_new, clients={"groups": managed})
        # west waits for an approval of step 4, so east swaps first
        write_spec(rig.specs_dir, rig.sim, "sepm-west", pki, west_new, rollout={"approvals": [4]})
        rig.start_engine()

        results = await rig.run_until(
            lambda rs: _result(rs, "sepm-east").phase_after is Phase.STALLED, max_ticks=300
        )
        east = _result(results, "sepm-east")
        assert east.code is Code.SUSPECTED_ORPHANS, east.reason
        assert "canary analysis failed" in east.reason
        orphans = sorted(rig.truth()["managers"]["sepm-east"]["orphaned_clients"])
        assert orphans, "the test's premise: the swap orphaned the kiosks"
        assert orphans[0] in east.reason, "the silent clients are named"
        record = rig.record("sepm-east")
        assert record.facts.canary is not None and not record.facts.canary.passed
        assert record.facts.canary.silent == len(orphans)
        assert record.facts.canary.silent_names == tuple(orphans[:100])
        stalls = [e for e in rig.store.events("sepm-east") if e.to_phase is Phase.STALLED]
        assert stalls and stalls[-1].code == Code.SUSPECTED_ORPHANS.value, "the halt is an event (notified)"

        # west: approved, otherwise ready — and its swap does not start while east is halted
        assert rig.record("sepm-west").phase is Phase.WAITING_UNVERIFIED
        code, _, err = await cli(
            "approve",
            "sepm-west",
            "--step",
            "4",
            "--by",
            "alice",
            "--reason",
            "CHG-1",
            "--state",
            rig.state_url,
        )
        assert code == 0, err
        for _ in range(20):
            results = await rig.tick()
            west = _result(results, "sepm-west")
            assert west.phase_after is Phase.WAITING_UNVERIFIED, west.reason
            await rig.advance(timedelta(hours=4))
        assert west.code is Code.SUSPECTED_ORPHANS and "sepm-east" in west.reason, west.reason
        assert not [r for r in rig.hook_runs() if r["step"] == "4" and r["server"] == "sepm-west"]
        assert set(rig.truth()["managers"]["sepm-west"]["served"].values()) == {west_old.fingerprint}

        # a person resumes east: the other swap may start
        code, _, err = await cli(
            "resume", "sepm-east", "--by", "bob", "--reason", "kiosks re-enrolled", "--state", rig.state_url
        )
        assert code == 0, err
        await rig.run_until(
            lambda rs: _result(rs, "sepm-west").phase_after is Phase.FETCHING_CERTIFICATE, max_ticks=100
        )
        assert set(rig.truth()["managers"]["sepm-west"]["served"].values()) == {west_new.fingerprint}
        assert rig.record("sepm-east").phase is not Phase.STALLED
