"""The hazard end to end: a careless certificate change orphans clients; the vendor's seven steps orphan none
but the laptops that were offline through the whole procedure — and the ground truth names them.

The seven steps alone are safe only on the *lenient* simulator (HTTP lists, the certificate arriving with the
policy): ``test_hazard_strict.py`` runs them on the strict one, where they orphan clients, and runs the whole
KB 187099 procedure, where they do not."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from reconciler.sim import Simulator, generate_certificate
from tests.sim.conftest import LAPTOPS, Client, served_async, two_managers

DAY = 86400
NON_INHERITING = ("My Company", LAPTOPS)


def hazard_fleet(behaviours: Any = None) -> dict[str, Any]:
    # 10% of the laptops are away for 20 to 30 days: longer than the whole procedure below.
    extra: dict[str, Any] = {} if behaviours is None else {"behaviours": behaviours}
    return two_managers(
        count=400,
        clients={
            "count": 400,
            "heartbeat": "5m",
            "offline": {"share": 0.1, "forMin": "20d", "forMax": "30d"},
        },
        **extra,
    )


def serial_ms(serial: str) -> int:
    when = datetime.strptime(serial[5:], "%m/%d/%Y %H:%M:%S %f").replace(tzinfo=UTC)
    return int(when.timestamp() * 1000)


async def offline_names(east: Client) -> set[str]:
    return {c["computerName"] for c in await east.all_computers(page_size=1000) if c["onlineStatus"] == 0}


async def wait_until_online_clients_have_policy_since(east: Client, change_ms: int) -> int:
    """Step 3/6 as the reconciler does it, through the REST API only. Returns the heartbeats waited."""
    for rounds in range(1, 20):
        await east.advance(300)
        online = [c for c in await east.all_computers(page_size=1000) if c["onlineStatus"] == 1]
        if online and all(serial_ms(c["profileSerialNo"]) >= change_ms for c in online):
            return rounds
    raise AssertionError("the online clients never acknowledged the policy change")


async def set_verification(east: Client, value: bool) -> int:
    change_ms = int((await east.login())["serverTime"])
    for path in NON_INHERITING:
        assert (await east.set_secure(path, value)).status_code == 200
    return change_ms


def pkcs12_body(common_name: str, password: str) -> dict[str, str]:
    cert_pem, key_pem = generate_certificate(common_name)
    blob = pkcs12.serialize_key_and_certificates(
        b"sepm",
        serialization.load_pem_private_key(key_pem, None),  # type: ignore[arg-type]  # an RSA key
        x509.load_pem_x509_certificate(cert_pem),
        None,
        serialization.BestAvailableEncryption(password.encode()),
    )
    return {"pkcs12_b64": base64.b64encode(blob).decode(), "password": password}


async def test_changing_the_certificate_with_verification_on_orphans_online_clients_at_their_next_checkin(
    http: httpx.AsyncClient,
) -> None:
    async with Simulator(hazard_fleet()) as sim:
        east = Client(sim, "sepm-east", http)
        await east.login()
        away = await offline_names(east)
        assert 20 < len(away) < 70
        await east.admin("/certificate", pkcs12_body("careless.corp.example", "p12-pass"))
        await sim.restart_services("sepm-east")
        await sim.wait_services_up("sepm-east")
        assert east.truth()["clients"]["orphaned"] == 0  # nobody has checked in since

        await east.advance(150)  # half a heartbeat: about half the online clients have checked in and failed
        half = east.truth()["clients"]["orphaned"]
        assert 0.3 * 360 < half < 0.7 * 360

        await east.advance(150)  # a full heartbeat: every online client has met the new certificate
        truth = east.truth()
        assert truth["clients"]["orphaned"] == 400 - len(away)
        assert away.isdisjoint(truth["orphaned_clients"])
        await east.login()
        assert (await east.get("/stats/client/onlinestatus")).json()["clientCountStatsList"][0][
            "clientsCount"
        ] == 0

        await east.advance(31 * DAY)  # the laptops come back, verify, and fail too
        assert east.truth()["clients"]["orphaned"] == 400

        rehomed = await east.admin("/clients/rehome", {})
        assert rehomed == {"rehomed": 400, "still_orphaned_offline": 0}
        assert east.truth()["clients"]["orphaned"] == 0


async def test_the_seven_steps_by_hand_orphan_only_clients_offline_throughout_on_the_lenient_simulator(
    http: httpx.AsyncClient,
) -> None:
    async with Simulator(hazard_fleet("lenient")) as sim:
        east, west = Client(sim, "sepm-east", http), Client(sim, "sepm-west", http)
        await east.login()
        await west.login()
        away = await offline_names(east)
        old = await served_async(east.ports["api"])

        # 1. break replication (console operation: the admin API), verified through the REST API
        await east.admin("/replication/partners/delete", {"partner": "Site West"})
        assert (await east.get("/replication/is_replicated")).json() is False

        # 2. disable verification on every group that does not inherit; 3. wait for the clients
        change = await set_verification(east, False)
        await wait_until_online_clients_have_policy_since(east, change)

        # 4. update the certificate and restart the services
        staged = (await east.admin("/certificate", pkcs12_body("sepm-east-2027.corp.example", "p12-pass")))[
            "staged"
        ]
        await east.admin("/services/restart", {}, expect=202)
        await sim.wait_services_up("sepm-east")
        assert await served_async(east.ports["api"]) == staged != old
        assert await served_async(east.ports["clients"]) == staged

        # 5. enable verification again; 6. wait for the clients
        change = await set_verification(east, True)
        await wait_until_online_clients_have_policy_since(east, change)

        # 7. restore replication and replicate now
        await east.admin("/replication/partners/add", {"partner": "Site West"})
        params = {"partnerSiteName": "Site West", "logs": "false", "content": "false"}
        assert (
            await http.post(f"{east.api}/replication/replicatenow", params=params, headers=east.headers)
        ).json() == {"code": 0}
        status = (await east.replication())["replicationPartnerStatusList"]
        assert [(p["name"], p["status_code"]) for p in status] == [("Site West", "SUCCEEDED")]

        truth = east.truth()
        assert truth["clients"]["orphaned"] == 0 and truth["orphaned_clients"] == []
        assert truth["clients"]["trusting_served"] == 400 - len(away)
        assert all(g["secure_communications"] for g in truth["groups"])

        # The laptops that were away through all of it come back: they still verify the old certificate.
        await east.advance(31 * DAY)
        truth = east.truth()
        assert set(truth["orphaned_clients"]) == away
        assert west.truth()["clients"]["orphaned"] == 0
