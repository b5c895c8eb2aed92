"""The vendor's whole procedure (KB 187099) against the strict simulator — every client on an HTTPS management
server list, the new certificate fetched only at a check-in whose policy does not verify, lists not shown through
the API: the list sub-steps (2a, 5b) by hook, by an operator confirmed with ``approve``, or skipped; 4b waiting for
the clients to come back and fetch the certificate; the new certificate's trust checked before anything changes.

The strict twins of the orphan hazard are here too, run by the reconciler itself: without 2a (``skip``) or with 5a
right after 4a (``afterSwap`` that waits for nobody), the ground truth shows orphans — each of them counted at risk
first; with the whole procedure (``test_rollout.py``), none.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from reconciler.core.codes import Code
from reconciler.core.events import EventKind
from reconciler.core.procedure import Phase
from reconciler.engine import TickResult
from tests.e2e.conftest import RigFactory
from tests.e2e.kit import Pki, Rig, cli, command, fleet, in_sync, manager, write_spec
from tests.support import pki as support_pki
from tests.support.sim import HTTP_LIST, ORIGINAL_LIST, copy_http_lists

pytestmark = pytest.mark.slow

SKIP = {"skip": True, "reason": "lab fleet: the clients' lists are not ours to change"}


def at(phase: Phase, *, code: Code | None = None) -> Callable[[list[TickResult]], bool]:
    def done(results: list[TickResult]) -> bool:
        return results[0].phase_after is phase and code in (None, results[0].code)

    return done


def moved_to(rig: Rig, phase: Phase) -> list[str]:
    """The reasons of the moves into ``phase`` so far."""
    return [
        e.reason
        for e in rig.store.events("sepm-east")
        if e.kind is EventKind.TRANSITION and e.to_phase is phase
    ]


def _args(rig: Rig, *more: str) -> list[str]:
    return ["--specs", str(rig.specs_dir), "--state", rig.state_url, *more]


# --- 2a and 5b: the evidence --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shown", "evidence"),
    [
        (False, "the manager does not show lists: every managed group's policy serial moved after the sub-step "
         "began and the hook exited 0"),
        (True, "read back in every managed group's settings"),
    ],
    ids=["lists-hidden-serial-and-hook", "lists-shown-read-back"],
)  # fmt: skip
async def test_the_list_steps_say_which_evidence_they_rest_on(
    make_rig: RigFactory, pki: Pki, shown: bool, evidence: str
) -> None:
    old, new = pki.leaf("east-old"), pki.leaf("east-new")
    behaviours = {"listNameInSettings": shown}
    async with make_rig(
        fleet(manager("sepm-east", "Site East", old, offline_share=0.0), behaviours=behaviours)
    ) as rig:
        write_spec(rig.specs_dir, rig.sim, "sepm-east", pki, new)
        rig.start_engine()
        await rig.run_until(at(Phase.DISABLING_VERIFICATION))

        code, out, err = await cli("status", "--state", rig.state_url, "--output", "json")
        assert code == 0, err
        (server,) = json.loads(out)["servers"]
        assert (server["step"], server["substep"]) == (2, "2b")
        expected = "read_back" if shown else "serial_and_hook"
        assert server["management_server_list"] == {"switch": expected, "restore": None}

        await rig.run_until(in_sync)

        [switched] = moved_to(rig, Phase.DISABLING_VERIFICATION)
        [restored] = moved_to(rig, Phase.WAITING_VERIFIED)
        assert (
            f"every managed group is on the HTTP management server list {HTTP_LIST} ({evidence})" in switched
        )
        assert (
            f"every managed group is on the original management server list {ORIGINAL_LIST} ({evidence})"
            in (restored)
        )
        truth = rig.truth()["managers"]["sepm-east"]
        assert {g["list"] for g in truth["groups"]} == {ORIGINAL_LIST}
        rig.assert_no_orphans("sepm-east")


async def test_a_list_hook_that_keeps_failing_is_retried_then_stalls_with_the_remedy_and_resumes_once_fixed(
    make_rig: RigFactory, pki: Pki
) -> None:
    old, new = pki.leaf("east-old"), pki.leaf("east-new")
    async with make_rig(fleet(manager("sepm-east", "Site East", old, offline_share=0.0)), lists=False) as rig:
        # nobody made the HTTP copy of the list: the simulator refuses to assign a list it does not have
        write_spec(
            rig.specs_dir,
            rig.sim,
            "sepm-east",
            pki,
            new,
            actions={"switchToHttpList": command(max_attempts=2), "updateCertificate": command(),
                     "restoreOriginalList": command()},
        )  # fmt: skip
        rig.start_engine()

        results = await rig.run_until(at(Phase.STALLED))

        (result,) = results
        assert result.code is Code.SWITCH_LIST_FAILED
        assert "the switch to the HTTP management server list failed 2 times (maximum 2)" in result.reason
        assert "no management server list named 'Default Management Server List (HTTP)'" in result.reason
        assert (
            result.remedy is not None and f"assign {HTTP_LIST} to all groups and locations" in result.remedy
        )
        runs = [r for r in rig.hook_runs() if r["name"] == "switch_to_http_list"]
        assert [r["attempt"] for r in runs] == ["1", "2"] and {r["list"] for r in runs} == {HTTP_LIST}
        truth = rig.truth()["managers"]["sepm-east"]
        assert all(g["secure_communications"] for g in truth["groups"]), "nothing else was changed"
        assert {g["list"] for g in truth["groups"]} == {ORIGINAL_LIST}

        copy_http_lists(rig.sim)  # the operator makes the copy, then resumes
        code, _, err = await cli("resume", "sepm-east", "--by", "bob", "--state", rig.state_url)
        assert code == 0, err
        await rig.run_until(in_sync)
        rig.assert_no_orphans("sepm-east")


async def test_a_manual_list_step_is_confirmed_with_approve_where_the_manager_does_not_show_lists(
    make_rig: RigFactory, pki: Pki
) -> None:
    old, new = pki.leaf("east-old"), pki.leaf("east-new")
    async with make_rig(fleet(manager("sepm-east", "Site East", old, offline_share=0.0))) as rig:
        write_spec(
            rig.specs_dir,
            rig.sim,
            "sepm-east",
            pki,
            new,
            actions={
                "switchToHttpList": "manual",
                "updateCertificate": command(),
                "restoreOriginalList": "manual",
            },
        )
        rig.start_engine()
        (waiting,) = await rig.run_until(at(Phase.SWITCHING_TO_HTTP_LIST, code=Code.MANUAL_STEP_PENDING))
        assert waiting.action is not None and "Use HTTP protocol" in waiting.action.instructions
        assert "sepm-reconciler approve sepm-east --step 2" in waiting.action.instructions

        admin = rig.admin("sepm-east")
        await admin.post("lists/assign", {"list": HTTP_LIST, "groups": None})  # the operator, in the console
        await rig.advance(timedelta(minutes=5))
        (still,) = await rig.tick()
        assert still.phase_after is Phase.SWITCHING_TO_HTTP_LIST, "a serial move alone does not confirm it"

        code, out, err = await cli(
            "approve", "sepm-east", "--step", "2", "--by", "bob", "--reason", "HTTP list assigned", "--state",
            rig.state_url,
        )  # fmt: skip
        assert code == 0, err
        assert "step 2 confirmed by bob" in out
        (confirmed,) = await rig.tick()
        assert confirmed.phase_after is Phase.DISABLING_VERIFICATION and confirmed.code is Code.LIST_SWITCHED
        assert "an operator confirmed" in confirmed.reason

        await rig.run_until(at(Phase.RESTORING_ORIGINAL_LIST, code=Code.MANUAL_STEP_PENDING))
        await admin.post("lists/assign", {"list": ORIGINAL_LIST, "groups": None})
        code, _, err = await cli(
            "approve", "sepm-east", "--step", "5", "--by", "bob", "--reason", "original back", "--state",
            rig.state_url,
        )  # fmt: skip
        assert code == 0, err
        await rig.run_until(in_sync)
        truth = rig.truth()["managers"]["sepm-east"]
        assert {g["list"] for g in truth["groups"]} == {ORIGINAL_LIST}
        rig.assert_no_orphans("sepm-east")


# --- 4b: the clients come back and fetch the certificate -----------------------------------------------------------


async def test_clients_away_across_the_swap_are_waited_for_in_4b_and_fetch_the_certificate_before_5a(
    make_rig: RigFactory, pki: Pki
) -> None:
    old, new = pki.leaf("east-old"), pki.leaf("east-new")
    async with make_rig(fleet(manager("sepm-east", "Site East", old, offline_share=0.0))) as rig:
        # 8 of 300 laptops (2.7 %) leave at the swap: more than the canary analysis' default 2 % would halt (#13)
        write_spec(
            rig.specs_dir, rig.sim, "sepm-east", pki, new, rollout={"canary": {"minReturnRatio": 0.95}}
        )
        rig.start_engine()
        await rig.run_until(at(Phase.UPDATING_CERTIFICATE))  # step 3 done: every client has both changes
        rows = rig.truth(clients=True)["managers"]["sepm-east"]["client_rows"]
        travelling = sorted(r["name"] for r in rows)[:8]
        await rig.admin("sepm-east").post(
            "clients/online", {"online": False, "names": travelling, "for_seconds": 12 * 3600}
        )

        await rig.run_until(at(Phase.FETCHING_CERTIFICATE))
        waited = await rig.run_until(
            lambda r: r[0].code is Code.SOAK_NOT_OVER and r[0].observation is not None
        )
        obs = waited[0].observation
        assert obs is not None and obs.clients is not None
        assert set(travelling) <= set(obs.clients.at_risk_names), "named at risk before verification returns"
        assert "at risk when verification is turned on" in waited[0].reason

        (enabling,) = await rig.run_until(at(Phase.ENABLING_VERIFICATION))
        assert enabling.code is Code.CLIENTS_READY and "checked in since the swap" in enabling.reason
        truth = rig.truth(clients=True)["managers"]["sepm-east"]
        by_name = {r["name"]: r for r in truth["client_rows"]}
        served = truth["served"]["clients"]
        assert all(by_name[n]["online"] and by_name[n]["trusts"] == served for n in travelling), (
            "back, and holding the new certificate before verification returns"
        )
        await rig.run_until(in_sync)
        rig.assert_no_orphans("sepm-east")


# --- the strict twins of the orphan hazard -------------------------------------------------------------------------


async def test_without_2a_clients_on_the_https_list_are_orphaned_at_the_swap_and_every_one_was_counted_at_risk(
    make_rig: RigFactory, pki: Pki
) -> None:
    """``skip``: no HTTP list around the swap. The rollout goes on (a person said why), every report warns, and
    before the swap every client is counted at risk — the strict simulator then orphans those on the HTTPS list."""
    old, new = pki.leaf("east-old"), pki.leaf("east-new")
    async with make_rig(fleet(manager("sepm-east", "Site East", old, offline_share=0.0))) as rig:
        write_spec(rig.specs_dir, rig.sim, "sepm-east", pki, new, lists=SKIP)
        rig.start_engine()
        (before,) = await rig.run_until(at(Phase.UPDATING_CERTIFICATE))
        obs = before.observation
        assert obs is not None and obs.clients is not None
        total = rig.truth()["managers"]["sepm-east"]["clients"]["total"]
        assert obs.clients.acknowledged == obs.clients.eligible == total, "step 3 itself was met"
        assert obs.clients.at_risk_count == total, "the at-risk list grows: every client's list is unknown"
        assert moved_to(rig, Phase.DISABLING_VERIFICATION)[0].startswith(
            f"the management server list switch is skipped ({SKIP['reason']})"
        )
        code, out, _ = await cli("report", *_args(rig, "--output", "json"))
        assert code == 2  # a rollout in progress, and the warning
        findings = json.loads(out)["servers"][0]["findings"]
        assert [f["severity"] for f in findings if f["reason"] == "ListSwitchSkipped"] == ["warning"]

        await rig.run_until(at(Phase.FETCHING_CERTIFICATE))
        await rig.advance(timedelta(minutes=10))  # two heartbeats: every client meets the new certificate
        clients = rig.truth()["managers"]["sepm-east"]["clients"]
        assert clients["orphaned"] == clients["orphaned_by"]["tls"] == total, (
            "HTTPS list: TLS fails, flag or no flag"
        )
        assert clients["orphaned"] <= obs.clients.at_risk_count


async def test_with_an_after_swap_that_waits_for_nobody_5a_still_waits_for_the_canary_and_nobody_is_orphaned(
    make_rig: RigFactory, pki: Pki
) -> None:
    """An ``afterSwap`` that waits for nobody once let verification come back before the clients checked in — they
    applied a verifying policy without the new certificate and were orphaned at the next check-in. Since #13 step 5a
    waits for the canary analysis of the swap (``canary.heartbeats`` heartbeats after it, manager clock), and silent
    clients of the swap's cohort hold 4b: by then the clients have fetched the new certificate."""
    old, new = pki.leaf("east-old"), pki.leaf("east-new")
    nobody: dict[str, Any] = {"afterSwap": {"minSoak": "0s", "minAckRatio": 0.0}}
    async with make_rig(fleet(manager("sepm-east", "Site East", old, offline_share=0.0))) as rig:
        write_spec(rig.specs_dir, rig.sim, "sepm-east", pki, new, clients=nobody)
        rig.start_engine()
        await rig.run_until(at(Phase.ENABLING_VERIFICATION))
        facts = rig.record("sepm-east").facts
        assert facts.swap_seen is not None and facts.canary is not None and facts.canary.passed
        assert facts.canary.judged_at >= facts.swap_seen + timedelta(minutes=15), "3 heartbeats of 5 minutes"

        await rig.run_until(in_sync)
        clients = rig.truth()["managers"]["sepm-east"]["clients"]
        assert clients["orphaned"] == 0, clients["orphaned_by"]


