"""Sites with several managers, end to end on the strict simulator (churning clients): the policy steps are done once
for the site on one server's API, the swap one server at a time, step 5a only after every server of the site
swapped and its clients fetched the new certificate; waves order the sites."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import pytest

from reconciler.core.actions import SetVerification
from reconciler.core.codes import Code
from reconciler.core.procedure import Phase
from reconciler.engine import TickResult
from tests.e2e.conftest import RigFactory
from tests.e2e.kit import Pki, Rig, cli, fleet, in_sync, manager, write_spec
from tests.support.pki import Leaf

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]  # three managers, two sites, a whole rollout each

CHURN = {"addPerDay": 20, "removePerDay": 10, "reimagePerDay": 10}
SITE_ONE = ("sepm-a", "sepm-b")


def _churning(entry: dict[str, Any]) -> dict[str, Any]:
    entry["clients"]["churn"] = dict(CHURN)
    return entry


def _second_of_site(entry: dict[str, Any]) -> dict[str, Any]:
    """A second manager of a site: the groups and the replication are the site's, written on its first manager."""
    entry.pop("groups", None)
    entry.pop("replication", None)
    return entry


def _site_fleet(pki: Pki, *, partner: bool = True) -> tuple[dict[str, Any], dict[str, tuple[Leaf, Leaf]]]:
    certs = {
        name: (pki.leaf(f"{name}-old"), pki.leaf(f"{name}-new")) for name in ("sepm-a", "sepm-b", "sepm-c")
    }
    partners_one = ["Site Two"] if partner else []
    partners_two = ["Site One"] if partner else []
    managers = [
        _churning(
            manager(
                "sepm-a",
                "Site One",
                certs["sepm-a"][0],
                clients=200,
                offline_share=0.0,
                partners=partners_one,
            )
        ),
        _churning(
            _second_of_site(manager("sepm-b", "Site One", certs["sepm-b"][0], clients=150, offline_share=0.0))
        ),
        _churning(
            manager(
                "sepm-c",
                "Site Two",
                certs["sepm-c"][0],
                clients=150,
                offline_share=0.0,
                partners=partners_two,
            )
        ),
    ]
    return fleet(*managers), certs


def _write_specs(
    rig: Rig,
    pki: Pki,
    certs: dict[str, tuple[Leaf, Leaf]],
    *,
    partner: bool = True,
    waves: dict[str, int] | None = None,
) -> None:
    for name in ("sepm-a", "sepm-b", "sepm-c"):
        site_two = name == "sepm-c"
        partners = (["Site One"] if site_two else ["Site Two"]) if partner else []
        rollout = {"wave": (waves or {}).get(name, 1)}
        write_spec(rig.specs_dir, rig.sim, name, pki, certs[name][1], partners=partners, rollout=rollout)


def _phase(results: Iterable[TickResult], name: str) -> Phase | None:
    return next((r.phase_after for r in results if r.server == name), None)


def _assert_site_rules(rig: Rig) -> None:
    """The site's flags are written by one server per direction, its list hooks run on one server, and its two
    servers are never both in step 4a."""
    writers: dict[bool, set[str]] = {True: set(), False: set()}
    for results in rig.history:
        swapping = [
            r.server for r in results if r.server in SITE_ONE and r.phase_after is Phase.UPDATING_CERTIFICATE
        ]
        assert len(swapping) <= 1, f"both servers of the site in step 4a: {swapping}"
        for r in results:
            if r.server in SITE_ONE and isinstance(r.action, SetVerification):
                writers[r.action.enabled].add(r.server)
    assert len(writers[False]) == 1 and len(writers[True]) == 1, writers
    runs = rig.hook_runs()
    for step in ("1", "2", "5", "7"):
        assert len({r["server"] for r in runs if r["step"] == step and r["server"] in SITE_ONE}) == 1, runs
    assert sorted(r["server"] for r in runs if r["step"] == "4") == ["sepm-a", "sepm-b", "sepm-c"]


def _swap_ticks(rig: Rig, name: str) -> list[int]:
    return [i for i, results in enumerate(rig.history) if _phase(results, name) is Phase.UPDATING_CERTIFICATE]


async def test_a_two_manager_site_and_its_partner_rotate_as_one_site_rollout_without_orphans(
    make_rig: RigFactory, pki: Pki
) -> None:
    fleet_config, certs = _site_fleet(pki)
    async with make_rig(fleet_config) as rig:
        _write_specs(rig, pki, certs)
        rig.start_engine()
        await rig.run_until(in_sync, max_ticks=400)

        _assert_site_rules(rig)
        a, b = _swap_ticks(rig, "sepm-a"), _swap_ticks(rig, "sepm-b")
        assert a and b and (max(a) < min(b) or max(b) < min(a)), "the swaps of the site were one at a time"
        followed = [
            r
            for results in rig.history
            for r in results
            if r.server == "sepm-b" and r.code is Code.SITE_STEP_DONE_ON_PEER
        ]
        assert followed and "on the API of sepm-a" in followed[0].reason
        held = {r.code for results in rig.history for r in results if r.server in SITE_ONE}
        assert Code.SITE_SWAP_TURN in held and Code.SITE_SWAPS_PENDING in held, held
        truth = rig.truth()["managers"]
        for name in ("sepm-a", "sepm-b", "sepm-c"):
            assert set(truth[name]["served"].values()) == {certs[name][1].fingerprint}, name
            assert all(g["secure_communications"] for g in truth[name]["groups"]), name
            rig.assert_no_orphans(name)
        assert "Site Two" in truth["sepm-a"]["replication"]["partners"]

        code, out, err = await cli(
            "report", "--specs", str(rig.specs_dir), "--state", rig.state_url, "--output", "markdown"
        )
        assert code == 0, out + err
        rows = [line.split("|") for line in out.splitlines() if line.startswith("| Site ")]
        assert rows[0][1:3] == [" Site ", " Server "], (
            "the overview names the site when one has several servers"
        )
        assert [(r[1].strip(), r[2].strip(" `")) for r in rows[1:]] == [
            ("Site One", "sepm-a"),
            ("Site One", "sepm-b"),
            ("Site Two", "sepm-c"),
        ]


