"""The fleet file: the issue's example loads as written; mistakes get one precise message (file:line, field)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.sim import FleetError, Simulator, example_fleet_path, load_fleet
from reconciler.sim.world import World
from tests.sim.conftest import fleet, manager

ISSUE_EXAMPLE = r"""
clock: {start: "2026-12-01T08:00:00Z", speed: 3600}   # 1 real second = 1 simulated hour
seed: 7
managers:
  - name: sepm-east
    site: Site East
    host: 127.0.0.1
    ports: {clients: 0, console: 0, api: 0}
    admin: {username: admin, password: admin-pass, domain: ""}
    certificate: {generate: {commonName: sepm-east.corp.example}}   # or {certFile: PEM, keyFile: PEM}
    replication: {partners: [Site West]}
    groups:
      - {name: My Company, inherits: false}
      - {name: My Company\Servers, inherits: true}
      - {name: My Company\Laptops, inherits: false}
    clients:
      count: 2000
      heartbeat: 5m
      offline: {share: 0.1, forMin: 1d, forMax: 4d}   # offline at start, back after a random time in range
      agentVersions: {"14.3.9816.7000": 0.97, "14.2.5587.2100": 0.03}
  - name: sepm-west
    site: Site West
    replication: {partners: [Site East]}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "fleet.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_issue_example_loads_as_written(tmp_path: Path) -> None:
    fleet = load_fleet(write(tmp_path, ISSUE_EXAMPLE))
    assert fleet.speed == 3600 and fleet.seed == 7 and fleet.start.isoformat() == "2026-12-01T08:00:00+00:00"
    east = fleet.manager("sepm-east")
    assert [(g.path, g.inherits) for g in east.groups] == [
        ("My Company", False),
        ("My Company\\Servers", True),
        ("My Company\\Laptops", False),
    ]
    assert east.partners == ("Site West",) and east.password == "admin-pass"
    assert east.clients.count == 2000 and east.clients.heartbeat == 300
    assert (east.clients.offline_for_min, east.clients.offline_for_max) == (86400, 4 * 86400)
    assert dict(east.clients.agent_versions) == {"14.3.9816.7000": 0.97, "14.2.5587.2100": 0.03}
    assert east.certificate.common_name == "sepm-east.corp.example"
    assert fleet.manager("sepm-west").partners == ("Site East",)


def test_the_packaged_example_loads() -> None:
    fleet = load_fleet(example_fleet_path())
    assert [m.name for m in fleet.managers] == ["sepm-east", "sepm-west"]


def test_certificate_files_are_read_relative_to_the_fleet_file(tmp_path: Path) -> None:
    from reconciler.sim import generate_certificate

    cert, key = generate_certificate("files.example")
    (tmp_path / "c.pem").write_bytes(cert)
    (tmp_path / "k.pem").write_bytes(key)
    text = "managers:\n  - {name: m, site: S, certificate: {certFile: c.pem, keyFile: k.pem}}\n"
    assert load_fleet(write(tmp_path, text)).managers[0].certificate.cert_file == tmp_path / "c.pem"


BAD = [
    ("managers:\n  - {name: m, site: S, colour: red}\n", 2, "managers[0].colour", "unknown key"),
    (
        "managers:\n  - name: m\n    site: S\n    clients: {heartbeat: 5 minutes}\n",
        4,
        "managers[0].clients.heartbeat",
        "invalid duration",
    ),
    (
        "managers:\n  - name: m\n    site: S\n    clients:\n      agentVersions: {a: 0.5, b: 0.4}\n",
        5,
        "managers[0].clients.agentVersions",
        "add up to 1",
    ),
    (
        "managers:\n  - {name: m, site: S, replication: {partners: [Nowhere]}}\n",
        2,
        "managers[0].replication.partners[0]",
        "no manager",
    ),
    (
        "managers:\n  - {name: a, site: A, replication: {partners: [B]}}\n  - {name: b, site: B}\n",
        2,
        "managers[0].replication.partners[0]",
        "mutual",
    ),
    (
        "managers:\n  - name: m\n    site: S\n    groups:\n      - {name: Top}\n",
        5,
        "managers[0].groups[0].name",
        "root",
    ),
    (
        "managers:\n  - name: m\n    site: S\n    groups:\n      - {name: My Company}\n      - {name: My Company\\A\\B}\n",
        6,
        "managers[0].groups[1].name",
        "not listed before",
    ),
    ("clock: {start: tomorrow}\nmanagers: []\n", 1, "clock.start", "ISO 8601"),
    ("managers:\n  - {name: m, site: S\n", 3, None, "not valid YAML"),
    (
        "managers:\n  - {name: m, site: S}\n  - {name: m, site: T}\n",
        3,
        "managers[1].name",
        "duplicate manager",
    ),
]


