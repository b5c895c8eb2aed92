"""What operators do during a rollout, through the real commands: abort before step 4, approve step 4 — and a
server in report mode, which is only ever observed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from reconciler.core.codes import Code
from reconciler.core.events import EventKind
from reconciler.core.procedure import Phase
from reconciler.engine import TickResult
from tests.e2e.conftest import RigFactory
from tests.e2e.kit import Pki, cli, fleet, in_sync, manager, write_spec
from tests.support.sim import ORIGINAL_LIST

pytestmark = pytest.mark.slow


def at(phase: Phase, *, code: Code | None = None) -> Callable[[list[TickResult]], bool]:
    def done(results: list[TickResult]) -> bool:
        return results[0].phase_after is phase and code in (None, results[0].code)

    return done


async def test_abort_before_step_4_restores_verification_and_replication(
    make_rig: RigFactory, pki: Pki
) -> None:
    east_old, east_new, west_old = pki.leaf("east-old"), pki.leaf("east-new"), pki.leaf("west-old")
    fleet_config = fleet(
        manager("sepm-east", "Site East", east_old, offline_share=0.0, partners=["Site West"]),
        manager("sepm-west", "Site West", west_old, clients=50, partners=["Site East"]),
    )
    async with make_rig(fleet_config) as rig:
        write_spec(rig.specs_dir, rig.sim, "sepm-east", pki, east_new, partners=["Site West"])
        rig.start_engine()
        await rig.run_until(at(Phase.WAITING_UNVERIFIED), names=["sepm-east"])
        truth = rig.truth()["managers"]["sepm-east"]
        assert truth["replication"]["partners"] == [] and not any(
            g["secure_communications"] for g in truth["groups"]
        )

        code, _, err = await cli(
            "abort", "sepm-east", "--by", "alice", "--reason", "CAB said no", "--state", rig.state_url
        )
        assert code == 0, err
        await rig.run_until(at(Phase.DRIFTED), names=["sepm-east"])

        truth = rig.truth()["managers"]["sepm-east"]
        assert all(g["secure_communications"] for g in truth["groups"]), (
            "verification is on again where it was"
        )
        assert truth["replication"]["partners"] == ["Site West"], "the partnership is restored"
        assert set(truth["served"].values()) == {east_old.fingerprint}, "the certificate was never touched"
        assert [(r["step"], r["name"]) for r in rig.hook_runs()] == [
            ("1", "break_replication"),
            ("2", "switch_to_http_list"),
            ("5", "restore_original_list"),  # the roll-back puts the original list back (as step 5b)
            ("7", "restore_replication"),
        ], "broken, switched, then restored; no certificate hook"
        assert {g["list"] for g in truth["groups"]} == {ORIGINAL_LIST}, "the groups' list is back"
        events = rig.store.events("sepm-east")
        assert any(e.kind is EventKind.ABORTED and e.actor == "alice" for e in events)
        for _ in range(3):  # held: not restarted for the same certificate and spec revision
            await rig.advance(timedelta(hours=4))
            (result,) = await rig.tick(["sepm-east"])
            assert result.phase_after is Phase.DRIFTED and result.action is None
            assert result.code is Code.ABORTED
        assert set(rig.truth()["managers"]["sepm-east"]["clients"]["by_list"]) == {ORIGINAL_LIST}, (
            "and applied"
        )
        rig.assert_no_orphans("sepm-east")
        rig.assert_no_orphans("sepm-west")


async def test_step_4_waits_for_its_approval_and_approve_lets_it_go(make_rig: RigFactory, pki: Pki) -> None:
    old, new = pki.leaf("east-old"), pki.leaf("east-new")
    async with make_rig(fleet(manager("sepm-east", "Site East", old, offline_share=0.0))) as rig:
        write_spec(rig.specs_dir, rig.sim, "sepm-east", pki, new, rollout={"approvals": [4]})
        rig.start_engine()
        await rig.run_until(at(Phase.WAITING_UNVERIFIED, code=Code.APPROVAL_MISSING))
        for _ in range(3):
            await rig.advance(timedelta(hours=4))
            (result,) = await rig.tick()
            assert result.phase_after is Phase.WAITING_UNVERIFIED, "no approval, no step 4"
            assert result.code is Code.APPROVAL_MISSING
            assert "sepm-reconciler approve sepm-east --step 4" in result.reason
        assert not [r for r in rig.hook_runs() if r["step"] == "4"]
        needed = [e for e in rig.store.events("sepm-east") if e.kind is EventKind.APPROVAL_NEEDED]
        assert len(needed) == 1, "announced once"

        code, _, err = await cli(
            "approve",
            "sepm-east",
            "--step",
            "4",
            "--by",
            "bob",
            "--reason",
            "CHG-1234",
            "--state",
            rig.state_url,
        )
        assert code == 0, err
        await rig.run_until(in_sync)

        events = rig.store.events("sepm-east")
        approval = next(e for e in events if e.kind is EventKind.APPROVAL)
        started = next(
            e for e in events if e.kind is EventKind.ATTEMPT_STARTED and e.details.get("step") == 4
        )
        assert approval.actor == "bob" and "CHG-1234" in approval.reason
        assert approval.id is not None and started.id is not None and approval.id < started.id
        assert len([r for r in rig.hook_runs() if r["step"] == "4"]) == 1
        rig.assert_no_orphans("sepm-east")


async def test_report_mode_observes_and_reports_drift_but_never_acts(make_rig: RigFactory, pki: Pki) -> None:
    old, new = pki.leaf("east-old"), pki.leaf("east-new")
    async with make_rig(
        fleet(
            manager("sepm-east", "Site East", old, partners=["Site West"]),
            manager("sepm-west", "Site West", pki.leaf("west"), clients=20, partners=["Site East"]),
        )
    ) as rig:
        write_spec(
            rig.specs_dir, rig.sim, "sepm-east", pki, new, partners=["Site West"], rollout={"mode": "report"}
        )
        before = rig.truth()["managers"]["sepm-east"]
        rig.start_engine()
        for _ in range(6):
            (result,) = await rig.tick(["sepm-east"])
            assert result.phase_after is Phase.DRIFTED
            assert result.action is None and result.outcome is None
            assert result.code is Code.REPORT_MODE and "drift" in result.reason
            await rig.advance(timedelta(hours=4))
        after = rig.truth()["managers"]["sepm-east"]
        assert rig.hook_runs() == []
        assert after["served"] == before["served"]
        assert after["replication"]["partners"] == before["replication"]["partners"] == ["Site West"]
        assert [(g["secure_communications"], g["policySerialNumber"]) for g in after["groups"]] == [
            (g["secure_communications"], g["policySerialNumber"]) for g in before["groups"]
        ], "no policy was changed"
        kinds = {e.kind for e in rig.store.events("sepm-east")}
        assert EventKind.ATTEMPT_STARTED not in kinds
        rig.assert_no_orphans("sepm-east")
