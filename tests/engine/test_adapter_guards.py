"""What the engine does with what the adapter finds: a settings PATCH that changed other fields stalls the rollout
(``CollateralSettingsChange``) before the second group; a manager that throttles the login holds the tick and is
not asked again before it said; one session serves every tick and is logged out at the end; a flag already off
when step 2 began is done without a serial move. Against the simulator, with its strict settings PATCH."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx

from reconciler.core.actions import ActionKind
from reconciler.core.procedure import Phase
from reconciler.engine import TickResult
from reconciler.sepm import RetryPolicy, SepmClient, SepmCredentials, tls_context
from reconciler.specs import LoadedServer
from tests.e2e.conftest import RigFactory
from tests.e2e.kit import GROUPS, Pki, fast_client, fleet, manager, write_spec

EAST = "sepm-east"


def strict_fleet(pki: Pki, **extra: Any) -> dict[str, Any]:
    """One manager on the strict simulator (a replacing settings PATCH, no serial move for a no-op), with its throttle
    off: on this frozen clock a window would never end."""
    config = fleet(manager(EAST, "Site East", pki.leaf("east-old"), offline_share=0.0, **extra))
    config["behaviours"] = {"throttle": False}
    return config


def at(phase: Phase) -> Callable[[list[TickResult]], bool]:
    return lambda results: results[0].phase_after is phase


@dataclass
class DroppingManager(httpx.AsyncBaseTransport):
    """The real transport, except that the first settings PATCH loses ``tamper_protection`` on the way — as a
    manager that ignores part of a body would — so the simulator's replacing PATCH resets it."""

    inner: httpx.AsyncBaseTransport
    patches: list[str] = field(default_factory=list)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "PATCH":
            body = json.loads(request.content)
            if not self.patches:
                del body["configuration"]["general_settings"]["tamper_protection"]
            self.patches.append(request.url.path)
            headers = [(k, v) for k, v in request.headers.items() if k.lower() != "content-length"]
            request = httpx.Request(request.method, request.url, headers=headers, json=body)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_a_patch_that_changed_other_settings_stalls_the_rollout_before_the_second_group(
    make_rig: RigFactory, pki: Pki
) -> None:
    async with make_rig(strict_fleet(pki)) as rig:
        write_spec(rig.specs_dir, rig.sim, EAST, pki, pki.leaf("east-new"))
        rig.start_engine()
        await rig.run_until(at(Phase.DISABLING_VERIFICATION))
        serials = {g["name"]: g["policySerialNumber"] for g in rig.truth()["managers"][EAST]["groups"]}
        dropping: list[DroppingManager] = []

        def factory(server: LoadedServer) -> SepmClient:
            conn = server.spec.spec.server
            transport = DroppingManager(httpx.AsyncHTTPTransport(verify=tls_context(conn.ca_bundle)))
            dropping.append(transport)
            return SepmClient(
                conn.api_url,
                SepmCredentials("admin", "admin-pass", ""),
                transport=transport,
                timeout=5.0,
                retry=RetryPolicy(attempts=2, base_delay=0.05, max_delay=0.2),
            )

        rig.start_engine(client_factory=factory)
        (result,) = await rig.tick()

        assert result.phase_after is Phase.STALLED, result.reason
        record = rig.record(EAST)
        assert record.stall is not None and record.stall.code == "CollateralSettingsChange"
        assert "configuration.general_settings.tamper_protection.enabled" in record.stall.reason
        assert "its document was written back as it was" in record.stall.reason
        assert f"sepm-reconciler resume {EAST}" in record.stall.remedy
        patched = [p for t in dropping for p in t.patches]
        assert len(patched) == 2 and len(set(patched)) == 1, "one group: the change, then the document back"
        after = {g["name"]: g for g in rig.truth()["managers"][EAST]["groups"]}
        (first,) = [
            name for name, g in after.items() if patched[0].startswith(f"/sepm/api/v1/groups/{g['id']}/")
        ]
        others = {g["name"] for g in GROUPS if not g["inherits"]} - {first}
        assert len(others) == 2 and all(after[n]["policySerialNumber"] == serials[n] for n in others), (
            "the other managed groups never saw a PATCH"
        )
        assert all(g["secure_communications"] for g in after.values()), "every flag is as it was"
        (again,) = await rig.tick()  # it stays stalled until a human resumes it
        assert again.phase_after is Phase.STALLED and again.action is None