@pytest.mark.parametrize(
    ("text", "line", "field", "fragment"),
    BAD,
    ids=[
        "unknown-key", "bad-duration", "shares-not-summing", "unknown-partner", "one-sided-partner",
        "root-not-first", "parent-missing", "bad-start", "yaml-syntax", "duplicate-name",
    ],
)  # fmt: skip
def test_a_mistake_names_file_line_and_field(
    tmp_path: Path, text: str, line: int, field: str | None, fragment: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(FleetError) as caught:
        load_fleet(path)
    assert caught.value.location == f"{path}:{line}"
    assert caught.value.field == field
    assert fragment in caught.value.message


@pytest.mark.parametrize(
    ("files", "field", "fragment"),
    [
        ({}, "managers[0].certificate.certFile", "cannot read {d}/c.pem: No such file or directory"),
        ({"c.pem": b"not a certificate", "k.pem": b"x"}, "managers[0].certificate", "is not a PEM X.509"),
        ("mismatch", "managers[0].certificate", "the private key does not match the certificate"),
    ],
    ids=["missing-file", "not-pem", "key-of-another-certificate"],
)
def test_certificate_files_sepm_would_refuse_are_refused_at_load_with_their_place(
    tmp_path: Path, files: dict[str, bytes] | str, field: str, fragment: str
) -> None:
    from reconciler.sim import generate_certificate

    if files == "mismatch":
        files = {"c.pem": generate_certificate("a.example")[0], "k.pem": generate_certificate("b.example")[1]}
    assert isinstance(files, dict)
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    path = write(
        tmp_path, "managers:\n  - name: m\n    site: S\n    certificate: {certFile: c.pem, keyFile: k.pem}\n"
    )
    with pytest.raises(FleetError) as caught:
        load_fleet(path)
    assert (caught.value.location, caught.value.field) == (f"{path}:4", field)
    assert fragment.format(d=tmp_path) in caught.value.message


async def test_a_host_that_is_not_this_machine_is_refused_in_one_sentence() -> None:
    config = fleet(manager("m", "S", host="192.0.2.1", count=3))  # TEST-NET-1: never a local address
    with pytest.raises(OSError) as caught:
        async with Simulator(config):
            pass
    assert caught.value.strerror == (
        "m: cannot listen on 192.0.2.1:0 (its clients port): Cannot assign requested address; check host in the "
        "fleet file (an address of this machine, e.g. 127.0.0.1)"
    )


def test_simulate_refuses_a_bad_fleet_with_exit_1_and_one_message(tmp_path: Path) -> None:
    path = write(tmp_path, BAD[0][0])
    ports = tmp_path / "ports.json"
    proc = subprocess.run(
        [sys.executable, "-m", "reconciler", "simulate", "--fleet", str(path), "--ports-file", str(ports)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"error: {path}:2: managers[0].colour: unknown key; expected one of: admin, behaviours, certificate, clients, "
        "domains, groups, host, maxPageSize, name, patchInheritingGroup, ports, replication, restart, site, "
        "tokenLifetime, version"
    ]
    assert not ports.exists()


def _population(fleet: dict[str, object]) -> list[tuple[str, str, str, str, int, str]]:
    world = World(load_fleet(fleet))
    east = world.manager("sepm-east")
    agents = [v for v, _ in east.cfg.clients.agent_versions]
    population = east.site_obj.populations[0]
    rows = world.state(clients=True)["managers"]["sepm-east"]["client_rows"]
    return [
        (r["name"], r["group"], agents[int(population.fleet.agent[i])], r["policySerialNumber"],
         r["lastUpdateTime"], str(r["online"]))
        for i, r in enumerate(rows)
    ]  # fmt: skip


def test_the_seed_makes_the_client_population_reproducible_and_agent_shares_hold() -> None:
    population = {"count": 2000, "heartbeat": "5m", "offline": {"share": 0.1, "forMin": "1d", "forMax": "4d"},
                  "agentVersions": {"14.3.9816.7000": 0.97, "14.2.5587.2100": 0.03}}  # fmt: skip
    first = _population(fleet(manager("sepm-east", "Site East", clients=population), seed=7))
    assert first == _population(fleet(manager("sepm-east", "Site East", clients=population), seed=7))
    assert first != _population(fleet(manager("sepm-east", "Site East", clients=population), seed=8))
    old_agents = sum(1 for row in first if row[2].startswith("14.2."))
    assert 30 <= old_agents <= 95  # 3% of 2,000, give or take
    assert 140 <= sum(1 for row in first if row[5] == "False") <= 260  # 10% away at the start
