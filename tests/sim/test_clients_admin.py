"""Forcing machines away and back through the admin API, and per-client detail."""

from __future__ import annotations

import httpx

from reconciler.sim import Simulator
from tests.sim.conftest import LAPTOPS, Client, one_manager


async def test_machines_sent_away_for_a_while_come_back_and_check_in(http: httpx.AsyncClient) -> None:
    async with Simulator(one_manager(count=60)) as sim:
        east = Client(sim, "sepm-east", http)
        await east.login()
        answer = await east.admin(
            "/clients/online", {"online": False, "group": LAPTOPS, "count": 10, "for_seconds": 7200}
        )
        assert answer == {"changed": 10}
        assert east.truth()["clients"]["offline"] == 10
        away = [r for r in sim.state(clients=True)["managers"]["sepm-east"]["client_rows"] if not r["online"]]
        assert {r["group"] for r in away} == {LAPTOPS} and all(r["offline_until"] for r in away)
        name = away[0]["name"]
        assert (await east.get("/computers", computerName=name)).json()["content"][0]["onlineStatus"] == 0
        await east.advance(7201)
        assert east.truth()["clients"]["offline"] == 0
        row = (await east.http.get(f"{east.admin_url}/clients/{name}", headers=east.admin_headers)).json()
        assert row["online"] and row["lastUpdateTime"] > away[0]["lastUpdateTime"]


async def test_machines_can_be_named_and_brought_back_at_once(http: httpx.AsyncClient) -> None:
    async with Simulator(one_manager(count=20)) as sim:
        east = Client(sim, "sepm-east", http)
        names = ["SEPM-EAST-PC000003", "SEPM-EAST-PC000007"]
        assert await east.admin("/clients/online", {"online": False, "names": names}) == {"changed": 2}
        assert await east.admin("/clients/online", {"online": True, "names": names}) == {"changed": 2}
        assert east.truth()["clients"]["offline"] == 0
        missing = await east.admin("/clients/online", {"online": False, "names": ["NOPE"]}, expect=404)
        assert "NOPE" in missing["errorMessage"]
        bad = await east.admin("/clients/online", {"online": False}, expect=400)
        assert "names, count or share" in bad["errorMessage"]
