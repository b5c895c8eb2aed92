"""Losing the state costs time, never protection (#17 finding 1): on the simulator, two replicating managers parked
after step 4, their state deleted or truncated, or an older backup restored — they are never reported in sync while
verification is off or replication is broken; they reach the end state from what they observe.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from reconciler.core.codes import Code
from reconciler.core.procedure import Phase
from reconciler.engine import TickResult
from tests.e2e.conftest import RigFactory
from tests.e2e.kit import Pki, Rig, cli, fleet, in_sync, manager, open_rig_store, write_spec

pytestmark = pytest.mark.slow

NAMES = ("sepm-east", "sepm-west")


def _pair(pki: Pki) -> tuple[dict[str, Any], dict[str, Any]]:
    leaves = {n: (pki.leaf(f"{n}-old"), pki.leaf(f"{n}-new")) for n in NAMES}
    config = fleet(
        manager("sepm-east", "Site East", leaves["sepm-east"][0], offline_share=0.0, partners=["Site West"]),
        manager("sepm-west", "Site West", leaves["sepm-west"][0], offline_share=0.0, partners=["Site East"]),
    )
    return config, {n: leaves[n][1] for n in NAMES}


def _write(rig: Rig, pki: Pki, new: dict[str, Any], **rollout: Any) -> None:
    write_spec(
        rig.specs_dir, rig.sim, "sepm-east", pki, new["sepm-east"], partners=["Site West"], rollout=rollout
    )
    write_spec(
        rig.specs_dir, rig.sim, "sepm-west", pki, new["sepm-west"], partners=["Site East"], rollout=rollout
    )


def _end_state(rig: Rig, new: dict[str, Any]) -> Iterator[str]:
    """What is wrong with the ground truth of the pair (nothing once converged)."""
    truth = rig.truth()["managers"]
    for name in NAMES:
        t = truth[name]
        if set(t["served"].values()) != {new[name].fingerprint}:
            yield f"{name}: serves {t['served']}"
        if not all(g["secure_communications"] for g in t["groups"]):
            yield f"{name}: verification off on some group"
        if not t["replication"]["partners"]:
            yield f"{name}: replication broken"
        if t["orphaned_clients"]:
            yield f"{name}: {len(t['orphaned_clients'])} orphaned"


def _never_falsely_in_sync(rig: Rig, new: dict[str, Any]) -> Any:
    def done(results: list[TickResult]) -> bool:
        if any(r.phase_after is Phase.IN_SYNC for r in results):
            problems = [p for p in _end_state(rig, new) if "replication" in p or "verification" in p]
            synced = [r.server for r in results if r.phase_after is Phase.IN_SYNC]
            assert not (problems and set(synced) & {p.split(":")[0] for p in problems}), (synced, problems)
        return in_sync(results)

    return done


def _lose(state: Path, how: str) -> None:
    for suffix in ("", "-wal", "-shm"):
        path = Path(f"{state}{suffix}")
        if how == "deleted":
            path.unlink(missing_ok=True)
        elif path.exists():
            path.write_bytes(b"")


async def _approve_step_5(rig: Rig) -> None:
    for name in NAMES:
        code, out, err = await cli(
            "approve", name, "--step", "5", "--by", "alice", "--reason", "test", "--state", rig.state_url
        )
        assert code == 0, (out, err)


@pytest.mark.parametrize("loss", ["deleted", "truncated"])
async def test_state_lost_after_step_4_costs_time_never_protection(
    make_rig: RigFactory, pki: Pki, tmp_path: Path, loss: str
) -> None:
    config, new = _pair(pki)
    async with make_rig(config) as rig:
        _write(rig, pki, new, approvals=[5])  # parks both after 4b, verification off, replication broken
        rig.start_engine()
        await rig.run_until(
            lambda rs: all(
                r.phase_after is Phase.FETCHING_CERTIFICATE and r.code is Code.APPROVAL_MISSING for r in rs
            )
        )
        parked = list(_end_state(rig, new))
        assert any("verification off" in p for p in parked) and any("replication broken" in p for p in parked)

        rig.store.close()  # the state is lost
        _lose(tmp_path / "state.db", loss)
        rig.store = open_rig_store(tmp_path)
        rig.start_engine()

        held = await rig.tick()
        assert all(r.phase_after is not Phase.IN_SYNC for r in held), [(r.server, r.reason) for r in held]
        assert {r.code for r in held} == {Code.APPROVAL_MISSING}, [
            r.reason for r in held
        ]  # the same gate holds
        await _approve_step_5(rig)
        await rig.run_until(_never_falsely_in_sync(rig, new), max_ticks=300)
        assert list(_end_state(rig, new)) == []
        for name in NAMES:
            events = [e.code for e in rig.store.events(name)]
            assert Code.END_STATE_DRIFT in events


async def test_an_older_backup_restored_into_managers_past_step_4_goes_forward_to_the_end_state(
    make_rig: RigFactory, pki: Pki, tmp_path: Path
) -> None:
    config, new = _pair(pki)
    async with make_rig(config) as rig:
        _write(rig, pki, new)
        rig.start_engine()
        await rig.run_until(lambda rs: all(r.phase_after is Phase.WAITING_UNVERIFIED for r in rs))
        backup = tmp_path / "backup.db"
        code, out, err = await cli("state", "backup", "--state", rig.state_url, "--to", str(backup))
        assert code == 0, (out, err)
        await rig.run_until(
            lambda rs: all(r.phase_after in (Phase.ENABLING_VERIFICATION, Phase.WAITING_VERIFIED) for r in rs)
        )
        rig.store.close()
        code, out, err = await cli(
            "state", "restore", "--state", rig.state_url, "--from", str(backup), "--force"
        )
        assert code == 0, (out, err)
        rig.store = open_rig_store(tmp_path)
        assert {rig.record(n).phase for n in NAMES} == {Phase.WAITING_UNVERIFIED}
        rig.start_engine()
        results = await rig.run_until(
            _never_falsely_in_sync(rig, new), max_ticks=300, max_step=timedelta(hours=2)
        )
        assert in_sync(results)
        assert list(_end_state(rig, new)) == []
        for name in NAMES:
            assert Code.SWAP_OBSERVED in [e.code for e in rig.store.events(name)]
        step4 = [r for r in rig.hook_runs() if r["step"] == "4"]
        assert sorted(r["server"] for r in step4) == sorted(NAMES), "never swapped again"
