"""Orphans after the swap are never excluded (#17 finding 2), on the simulator: a group's verification is turned
back on while the certificate hook runs, so the swap orphans its clients. They stay in the denominator however
long they are silent, are named as probably orphaned, hold the rollout in step 4b (verification does not come
back), and ``report`` exits 2 with
``SuspectedOrphans`` — where before they fell out of "eligible" after ``excludeOfflineFor`` and the rollout
reported complete. Since #13 the canary analysis halts the rollout first, in step 4b; a person resumes it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from reconciler.core.codes import Code
from reconciler.core.procedure import Phase
from reconciler.sepm import observe, set_secure_communications
from tests.e2e.conftest import RigFactory
from tests.e2e.kit import Pki, cli, fast_client, fleet, manager, write_spec

pytestmark = pytest.mark.slow


async def _wait_for(predicate: Callable[[], bool], within: float = 60) -> None:
    async with asyncio.timeout(within):
        while not predicate():  # noqa: ASYNC110 - set by another process: nothing to await
            await asyncio.sleep(0.05)


async def test_clients_orphaned_by_the_swap_block_completion_are_named_and_report_exits_2(
    make_rig: RigFactory, pki: Pki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old, new = pki.leaf("east-old"), pki.leaf("east-new")
    async with make_rig(fleet(manager("sepm-east", "Site East", old, offline_share=0.0))) as rig:
        write_spec(rig.specs_dir, rig.sim, "sepm-east", pki, new, clients={"excludeOfflineFor": "2d"})
        rig.start_engine()
        await rig.run_until(lambda rs: rs[0].phase_after is Phase.UPDATING_CERTIFICATE)

        ready, go = tmp_path / "hook-ready", tmp_path / "hook-go"
        monkeypatch.setenv("E2E_READY_FILE", str(ready))
        monkeypatch.setenv("E2E_GO_FILE", str(go))
        swap = asyncio.create_task(rig.tick())  # starts the certificate hook, which waits for "go"
        await _wait_for(ready.exists)
        # someone turns verification back on for the laptops while the hook runs …
        server = rig.load().servers["sepm-east"]
        client = fast_client(server)
        try:
            seen = await observe(server.spec, client)
            laptops = [g for g in seen.groups or () if g.full_path_name == "My Company\\Laptops"]
            assert laptops and all(r.ok for r in await set_secure_communications(client, laptops, True))
        finally:
            await client.aclose()
        rig.advance_simulator(timedelta(hours=1))  # … the laptops apply it, then the certificate changes
        go.touch()
        await swap

        halted = False
        for _ in range(120):  # far past excludeOfflineFor (2 days) after the swap
            (result,) = await rig.tick()
            assert result.phase_after is not Phase.IN_SYNC, f"reported complete: {result.reason}"
            if result.phase_after is Phase.STALLED:
                # the canary analysis after the swap halts first (#13): a person looks, then lets it go on
                assert not halted and result.code is Code.SUSPECTED_ORPHANS, result.reason
                assert "canary analysis failed" in result.reason
                halted = True
                code, _, err = await cli(
                    "resume", "sepm-east", "--by", "bob", "--reason", "looked", "--state", rig.state_url
                )
                assert code == 0, err
            await rig.advance(timedelta(hours=2))
        assert halted, "the canary analysis halted the rollout after the swap"
        # held in 4b (clients fetching the new certificate): verification never comes back while they are silent
        assert result.phase_after is Phase.FETCHING_CERTIFICATE, result.reason
        assert result.code is Code.SUSPECTED_ORPHANS, (result.code, result.reason)

        orphans = set(rig.truth()["managers"]["sepm-east"]["orphaned_clients"])
        assert orphans, "the test's premise: the swap orphaned the laptops that verified again"
        observed = rig.record("sepm-east").observed
        assert observed is not None and observed.suspected_orphans == len(orphans)
        assert observed.suspected_names == tuple(sorted(orphans)[:100]), "every orphan is named (first 100)"
        assert observed.eligible == 300, "they stay in the denominator"

        code, out, err = await cli(
            "report", "--specs", str(rig.specs_dir), "--state", rig.state_url, "--output", "json"
        )
        assert code == 2, (out, err)
        findings = json.dumps(json.loads(out))
        assert "SuspectedOrphans" in findings
        assert sorted(orphans)[0] in findings


async def test_a_flag_turned_back_on_right_before_the_swap_keeps_the_hook_from_starting(
    make_rig: RigFactory, pki: Pki
) -> None:
    old, new = pki.leaf("east-old"), pki.leaf("east-new")
    async with make_rig(fleet(manager("sepm-east", "Site East", old, offline_share=0.0))) as rig:
        write_spec(rig.specs_dir, rig.sim, "sepm-east", pki, new)
        rig.start_engine()
        await rig.run_until(lambda rs: rs[0].phase_after is Phase.UPDATING_CERTIFICATE)
        server = rig.load().servers["sepm-east"]

        async def turn_laptops_back_on() -> None:
            client = fast_client(server)
            try:
                seen = await observe(server.spec, client)
                laptops = [g for g in seen.groups or () if g.full_path_name == "My Company\\Laptops"]
                assert laptops and all(r.ok for r in await set_secure_communications(client, laptops, True))
            finally:
                await client.aclose()

        def guard(name: str, action: object) -> None:
            # right after the swap's attempt was saved, before its hook starts: someone turns verification back on
            # (this runs in a thread while the simulator serves on the test's loop)
            if type(action).__name__ == "UpdateCertificate":
                asyncio.run(turn_laptops_back_on())

        rig.start_engine(action_guard=guard)
        (result,) = await rig.tick()
        assert result.outcome is not None and not result.outcome.succeeded
        assert "verification reads on" in result.outcome.detail, result.outcome.detail
        assert [r for r in rig.hook_runs() if r["step"] == "4"] == [], "the swap hook started anyway"
        await rig.advance(timedelta(minutes=1))  # policy serials have a one-second resolution: time moves on
        rig.start_engine()
        await rig.run_until(lambda rs: rs[0].phase_after is Phase.DISABLING_VERIFICATION)  # back to step 2
        await rig.run_until(lambda rs: rs[0].phase_after is Phase.IN_SYNC, max_ticks=300)
        rig.assert_no_orphans("sepm-east")
