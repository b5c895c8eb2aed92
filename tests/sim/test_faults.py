"""Injected faults: throttling with Retry-After, 5xx, latency, hangs, the 14.3 connection quirk."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.sim.conftest import Client


async def test_a_throttle_burst_answers_429_with_retry_after_then_recovers(east: Client) -> None:
    await east.admin("/faults", {"throttle_burst": 2, "retry_after_s": 7})
    for _ in range(2):
        r = await east.get("/groups")
        assert r.status_code == 429 and r.headers["retry-after"] == "7" and r.json()["errorCode"] == "429"
    assert (await east.get("/groups")).status_code == 200


async def test_an_error_rate_of_one_fails_every_vendor_call_but_not_the_admin_api(east: Client) -> None:
    await east.admin("/faults", {"error_rate": 1.0})
    r = await east.get("/groups")
    assert r.status_code == 500 and r.json()["errorCode"] == "500"
    assert (await east.admin("/faults", {"error_rate": 0.0}))["error_rate"] == 0.0
    assert (await east.get("/groups")).status_code == 200


async def test_an_error_rate_fails_about_that_share_of_calls(east: Client) -> None:
    await east.admin("/faults", {"error_rate": 0.5})
    codes = [(await east.http.get(f"{east.api}/version")).status_code for _ in range(60)]
    assert 10 < codes.count(500) < 50 and set(codes) == {200, 500}


async def test_latency_delays_every_vendor_call(east: Client) -> None:
    await east.admin("/faults", {"latency_ms": 150})
    started = time.monotonic()
    assert (await east.get("/groups")).status_code == 200
    assert time.monotonic() - started >= 0.15


async def test_a_timeout_fault_hangs_past_the_clients_timeout(east: Client) -> None:
    await east.admin("/faults", {"timeout_rate": 1.0, "hang_s": 5})
    with pytest.raises(httpx.ReadTimeout):
        await east.http.get(f"{east.api}/groups", headers=east.headers, timeout=0.3)
    await east.admin("/faults", {"reset": True})
    assert (await east.get("/groups")).status_code == 200


async def test_sepm_14_3_drops_a_connection_reused_after_a_post(east: Client) -> None:
    await east.admin("/faults", {"close_after_post": True})
    async with httpx.AsyncClient(verify=False, timeout=5) as one_connection:  # noqa: S501 - self-signed on purpose
        r = await one_connection.post(
            f"{east.api}/identity/authenticate",
            json={"username": "admin", "password": "admin-pass", "domain": ""},
        )
        assert r.status_code == 200
        with pytest.raises(httpx.RemoteProtocolError):
            await one_connection.get(f"{east.api}/version")
        assert (
            await one_connection.get(f"{east.api}/version")
        ).status_code == 200  # a fresh connection works


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"error_rate": 2}, "share"),
        ({"colour": "red"}, "unknown fault"),
        ({"restart_fails": "sometimes"}, "restart_fails"),
        ({"latency_ms": -1}, "latency_ms"),
    ],
    ids=["rate-above-one", "unknown-key", "bad-restart-mode", "negative-latency"],
)
async def test_bad_fault_settings_are_refused_and_change_nothing(
    east: Client, body: dict[str, object], fragment: str
) -> None:
    answer = await east.admin("/faults", body, expect=400)
    assert fragment in answer["errorMessage"]
    assert east.truth()["faults"]["error_rate"] == 0.0
