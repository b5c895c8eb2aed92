"""The strict twins of the orphan hazard: on the strict simulator the seven summary steps orphan clients, and so
does re-enabling verification before the clients fetched the new certificate; the whole KB 187099 procedure (HTTP
list copy assigned around the swap, clients checking in after it, then verification and the original list back)
orphans none but the laptops that were away throughout. Each hazard also runs with its behaviour lenient, where it
costs nothing — which is why the lenient simulator could not catch it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from reconciler.sim import Simulator
from tests.sim.conftest import Client, one_manager
from tests.sim.test_hazard import (
    DAY,
    offline_names,
    pkcs12_body,
    set_verification,
    wait_until_online_clients_have_policy_since,
)

HTTP_LIST = "Default Management Server List (HTTP)"
LAPTOPS_AWAY = {"count": 400, "heartbeat": "5m", "offline": {"share": 0.1, "forMin": "20d", "forMax": "30d"}}


def strict_fleet(**behaviours: Any) -> dict[str, Any]:
    """One manager, 10% of its laptops away for 20-30 days; strict but for ``behaviours`` (and no throttle: these
    tests are about clients, and the throttle has its own)."""
    return one_manager(count=400, clients=LAPTOPS_AWAY, behaviours={"throttle": False, **behaviours})


async def swap_certificate(sim: Simulator, east: Client) -> int:
    """Step 4a: stage a new certificate and restart; returns the manager time at which every port presents it."""
    await east.admin("/certificate", pkcs12_body("sepm-east-2027.corp.example", "p12-pass"))
    await sim.restart_services("sepm-east")
    await sim.wait_services_up("sepm-east")
    return int((await east.login())["serverTime"])


async def wait_until_online_clients_checked_in_since(east: Client, since_ms: int) -> None:
    """Step 4b by the REST API: every online client's lastUpdateTime is at or after ``since_ms``."""
    for _ in range(20):
        await east.advance(300)
        online = [c for c in await east.all_computers(page_size=1000) if c["onlineStatus"] == 1]
        if online and all(c["lastUpdateTime"] >= since_ms for c in online):
            return
    raise AssertionError("the online clients never checked in after the swap")


@pytest.mark.parametrize(
    ("lists", "tls_orphans"),
    [(None, True), ([{"name": "Default Management Server List", "protocol": "http"}], False)],
    ids=["strict-https-list", "lenient-http-list"],
)
async def test_the_seven_steps_orphan_every_client_on_an_https_list_at_the_swap(
    http: httpx.AsyncClient, lists: list[dict[str, str]] | None, tls_orphans: bool
) -> None:
    behaviours = {} if lists is None else {"managementServerLists": lists}
    async with Simulator(strict_fleet(**behaviours)) as sim:
        east = Client(sim, "sepm-east", http)
        await east.login()
        away = await offline_names(east)
        change = await set_verification(east, False)  # step 2: verification off, nothing else
        await wait_until_online_clients_have_policy_since(east, change)  # step 3
        assert east.truth()["clients"]["orphaned"] == 0

        await swap_certificate(sim, east)  # step 4
        await east.advance(300)  # one heartbeat: every online client meets the new certificate
        truth = east.truth()["clients"]
        if tls_orphans:  # the clients cache the certificate in their HTTPS list: TLS fails, flag or no flag
            assert truth["orphaned"] == truth["orphaned_by"]["tls"] == 400 - len(away)
            assert truth["by_list"] == {"Default Management Server List": 400}
        else:
            assert truth["orphaned"] == 0
            change = await set_verification(east, True)  # step 5, 6
            await wait_until_online_clients_have_policy_since(east, change)
            assert east.truth()["clients"]["orphaned"] == 0


async def kb_start(sim: Simulator, east: Client) -> int:
    """2a (copy the list, set the copy to HTTP, assign it to every group and location), 2b, 3; then 4a."""
    await east.admin(
        "/lists", {"name": HTTP_LIST, "protocol": "http", "copyOf": "Default Management Server List"}
    )
    change = int((await east.login())["serverTime"])
    assigned = await east.admin("/lists/assign", {"list": HTTP_LIST, "groups": None})
    assert assigned == {"assigned": ["My Company", "My Company\\Laptops"], "list": HTTP_LIST}
    await set_verification(east, False)
    await wait_until_online_clients_have_policy_since(east, change)
    assert east.truth()["clients"]["by_list"][HTTP_LIST] > 300
    return await swap_certificate(sim, east)


@pytest.mark.parametrize(
    ("certificate_with_policy", "orphans"), [(False, True), (True, False)], ids=["strict", "lenient"]
)
async def test_enabling_verification_before_clients_fetched_the_certificate_orphans_them(
    http: httpx.AsyncClient, certificate_with_policy: bool, orphans: bool
) -> None:
    async with Simulator(strict_fleet(certificateWithPolicy=certificate_with_policy)) as sim:
        east = Client(sim, "sepm-east", http)
        await east.login()
        away = await offline_names(east)
        await kb_start(sim, east)
        change = await set_verification(
            east, True
        )  # 5a at once, without 4b: nobody checked in since the swap
        await east.advance(600)  # two heartbeats: the verifying policy is applied, then used
        truth = east.truth()["clients"]
        if orphans:  # they applied verification at a check-in that did not give them the new certificate
            assert truth["orphaned"] == truth["orphaned_by"]["stale_certificate"] == 400 - len(away)
        else:  # lenient: the certificate came with the policy
            await wait_until_online_clients_have_policy_since(east, change)
            assert truth["orphaned"] == 0


async def test_the_whole_kb_procedure_orphans_only_the_laptops_away_throughout(
    http: httpx.AsyncClient,
) -> None:
    async with Simulator(strict_fleet()) as sim:
        east = Client(sim, "sepm-east", http)
        await east.login()
        away = await offline_names(east)
        swapped = await kb_start(sim, east)
        await wait_until_online_clients_checked_in_since(
            east, swapped
        )  # 4b: they fetched the new certificate
        change = await set_verification(east, True)  # 5a
        await wait_until_online_clients_have_policy_since(east, change)
        change = int((await east.login())["serverTime"])
        await east.admin("/lists/assign", {"list": "Default Management Server List", "groups": None})  # 5b
        await wait_until_online_clients_have_policy_since(east, change)  # 6

        truth = east.truth()
        assert truth["clients"]["orphaned"] == 0
        assert truth["clients"]["by_list"] == {"Default Management Server List": 400}
        assert {g["list"] for g in truth["groups"]} == {"Default Management Server List"}
        assert all(g["secure_communications"] for g in truth["groups"])
        assert truth["clients"]["trusting_served"] == 400 - len(away)

        await east.advance(31 * DAY)  # the laptops away throughout come back with the old certificate
        truth = east.truth()
        assert set(truth["orphaned_clients"]) == away
        assert truth["clients"]["orphaned_by"]["tls"] == len(away)