# --- trust before the point of no return ---------------------------------------------------------------------------


async def test_a_new_certificate_the_api_connection_would_not_trust_is_refused_before_anything_changes(
    make_rig: RigFactory, pki: Pki, tmp_path: Path
) -> None:
    other = support_pki.Pki(tmp_path / "other-ca", "Other Issuing CA", p12_password=pki.p12_password)
    old, new = pki.leaf("east-old"), other.leaf("east-new")
    async with make_rig(fleet(manager("sepm-east", "Site East", old, offline_share=0.0))) as rig:
        write_spec(rig.specs_dir, rig.sim, "sepm-east", pki, new)  # caBundle: the CA of the old certificate
        rig.start_engine()

        for _ in range(3):
            (held,) = await rig.tick()
            assert held.phase_after is Phase.DRIFTED and held.action is None
            await rig.advance(timedelta(hours=1))
        assert held.code is Code.NEW_CERTIFICATE_UNTRUSTED
        assert "(issued by CN=Other Issuing CA) would not be trusted on the API port" in held.reason
        assert f"add the certificate of the CA that issued it to caBundle {pki.ca_file}" in held.reason

        code, out, _ = await cli("plan", *_args(rig, "--output", "json"))
        (planned,) = json.loads(out)["servers"]
        assert code == 2 and planned["code"] == "NewCertificateUntrusted"
        code, out, _ = await cli("validate", "--specs", str(rig.specs_dir), "--output", "json")
        assert code == 1
        assert "new-certificate-untrusted" in [f["code"] for f in json.loads(out)["findings"]]

        assert rig.hook_runs() == [], "no step started"
        truth = rig.truth()["managers"]["sepm-east"]
        assert all(g["secure_communications"] for g in truth["groups"])
        assert {g["list"] for g in truth["groups"]} == {ORIGINAL_LIST}
        assert set(truth["served"].values()) == {old.fingerprint}
