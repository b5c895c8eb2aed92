"""Things going wrong during a rollout, against the simulator: a flaky hook, a hook installing the wrong certificate,
a manager that cannot be reached. None of them moves a server on a guess, none orphans a protected client."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from reconciler.core.codes import Code
from reconciler.core.events import EventKind
from reconciler.core.procedure import Phase
from reconciler.engine import TickResult
from tests.e2e.conftest import RigFactory
from tests.e2e.kit import P12_PASSWORD, Pki, fleet, in_sync, manager, write_spec

pytestmark = pytest.mark.slow


def at(phase: Phase) -> Callable[[list[TickResult]], bool]:
    def done(results: list[TickResult]) -> bool:
        return results[0].phase_after is phase

    return done


async def test_hook_failing_twice_then_succeeding_backs_off_then_completes_the_step(
    make_rig: RigFactory, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("E2E_FAIL", "4:2")
    old, new = pki.leaf("east-old"), pki.leaf("east-new")
    async with make_rig(fleet(manager("sepm-east", "Site East", old, offline_share=0.0))) as rig:
        write_spec(rig.specs_dir, rig.sim, "sepm-east", pki, new)
        rig.start_engine()

        await rig.run_until(in_sync)

        events = rig.store.events("sepm-east")
        started = [e for e in events if e.kind is EventKind.ATTEMPT_STARTED and e.details.get("step") == 4]
        finished = [e for e in events if e.kind is EventKind.ATTEMPT_FINISHED and e.details.get("step") == 4]
        assert [e.details["attempt"] for e in started] == [1, 2, 3]
        assert [e.details["succeeded"] for e in finished] == [False, False, True]
        assert [e.details["exit_code"] for e in finished] == [1, 1, 0]
        # exponential backoff between attempts: 5 min after the first failure, 10 min after the second
        assert started[1].at - finished[0].at >= timedelta(minutes=5)
        assert started[2].at - finished[1].at >= timedelta(minutes=10)
        assert "simulated failure 1 of 2 (the password *** must be masked)" in finished[0].reason
        assert all(P12_PASSWORD not in e.reason for e in events)
        assert len([r for r in rig.hook_runs() if r["step"] == "4"]) == 3
        assert set(rig.truth()["managers"]["sepm-east"]["served"].values()) == {new.fingerprint}
        rig.assert_no_orphans("sepm-east")


async def test_hook_installing_the_wrong_certificate_stalls_step_4_and_says_why(
    make_rig: RigFactory, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    old, new, impostor = pki.leaf("east-old"), pki.leaf("east-new"), pki.leaf("impostor")
    monkeypatch.setenv("E2E_WRONG_CERT", str(impostor.cert_file))
    async with make_rig(fleet(manager("sepm-east", "Site East", old, offline_share=0.0))) as rig:
        write_spec(rig.specs_dir, rig.sim, "sepm-east", pki, new)
        rig.start_engine()

        results = await rig.run_until(at(Phase.STALLED))

        result = results[0]
        assert result.step == 4
        assert result.code is Code.UNEXPECTED_CERTIFICATE
        assert f"presents {impostor.fingerprint[:19]}" in result.reason
        assert result.remedy is not None and "sepm-reconciler resume sepm-east" in result.remedy
        record = rig.record("sepm-east")
        assert record.stall is not None and record.stall.code == "UnexpectedCertificate"
        for _ in range(3):  # it stays stalled, and nothing runs again, until a human resumes it
            await rig.advance(timedelta(hours=1))
            (again,) = await rig.tick()
            assert again.phase_after is Phase.STALLED and again.action is None
        assert len([r for r in rig.hook_runs() if r["step"] == "4"]) == 1
        assert set(rig.truth()["managers"]["sepm-east"]["served"].values()) == {impostor.fingerprint}
        rig.assert_no_orphans(
            "sepm-east"
        )  # verification was off: clients follow the certificate they are shown


async def test_unreachable_manager_holds_with_backoff_and_resumes_when_it_answers_again(
    make_rig: RigFactory, pki: Pki
) -> None:
    old, new = pki.leaf("east-old"), pki.leaf("east-new")
    async with make_rig(fleet(manager("sepm-east", "Site East", old, offline_share=0.0))) as rig:
        write_spec(rig.specs_dir, rig.sim, "sepm-east", pki, new)
        rig.start_engine()
        await rig.run_until(at(Phase.DISABLING_VERIFICATION))
        east = rig.sim.world.manager("sepm-east")
        with rig.sim.world.lock:
            east.faults.update({"restart_fails": "down"})
        await rig.sim.restart_services("sepm-east")
        await rig.sim.wait_services_up("sepm-east")

        delays = []
        for _ in range(4):
            (result,) = await rig.tick()
            assert result.phase_after is Phase.DISABLING_VERIFICATION, "an unreachable manager never moves"
            assert result.action is None and result.outcome is None, (
                "nothing is done on an unknown observation"
            )
            assert result.error is not None and "cannot be reached" in result.error
            assert result.code is Code.OBSERVATION_UNKNOWN
            delays.append(result.next_check_at - rig.clock.now())
            await rig.advance(result.next_check_at - rig.clock.now())
        assert delays == [timedelta(seconds=s) for s in (30, 60, 120, 240)]
        assert rig.record("sepm-east").reason == result.reason, "the reason is recorded for status"
        assert rig.record("sepm-east").observation_failures == 4, "the backoff is counted in the record"

        with rig.sim.world.lock:
            east.faults.update({"restart_fails": None})
        await rig.sim.restart_services("sepm-east")
        await rig.sim.wait_services_up("sepm-east")
        await rig.run_until(in_sync)
        assert set(rig.truth()["managers"]["sepm-east"]["served"].values()) == {new.fingerprint}
        rig.assert_no_orphans("sepm-east")
