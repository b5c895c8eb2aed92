"""Whole rollouts against the simulator: one server, two replicating partners, clients offline across the swap.

Each test ends with the simulator's ground truth: no client the spec protected is orphaned.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from reconciler.core.actions import ActionKind
from reconciler.core.codes import Code
from reconciler.core.events import EventKind
from reconciler.core.procedure import Phase
from reconciler.engine import TickResult
from tests.e2e.conftest import RigFactory
from tests.e2e.kit import P12_PASSWORD, Pki, fleet, in_sync, manager, write_spec
from tests.support.sim import HTTP_LIST, ORIGINAL_LIST

pytestmark = pytest.mark.slow

STEP_PHASES = [
    Phase.BREAKING_REPLICATION,
    Phase.SWITCHING_TO_HTTP_LIST,
    Phase.DISABLING_VERIFICATION,
    Phase.WAITING_UNVERIFIED,
    Phase.UPDATING_CERTIFICATE,
    Phase.FETCHING_CERTIFICATE,
    Phase.ENABLING_VERIFICATION,
    Phase.RESTORING_ORIGINAL_LIST,
    Phase.WAITING_VERIFIED,
    Phase.RESTORING_REPLICATION,
    Phase.IN_SYNC,
]


async def test_one_server_goes_from_drift_to_in_sync_through_all_seven_steps(
    make_rig: RigFactory, pki: Pki
) -> None:
    old, new = pki.leaf("east-old"), pki.leaf("east-new")
    async with make_rig(fleet(manager("sepm-east", "Site East", old))) as rig:
        write_spec(rig.specs_dir, rig.sim, "sepm-east", pki, new)
        rig.start_engine()

        await rig.run_until(in_sync)

        moves = [e for e in rig.store.events("sepm-east") if e.kind is EventKind.TRANSITION]
        assert [e.to_phase for e in moves] == STEP_PHASES, (
            "the seven steps and their sub-steps, each entered once"
        )
        step4 = [r for r in rig.hook_runs() if r["step"] == "4"]
        assert len(step4) == 1, "the certificate hook ran exactly once"
        assert step4[0]["desired"] == new.fingerprint
        assert step4[0]["password_in_env"] and not step4[0]["password_in_argv"]
        assert not [r for r in rig.hook_runs() if r["step"] in ("1", "7")], "no partner: nothing to break"
        lists = [(r["name"], r["list"]) for r in rig.hook_runs() if r["step"] in ("2", "5")]
        assert lists == [("switch_to_http_list", HTTP_LIST), ("restore_original_list", ORIGINAL_LIST)]
        truth = rig.truth()["managers"]["sepm-east"]
        assert set(truth["served"].values()) == {new.fingerprint}
        assert all(g["secure_communications"] for g in truth["groups"]), "verification is on again"
        assert {g["list"] for g in truth["groups"]} == {ORIGINAL_LIST}, "the clients' list is back"
        assert set(truth["clients"]["by_list"]) == {ORIGINAL_LIST}
        rig.assert_no_orphans("sepm-east")
        record = rig.record("sepm-east")
        assert record.in_sync and record.rollout_id is None and record.attempts == ()
        stored = (rig.specs_dir.parent / "state.db").read_bytes()
        assert P12_PASSWORD.encode() not in stored, "the keystore password never reaches the state"
        assert all(P12_PASSWORD not in e.reason for e in rig.store.events())


def _phase(results: list[TickResult], name: str) -> Phase:
    return next(r.phase_after for r in results if r.server == name)


async def test_two_replicating_servers_rotate_together_and_rejoin_only_when_both_reach_step_7(
    make_rig: RigFactory, pki: Pki
) -> None:
    east_old, east_new = pki.leaf("east-old"), pki.leaf("east-new")
    west_old, west_new = pki.leaf("west-old"), pki.leaf("west-new")
    fleet_config = fleet(
        manager("sepm-east", "Site East", east_old, offline_share=0.0, partners=["Site West"]),
        manager("sepm-west", "Site West", west_old, offline_share=0.3, partners=["Site East"]),
    )
    async with make_rig(fleet_config) as rig:
        write_spec(rig.specs_dir, rig.sim, "sepm-east", pki, east_new, partners=["Site West"])
        write_spec(rig.specs_dir, rig.sim, "sepm-west", pki, west_new, partners=["Site East"])
        rig.start_engine()

        await rig.run_until(in_sync)

        held = [
            results
            for results in rig.history
            if _phase(results, "sepm-east") is Phase.RESTORING_REPLICATION
            and _phase(results, "sepm-west") not in (Phase.RESTORING_REPLICATION, Phase.IN_SYNC)
        ]
        assert held, "east reached step 7 while west was still rotating"
        east_held = next(r for r in held[-1] if r.server == "sepm-east")
        assert east_held.code is Code.PARTNER_ROTATING
        for results in rig.history:  # a partnership is re-added only while both sit at step 7
            for result in results:
                if result.action is not None and result.action.kind is ActionKind.RESTORE_REPLICATION:
                    assert {_phase(results, "sepm-east"), _phase(results, "sepm-west")} <= {
                        Phase.RESTORING_REPLICATION,
                        Phase.IN_SYNC,
                    }
        runs = rig.hook_runs()
        assert sorted(r["server"] for r in runs if r["step"] == "4") == ["sepm-east", "sepm-west"]
        assert {r["partners"] for r in runs if r["step"] == "1"} <= {"Site West", "Site East"}
        truth = rig.truth()["managers"]
        assert set(truth["sepm-east"]["served"].values()) == {east_new.fingerprint}
        assert set(truth["sepm-west"]["served"].values()) == {west_new.fingerprint}
        for name, partner in (("sepm-east", "Site West"), ("sepm-west", "Site East")):
            replication = truth[name]["replication"]
            assert partner in replication["partners"], replication
            assert all(g["secure_communications"] for g in truth[name]["groups"]), name
            rig.assert_no_orphans(name)


async def test_offline_clients_returning_after_the_swap_are_the_only_orphans_and_were_reported_at_risk(
    make_rig: RigFactory, pki: Pki
) -> None:
    old, new = pki.leaf("east-old"), pki.leaf("east-new")
    async with make_rig(fleet(manager("sepm-east", "Site East", old, offline_share=0.0))) as rig:
        rows = rig.truth(clients=True)["managers"]["sepm-east"]["client_rows"]
        names = sorted(row["name"] for row in rows)
        away_long, away_short = names[:4], names[10:14]
        admin = rig.admin("sepm-east")
        await admin.post("clients/online", {"online": False, "names": away_long, "for_seconds": 5 * 86400})
        await admin.post("clients/online", {"online": False, "names": away_short, "for_seconds": 86400})
        write_spec(rig.specs_dir, rig.sim, "sepm-east", pki, new, clients={"excludeOfflineFor": "2d"})
        rig.start_engine()

        await rig.run_until(in_sync)

        swap = next(
            i for i, results in enumerate(rig.history) if results[0].phase_after is Phase.UPDATING_CERTIFICATE
        )
        before = rig.history[swap][0].observation
        assert before is not None and before.clients is not None
        assert set(away_long) <= set(before.clients.at_risk_names), "reported at risk before the swap"
        assert before.clients.excluded_offline == len(away_long)
        await rig.advance(timedelta(days=4))  # everyone is back by now
        truth = rig.truth(clients=True)["managers"]["sepm-east"]
        assert sorted(truth["orphaned_clients"]) == away_long, "only the clients away throughout are orphaned"
        by_name = {row["name"]: row for row in truth["client_rows"]}
        assert all(by_name[n]["online"] and not by_name[n]["orphaned"] for n in away_short)
        rig.assert_no_orphans("sepm-east", except_names=away_long)
