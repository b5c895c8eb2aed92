"""Real TLS listeners: what each port presents, staged certificate updates, restarts and failing restarts."""

from __future__ import annotations

import asyncio
import base64

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from reconciler.sim import Simulator, generate_certificate
from tests.certs.factory import malformed_san_certificate
from tests.sim.conftest import Client, one_manager, refused_async, served_async

PORTS = ("clients", "console", "api")


async def served_all(east: Client) -> dict[str, str]:
    return {p: await served_async(east.ports[p]) for p in PORTS}


async def stage_new_certificate(east: Client, cn: str = "new.corp.example") -> str:
    cert_pem, key_pem = generate_certificate(cn)
    staged = await east.admin("/certificate", {"cert_pem": cert_pem.decode(), "key_pem": key_pem.decode()})
    return str(staged["staged"])


async def test_all_three_ports_present_the_current_certificate(http: httpx.AsyncClient) -> None:
    async with Simulator(one_manager(count=5)) as sim:
        east = Client(sim, "sepm-east", http)
        served = await served_all(east)
        assert len(set(served.values())) == 1
        assert east.truth()["served"] == served


async def test_a_certificate_update_takes_effect_only_at_the_restart(http: httpx.AsyncClient) -> None:
    # The services stay down until the (frozen) simulated clock has moved a minute: the ports are checked while
    # they are surely down, however slowly this test runs, and come back only when the test moves the clock.
    async with Simulator(one_manager(count=5, restart={"downSeconds": 0.2, "downFor": "1m"})) as sim:
        east = Client(sim, "sepm-east", http)
        old = await served_all(east)
        new = await stage_new_certificate(east)
        assert await served_all(east) == old and east.truth()["staged"] == new
        answer = await east.admin("/services/restart", {}, expect=202)
        assert answer["ports_down"] == list(PORTS)
        for port in PORTS:
            assert await refused_async(east.ports[port]), (
                f"{port} should refuse connections during the restart"
            )
        assert east.truth()["served"] == dict.fromkeys(PORTS, None)
        with sim.world.lock:  # /_sim is served on the API port, down now: move the fleet's clock directly
            sim.world.clock.advance(60)
        await sim.wait_services_up("sepm-east", within=60)
        assert await served_all(east) == dict.fromkeys(PORTS, new)
        truth = east.truth()
        assert truth["served"] == dict.fromkeys(PORTS, new) and truth["staged"] is None
        assert truth["restarts"][-1]["result"] == "succeeded"


async def test_restarting_only_the_webserver_switches_only_the_clients_port(http: httpx.AsyncClient) -> None:
    async with Simulator(one_manager(count=5)) as sim:
        east = Client(sim, "sepm-east", http)
        old = await served_async(east.ports["api"])
        new = await stage_new_certificate(east)
        await east.admin("/services/restart", {"services": ["semwebsrv"]}, expect=202)
        await sim.wait_services_up("sepm-east")
        assert await served_all(east) == {"clients": new, "console": old, "api": old}
        assert east.truth()["staged"] == new  # still waiting for semsrv and semapisrv


async def test_a_restart_that_fails_down_leaves_the_ports_refusing_until_a_good_restart(
    http: httpx.AsyncClient,
) -> None:
    async with Simulator(one_manager(count=5)) as sim:
        east = Client(sim, "sepm-east", http)
        new = await stage_new_certificate(east)
        await east.admin("/faults", {"restart_fails": "down"})
        await sim.restart_services("sepm-east", ("semwebsrv",))
        await sim.wait_services_up("sepm-east")
        assert await refused_async(east.ports["clients"])
        truth = east.truth()
        assert truth["services"]["semwebsrv"] == "stopped" and truth["served"]["clients"] is None
        assert truth["restarts"][-1]["result"].startswith("failed")
        await east.admin("/faults", {"restart_fails": None})
        await east.admin("/services/restart", {"services": ["semwebsrv"]}, expect=202)
        await sim.wait_services_up("sepm-east")
        assert await served_async(east.ports["clients"]) == new


async def test_a_restart_that_fails_with_old_cert_comes_back_presenting_the_old_certificate(
    http: httpx.AsyncClient,
) -> None:
    async with Simulator(one_manager(count=5)) as sim:
        east = Client(sim, "sepm-east", http)
        old = await served_all(east)
        new = await stage_new_certificate(east)
        await east.admin("/faults", {"restart_fails": "old_cert"})
        await east.admin("/services/restart", {}, expect=202)
        await sim.wait_services_up("sepm-east")
        assert await served_all(east) == old
        assert east.truth()["staged"] == new


