"""Reading a manager for its twin: every domain's groups, inheritance, flags, heartbeats, clients as numbers and the
ages of those away — through a transport that sends nothing but GET (and the session's own login and logout)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from reconciler.errors import PermanentError
from reconciler.forecast.reading import ServerReading, read_only_client, read_server
from reconciler.sim import Simulator, run_in_thread
from reconciler.specs import load_specs
from tests.support import sim as support_sim
from tests.support.pki import Pki

PASSWORD_ENV = "FORECAST_READ_PASSWORD"
LAPTOPS, SERVERS = "My Company\\Laptops", "My Company\\Servers"
CORP = [{"name": "My Company", "inherits": False}, {"name": "My Company\\Branch", "inherits": False}]


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[tuple[Simulator, Path]]:
    pki = Pki(tmp_path / "pki", "Forecast Test CA")
    cert = pki.leaf("east", common_name="sepm-east.test")
    clients = {
        "count": 300,
        "heartbeat": "10m",
        "groups": {LAPTOPS: 0.5, SERVERS: 0.5},
        "offline": {
            "absences": [
                {"count": 6, "group": LAPTOPS, "since": ["2d", "4d"]},
                {"count": 2, "group": SERVERS, "since": "3h"},
            ]
        },
        "agentVersions": {"14.3.9816.7000": 0.9, "14.2.5587.2100": 0.1},
    }
    entry = support_sim.manager("sepm-east", "Site East", cert=cert, clients=300, partners=["Site West"])
    entry["clients"] = clients
    entry["domains"] = [{"name": "Corp", "groups": CORP, "clients": {"count": 40, "heartbeat": "10m"}}]
    west = support_sim.manager("sepm-west", "Site West", partners=["Site East"], clients=10)
    with run_in_thread(
        support_sim.fleet(entry, west, behaviours={"throttle": False, "domainScope": "login"})
    ) as sim:
        spec = {
            "apiVersion": "sepm-reconciler/v1",
            "kind": "ManagedServer",
            "metadata": {"name": "sepm-east"},
            "spec": {
                "server": support_sim.server_spec(
                    sim, "sepm-east", ca_file=pki.ca_file, password_env=PASSWORD_ENV
                ),
                "certificate": {"file": str(cert.cert_file)},
                "replication": {"partners": ["Site West"]},
            },
        }
        specs = tmp_path / "specs"
        specs.mkdir()
        (specs / "east.yaml").write_text(json.dumps(spec), encoding="utf-8")
        yield sim, specs


async def _read(specs: Path, monkeypatch: pytest.MonkeyPatch) -> ServerReading:
    monkeypatch.setenv(PASSWORD_ENV, "admin-pass")
    server = load_specs(specs).servers["sepm-east"]
    return await read_server(server, read_only_client(server), now=datetime.now(UTC))


async def test_every_domain_group_and_client_is_read_as_numbers(
    manager: tuple[Simulator, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    sim, specs = manager
    reading = await _read(specs, monkeypatch)
    truth = sim.state(clients=True)["managers"]["sepm-east"]
    assert [d.name for d in reading.domains] == ["Default", "Corp"]
    default, corp = reading.domains
    assert {g.path: (g.inherits, g.secure) for g in default.groups} == {
        "My Company": (False, True),
        SERVERS: (True, True),
        LAPTOPS: (False, True),
    }
    assert default.clients == 300 and corp.clients == 40 and reading.clients == 340
    by_group = {g.path: g for g in default.groups}
    assert len(by_group[LAPTOPS].away_ages_s) == 6 and len(by_group[SERVERS].away_ages_s) == 2
    assert all(2 * 86400 <= a <= 4 * 86400 + 1 for a in by_group[LAPTOPS].away_ages_s)
    assert all(math.isclose(a, 3 * 3600, abs_tol=2) for a in by_group[SERVERS].away_ages_s)
    assert sum(g.online for g in default.groups) == 300 - 8  # the rest checked in within a heartbeat
    assert sum(default.agent_versions.values()) == 300 and set(default.agent_versions) <= {
        "14.3.9816.7000",
        "14.2.5587.2100",
    }
    assert reading.heartbeat_s == 600
    assert reading.partners == ("Site West",) and reading.replication_shape == "array"
    assert reading.lists_shown is False  # strict: the settings do not name the list
    assert reading.not_after is not None and set(reading.served) == {"clients", "console", "api"}
    names = {r["name"] for r in truth["client_rows"]}
    assert not [n for n in names if n in repr(reading)]  # numbers only: no client name is kept


async def test_the_read_only_transport_sends_nothing_but_reads(
    manager: tuple[Simulator, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    sim, specs = manager
    monkeypatch.setenv(PASSWORD_ENV, "admin-pass")
    server = load_specs(specs).servers["sepm-east"]
    before = sim.state()
    async with read_only_client(server) as client:
        await client.ensure_session()
        group = before["managers"]["sepm-east"]["groups"][0]
        with pytest.raises(PermanentError, match="only reads: PATCH"):
            await client.request("PATCH", f"groups/{group['id']}/locations/x/settings", json_body={})
        with pytest.raises(PermanentError, match="only reads: POST"):
            await client.request("POST", "replication/replicatenow", json_body={})
    assert sim.state() == before