async def test_a_manager_down_during_the_swap_of_the_other_makes_the_site_wait_and_orphans_nothing(
    make_rig: RigFactory, pki: Pki
) -> None:
    fleet_config, certs = _site_fleet(pki, partner=False)
    async with make_rig(fleet_config) as rig:
        _write_specs(rig, pki, certs, partner=False)
        rig.start_engine()
        await rig.run_until(
            lambda rs: Phase.UPDATING_CERTIFICATE in {_phase(rs, "sepm-a"), _phase(rs, "sepm-b")},
            max_ticks=200,
        )
        first = "sepm-a" if _phase(rig.history[-1], "sepm-a") is Phase.UPDATING_CERTIFICATE else "sepm-b"
        other = "sepm-b" if first == "sepm-a" else "sepm-a"
        down = rig.admin(other)
        await down.faults(restart_fails="down")
        await rig.sim.restart_services(other)  # the other manager of the site goes down for good

        for _ in range(40):  # its clients fail over; the site waits for it
            await rig.tick()
            await rig.advance(timedelta(hours=2))
        assert _phase(rig.history[-1], first) is Phase.FETCHING_CERTIFICATE, rig.history[-1]
        assert _phase(rig.history[-1], other) is not Phase.UPDATING_CERTIFICATE
        waiting = next(r for r in rig.history[-1] if r.server == first)
        assert waiting.code is Code.SITE_SWAPS_PENDING, waiting.reason
        truth = rig.truth()["managers"]
        assert truth[other]["clients"]["orphaned"] == 0 and truth[first]["clients"]["orphaned"] == 0
        assert all(not g["secure_communications"] for g in truth[first]["groups"]), "verification stays off"

        code, out, err = await cli(
            "status", "--state", rig.state_url, "--specs", str(rig.specs_dir), "--output", "json"
        )
        assert code == 0, err
        entries = {e["name"]: e for e in json.loads(out)["servers"]}
        site = entries[first]["site"]
        assert site == entries[other]["site"], "one site block for the servers of one site"
        assert site["name"] == "Site One" and site["rollout"] in {entries[n]["rollout_id"] for n in SITE_ONE}
        assert site["servers"] == {first: "swapped", other: "pending"}
        assert site["phase"] == Phase.WAITING_UNVERIFIED.value and site["lead"] == first
        assert entries["sepm-c"]["site"]["name"] == "Site Two"
        assert {"name", "phase", "step", "in_sync", "reason", "code", "substep", "rollout_id"} <= set(
            entries[first]
        )

        world = rig.sim.world
        with world.lock:  # in-process: its /_sim port is down too
            world.manager(other).faults.update({"reset": True})
        await rig.sim.restart_services(other)
        await rig.sim.wait_services_up(other)
        await rig.run_until(in_sync, max_ticks=400, names=None)
        for name in SITE_ONE:
            assert set(rig.truth()["managers"][name]["served"].values()) == {certs[name][1].fingerprint}
            rig.assert_no_orphans(name)


async def test_a_later_wave_does_not_swap_before_every_earlier_wave_passed_step_4b(
    make_rig: RigFactory, pki: Pki
) -> None:
    fleet_config, certs = _site_fleet(pki, partner=False)
    async with make_rig(fleet_config) as rig:
        _write_specs(rig, pki, certs, partner=False, waves={"sepm-c": 1, "sepm-a": 2, "sepm-b": 2})
        code, out, err = await cli("plan", "--specs", str(rig.specs_dir), "--output", "json")
        assert code == 2, err
        sites = json.loads(out)["sites"]
        assert [(s["wave"], s["name"]) for s in sites] == [(1, "Site Two"), (2, "Site One")]
        assert [o["server"] for o in sites[1]["swap_order"]] == ["sepm-a", "sepm-b"]
        assert all(o["status"] == "pending" and o["earliest_start"] for o in sites[1]["swap_order"])
        code, out, _ = await cli("plan", "--specs", str(rig.specs_dir))
        assert "wave 2 · Site One: sepm-a (4a pending, from" in " ".join(out.split())
        rig.start_engine()
        await rig.run_until(in_sync, max_ticks=400)
        past_4b = {
            Phase.ENABLING_VERIFICATION,
            Phase.RESTORING_ORIGINAL_LIST,
            Phase.WAITING_VERIFIED,
            Phase.RESTORING_REPLICATION,
        }
        earliest_passed = next(
            i for i, results in enumerate(rig.history) if _phase(results, "sepm-c") in past_4b
        )
        for name in SITE_ONE:
            assert min(_swap_ticks(rig, name)) > earliest_passed, name
        held = [r for results in rig.history for r in results if r.code is Code.EARLIER_WAVE_PENDING]
        assert held and {r.server for r in held} <= set(SITE_ONE)
        for name in ("sepm-a", "sepm-b", "sepm-c"):
            rig.assert_no_orphans(name)