async def test_a_keep_alive_connection_is_dropped_by_a_restart(http: httpx.AsyncClient) -> None:
    async with Simulator(one_manager(count=5)) as sim:
        east = Client(sim, "sepm-east", http)
        async with httpx.AsyncClient(verify=False, timeout=5) as keep:  # noqa: S501 - self-signed on purpose
            assert (await keep.get(f"{east.api}/version")).status_code == 200
            await sim.restart_services("sepm-east")
            with pytest.raises(httpx.TransportError):  # refused now; the pooled connection is gone too
                await keep.get(f"{east.api}/version")
            await sim.wait_services_up("sepm-east")
            assert (await keep.get(f"{east.api}/version")).status_code == 200


async def test_a_request_in_flight_during_a_restart_is_answered_and_its_connection_closed(
    http: httpx.AsyncClient,
) -> None:
    async with Simulator(one_manager(count=5)) as sim:
        east = Client(sim, "sepm-east", http)
        async with httpx.AsyncClient(verify=False, timeout=10) as keep:  # noqa: S501 - self-signed on purpose
            assert (await keep.get(f"{east.api}/version")).headers.get("connection") is None  # kept alive
            await east.admin("/faults", {"timeout_rate": 1.0, "hang_s": 1.0})
            in_flight = asyncio.create_task(keep.get(f"{east.api}/version"))
            await asyncio.sleep(0.2)  # it hangs on the server now
            await sim.restart_services("sepm-east")
            await sim.wait_services_up("sepm-east")  # back after 0.2 s, with the request still hanging
            answer = await in_flight
            # The connection was made before the restart: it must not carry on as if nothing happened.
            assert answer.status_code == 504 and answer.headers["connection"] == "close"


@pytest.mark.parametrize(
    ("kind", "fragment"),
    [
        ("ec", "not RSA"),
        ("mismatch", "does not match"),
        ("p12-wrong-password", "wrong password"),
        ("garbage", "not a PEM"),
        ("malformed-extension", "malformed extension"),
    ],
    ids=["ec-key", "key-mismatch", "pkcs12-wrong-password", "not-a-certificate", "malformed-extension"],
)
async def test_certificates_sepm_would_refuse_are_refused(
    http: httpx.AsyncClient, kind: str, fragment: str
) -> None:
    async with Simulator(one_manager(count=5)) as sim:
        east = Client(sim, "sepm-east", http)
        if kind == "ec":
            cert, key = generate_certificate("ec.example", key_type="ec")
            body = {"cert_pem": cert.decode(), "key_pem": key.decode()}
        elif kind == "mismatch":
            cert, _ = generate_certificate("a.example")
            _, key = generate_certificate("b.example")
            body = {"cert_pem": cert.decode(), "key_pem": key.decode()}
        elif kind == "p12-wrong-password":
            cert, key = generate_certificate("p12.example")
            blob = pkcs12.serialize_key_and_certificates(
                b"x",
                serialization.load_pem_private_key(key, None),  # type: ignore[arg-type]  # an RSA key
                __import__("cryptography.x509", fromlist=["x"]).load_pem_x509_certificate(cert),
                None,
                serialization.BestAvailableEncryption(b"right"),
            )
            body = {"pkcs12_b64": base64.b64encode(blob).decode(), "password": "wrong"}
        elif kind == "malformed-extension":
            issued = malformed_san_certificate("bad-san.example")
            body = {"cert_pem": issued.pem().decode(), "key_pem": issued.key_pem().decode()}
        else:
            body = {"cert_pem": "hello", "key_pem": "world"}
        answer = await east.admin("/certificate", body, expect=422)
        assert fragment in answer["errorMessage"]
        assert east.truth()["staged"] is None


async def test_the_backup_is_a_pkcs12_of_the_served_certificate(http: httpx.AsyncClient) -> None:
    async with Simulator(one_manager(count=5)) as sim:
        east = Client(sim, "sepm-east", http)
        backup = await east.admin("/certificate/backup", {"password": "backup-pass"})
        key, cert, _ = pkcs12.load_key_and_certificates(
            base64.b64decode(backup["pkcs12_b64"]), b"backup-pass"
        )
        assert key is not None and cert is not None
        assert backup["fingerprint"] == await served_async(east.ports["api"])
        await asyncio.sleep(0)