async def test_retry_after_on_the_login_holds_the_tick_and_backs_off_as_long_as_the_manager_asks(
    make_rig: RigFactory, pki: Pki
) -> None:
    async with make_rig(strict_fleet(pki)) as rig:
        write_spec(rig.specs_dir, rig.sim, EAST, pki, pki.leaf("east-new"))
        rig.start_engine()
        await rig.admin(EAST).post("faults", {"throttle_burst": 50, "retry_after_s": 120})
        (result,) = await rig.tick()
        assert result.error is not None and result.observation is None
        assert "(HTTP 429)" in result.error and "come back in 120 s" in result.error, result.error
        assert "throttle" in result.error and "authentication failed" not in result.error
        assert "identity/authenticate" in result.error  # the login waited as asked: not sent again before
        assert result.next_check_at - rig.clock.now() >= timedelta(seconds=120)
        assert "nothing moves on an unknown observation" in result.reason


async def test_one_session_serves_every_tick_and_is_logged_out_when_the_engine_closes(
    make_rig: RigFactory, pki: Pki
) -> None:
    calls: list[str] = []

    def counted(server: LoadedServer) -> SepmClient:
        client = fast_client(server)
        client.listeners.append(lambda endpoint, status: calls.append(endpoint))
        return client

    async with make_rig(strict_fleet(pki)) as rig:
        write_spec(rig.specs_dir, rig.sim, EAST, pki, pki.leaf("east-new"))
        engine = rig.start_engine(client_factory=counted)
        for _ in range(3):
            await rig.tick()
            await rig.advance(timedelta(minutes=5))
        assert calls.count("identity/authenticate") == 1
        assert rig.sim.world.manager(EAST).tokens, "the session lives on the manager between ticks"
        await engine.aclose()
        assert calls.count("identity/logout") == 1
        assert not rig.sim.world.manager(EAST).tokens, "logged out"


async def test_a_flag_already_off_when_step_2_began_is_done_without_a_serial_move_and_its_clients_count(
    make_rig: RigFactory, pki: Pki
) -> None:
    groups = [{**g, "secureCommunications": False} if not g["inherits"] else g for g in GROUPS]
    async with make_rig(strict_fleet(pki, groups=groups)) as rig:
        write_spec(rig.specs_dir, rig.sim, EAST, pki, pki.leaf("east-new"), clients={"minSoak": "1h"})
        rig.start_engine()
        await rig.run_until(at(Phase.WAITING_UNVERIFIED))
        # step 2a switched the list (a policy saved per group); 2b sent nothing
        kinds = [a.kind for a in rig.record(EAST).attempts if a.step == 2]
        assert kinds == [ActionKind.SWITCH_TO_HTTP_LIST], "nothing was sent in step 2b"
        serials = {g["name"]: g["policySerialNumber"] for g in rig.truth()["managers"][EAST]["groups"]}
        results = await rig.run_until(at(Phase.UPDATING_CERTIFICATE))
        after = {g["name"]: g["policySerialNumber"] for g in rig.truth()["managers"][EAST]["groups"]}
        assert after == serials, "no policy was saved after the list switch"
        observation = results[0].observation
        assert observation is not None and observation.clients is not None
        ack = observation.clients
        assert ack.eligible > 0 and ack.acknowledged == ack.eligible  # every client has its group's policy


async def test_a_patch_saved_in_the_same_millisecond_as_the_list_switch_is_read_back_past_the_settings_cache(
    make_rig: RigFactory, pki: Pki
) -> None:
    """A policy serial is the save's time to the millisecond: on a manager whose clock did not move between step 2a's
    list switch and step 2b's PATCH (a frozen clock here), both saves carry the same serial. The settings cached
    after 2a (the flag on) must not answer for the groups 2b just PATCHed."""
    async with make_rig(strict_fleet(pki)) as rig:
        write_spec(rig.specs_dir, rig.sim, EAST, pki, pki.leaf("east-new"))
        rig.start_engine()
        await rig.run_until(at(Phase.SWITCHING_TO_HTTP_LIST))
        phases = []
        for _ in range(12):  # the managers' clock stays where it is; only the reconciler's moves
            (result,) = await rig.tick()
            phases.append(result.phase_after)
            if result.phase_after is Phase.WAITING_UNVERIFIED:
                break
            rig.clock.advance(max(result.next_check_at - rig.clock.now(), timedelta(seconds=1)))
        assert phases[-1] is Phase.WAITING_UNVERIFIED, [p.value for p in phases]
        attempts = [a for a in rig.record(EAST).attempts if a.kind is ActionKind.SET_VERIFICATION]
        assert len(attempts) == 1, "one PATCH per group, confirmed at the next look"
        truth = rig.truth()["managers"][EAST]["groups"]
        assert not any(g["secure_communications"] for g in truth if not g["inherits"])
