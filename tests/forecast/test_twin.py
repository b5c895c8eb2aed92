"""The twin: what was read, reproduced — group tree, counts, the ages of those away, exactly — strict where nothing
was read; sites, stand-in partners and samples of large fleets."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from reconciler.forecast.pki import TwinPki
from reconciler.forecast.reading import (
    DomainReading,
    GroupReading,
    ServerReading,
    read_only_client,
    read_server,
)
from reconciler.forecast.twin import absence_cells, apportion, build_twin, standin_name
from reconciler.sim import Simulator, load_fleet
from reconciler.specs import LoadedServer, load_specs

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
HOUR, DAY = 3600.0, 86400.0
LAPTOPS, SERVERS = "My Company\\Laptops", "My Company\\Servers"


@pytest.mark.parametrize(
    ("weights", "total", "floor", "expected"),
    [
        ([1, 1, 1], 3, [], [1, 1, 1]),
        ([5, 3, 2], 5, [], [3, 1, 1]),
        ([98, 1, 1], 10, [False, True, False], [9, 1, 0]),
        ([0, 4], 2, [True, False], [0, 2]),
        ([3, 3], 0, [], [0, 0]),
    ],
)
def test_apportion_keeps_the_total_and_the_floors(
    weights: list[float], total: int, floor: list[bool], expected: list[int]
) -> None:
    assert apportion(weights, total, floor=floor) == expected
    assert sum(apportion(weights, total, floor=floor)) == (total if sum(weights) else 0)


def test_absence_cells_keep_the_least_and_greatest_age_of_each_band() -> None:
    ages = [600.0, 2400.0, 5 * HOUR + 10, 5 * HOUR + 20, 3 * DAY, 3.5 * DAY, 200 * DAY, float("inf")]
    cells = absence_cells(ages, young=DAY)
    assert cells[0] == (600.0, 2400.0, 2)  # the first hour
    assert cells[1] == (5 * HOUR + 10, 5 * HOUR + 20, 2)
    assert sum(n for _, _, n in cells) == len(ages)
    assert cells[-2] == (200 * DAY, 200 * DAY, 1)
    assert cells[-1] == (365 * DAY, 365 * DAY, 1)  # never seen: away for a year at least
    assert absence_cells([], young=DAY) == []


def _specs(tmp_path: Path, pki: TwinPki, servers: dict[str, dict[str, Any]]) -> dict[str, LoadedServer]:
    directory = tmp_path / "specs"
    directory.mkdir()
    cert = pki.issue("desired")
    for port, (name, extra) in enumerate(servers.items(), start=8446):
        document = {
            "apiVersion": "sepm-reconciler/v1",
            "kind": "ManagedServer",
            "metadata": {"name": name},
            "spec": {
                "server": {
                    "apiUrl": f"https://127.0.0.1:{port}/sepm/api/v1",
                    "ports": {"api": port, "clients": port + 100, "console": port + 200},
                    "site": extra.get("site", f"Site {name}"),
                    "credentials": {"username": "u", "password": {"env": "NOPE"}},
                },
                "certificate": {"file": str(cert.cert_file)},
                "replication": {"partners": extra.get("partners", [])},
            },
        }
        (directory / f"{name}.yaml").write_text(json.dumps(document), encoding="utf-8")
    loaded = load_specs(directory)
    assert loaded.valid, loaded.errors
    return loaded.servers


def _reading(
    name: str, site: str, *, laptops: int, away: list[float], partners: tuple[str, ...] = ()
) -> ServerReading:
    groups = (
        GroupReading("My Company", False, True, None, 300.0, 0, 0),
        GroupReading(SERVERS, True, True, None, 300.0, 50, 49, (2 * HOUR,)),
        GroupReading(LAPTOPS, False, True, None, 300.0, laptops, laptops - len(away), tuple(away)),
    )
    domain = DomainReading("Default", groups, {"14.3.9816.7000": laptops + 50})
    return ServerReading(name, site, NOW, "14.3.9816.7000", "Default", (domain,), {}, partners, "array")


async def test_the_twin_reads_back_as_what_was_read(tmp_path: Path) -> None:
    pki = TwinPki(tmp_path / "pki", NOW)
    servers = _specs(tmp_path, pki, {"sepm-east": {}})
    away = [30 * 60.0, 7 * HOUR, 7 * HOUR + 5, 2 * DAY, 9 * DAY, 40 * DAY]
    reading = _reading("sepm-east", "Site sepm-east", laptops=400, away=away)
    twin = build_twin({"sepm-east": reading}, servers, {"sepm-east": pki.issue("east")})
    assert twin.servers["sepm-east"].scale == 1.0 and twin.servers["sepm-east"].twin_away == 7
    async with Simulator(twin.for_run(3)) as sim:
        info = sim.ports_info()["managers"]["sepm-east"]
        spec = servers["sepm-east"].spec.spec
        connection = spec.server.model_copy(
            update={"api_url": info["api_url"], "ports": spec.server.ports.model_copy(update=info["ports"]),
                    "ca_bundle": str(pki.ca_file)}
        )  # fmt: skip
        (tmp_path / "pw").write_text("twin-only-password\n")
        from reconciler.core.spec import Credentials, FileRef

        connection = connection.model_copy(
            update={
                "credentials": Credentials(username="forecast", password=FileRef(file=str(tmp_path / "pw")))
            }
        )
        server = LoadedServer(
            servers["sepm-east"].spec.model_copy(
                update={"spec": spec.model_copy(update={"server": connection})}
            ),
            servers["sepm-east"].source,
            1,
            tmp_path,
            "east.yaml",
        )
        again = await read_server(server, read_only_client(server), now=NOW)
    groups = {g.path: g for g in again.domains[0].groups}
    assert again.clients == 450
    assert sorted(groups[LAPTOPS].away_ages_s) == pytest.approx(sorted(away), abs=2)  # exact to the second
    assert groups[SERVERS].away_ages_s == pytest.approx((2 * HOUR,), abs=2)
    assert groups[SERVERS].inherits and not groups[LAPTOPS].inherits
    assert again.heartbeat_s == 300 and again.replication_shape == "array" and not again.lists_shown


def test_a_large_fleet_is_a_stratified_sample_that_keeps_the_young_absences(tmp_path: Path) -> None:
    pki = TwinPki(tmp_path / "pki", NOW)
    servers = _specs(tmp_path, pki, {"big": {}})
    away = [3 * HOUR] + [30 * DAY] * 399
    twin = build_twin(
        {"big": _reading("big", "Site big", laptops=19_950, away=away)},
        servers,
        {"big": pki.issue("b")},
        sample=2000,
    )
    described = twin.servers["big"]
    assert described.twin_clients == 2000 and described.scale == pytest.approx(0.1)
    entry = twin.fleet["managers"][0]
    absences = entry["clients"]["offline"]["absences"]
    assert sum(a["count"] for a in absences) == described.twin_away == 40
    assert any(a["since"][0] == "3h" for a in absences)  # the one laptop away 3 h is still waited for: kept
    assert any("sample" in note for note in described.assumed)


def test_one_site_carries_the_clients_and_an_unmanaged_partner_gets_a_stand_in(tmp_path: Path) -> None:
    pki = TwinPki(tmp_path / "pki", NOW)
    servers = _specs(
        tmp_path,
        pki,
        {"a1": {"site": "Site A", "partners": ["Site B"]}, "a2": {"site": "Site A", "partners": ["Site B"]}},
    )
    readings = {
        name: _reading(name, "Site A", laptops=100, away=[DAY], partners=("Site B",)) for name in ("a1", "a2")
    }
    certs = {name: pki.issue(name) for name in ("a1", "a2", standin_name("Site B"))}
    twin = build_twin(readings, servers, certs)
    by_name = {m["name"]: m for m in twin.fleet["managers"]}
    assert by_name["a1"]["clients"]["count"] == 150 and by_name["a2"]["clients"] == {"count": 0}
    assert "groups" in by_name["a1"] and "groups" not in by_name["a2"]
    standin = by_name[standin_name("Site B")]
    assert standin["site"] == "Site B" and standin["replication"]["partners"] == ["Site A"]
    assert by_name["a1"]["replication"]["partners"] == ["Site B"]
    assert twin.standins == (standin_name("Site B"),)
    config = load_fleet(twin.for_run(1))  # a fleet the simulator accepts
    assert [m.name for m in config.managers] == ["a1", "a2", standin_name("Site B")]
