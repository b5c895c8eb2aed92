"""``clients.offline.absences``: exactly so many clients away at the start, in a group, since so long, back then or
never — what a twin of a real fleet needs (the forecast); and mistakes in it are located."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from reconciler.sim import FleetError, Simulator, load_fleet
from tests.sim.conftest import LAPTOPS, SERVERS, fleet, manager

START_MS = 1796112000000  # 2026-12-01T08:00:00Z, the fleets' start


def _block(absences: list[dict[str, object]], count: int = 500) -> dict[str, object]:
    return {"count": count, "heartbeat": "5m", "offline": {"absences": absences}}


async def test_exactly_the_counts_groups_and_ages_asked_for_are_away_and_stay_away() -> None:
    absences = [
        {"count": 7, "group": LAPTOPS, "since": ["2d", "3d"]},
        {"count": 3, "group": SERVERS, "since": "6h"},
        {"count": 4, "since": ["10m", "20m"], "back": ["1h", "2h"]},
    ]
    sim_fleet = fleet(manager("sepm-east", "Site East", clients=_block(absences)), behaviours="lenient")
    async with Simulator(sim_fleet) as sim:
        rows = sim.state(clients=True)["managers"]["sepm-east"]["client_rows"]
        away = [r for r in rows if not r["online"]]
        assert len(away) == 14
        never = [r for r in away if r["offline_until"] is None]
        assert Counter(r["group"] for r in never) == {LAPTOPS: 7, SERVERS: 3}
        ages = sorted((START_MS - r["lastUpdateTime"]) / 1000 for r in never)
        assert ages[:3] == [pytest.approx(6 * 3600, abs=1)] * 3
        assert all(2 * 86400 <= a <= 3 * 86400 + 1 for a in ages[3:])
        coming = [r for r in away if r["offline_until"] is not None]
        assert len(coming) == 4
        assert all(600 <= (START_MS - r["lastUpdateTime"]) / 1000 <= 1201 for r in coming)
        world = sim.world
        with world.lock:
            world.clock.advance(3 * 3600)
            world.advance()
        later = sim.state(clients=True)["managers"]["sepm-east"]["client_rows"]
        back = {r["name"] for r in later if r["online"]}
        assert {r["name"] for r in coming} <= back  # back within 1-2 h
        assert not {r["name"] for r in never} & back  # never back
        with world.lock:
            world.clock.advance(30 * 86400)
            world.advance()
        assert sim.state()["managers"]["sepm-east"]["clients"]["offline"] == 10


async def test_fleets_without_absences_draw_the_same_population_as_before() -> None:
    block = {"count": 300, "heartbeat": "5m", "offline": {"share": 0.1, "forMin": "1d", "forMax": "2d"}}
    async with Simulator(fleet(manager("sepm-east", "Site East", clients=block), seed=5)) as sim:
        rows = sim.state(clients=True)["managers"]["sepm-east"]["client_rows"]
    # pinned from the simulator before absences existed: the seed still gives the same clients away
    away = [r["name"] for r in rows if not r["online"]]
    assert (len(away), away[:3]) == (29, ["SEPM-EAST-PC000007", "SEPM-EAST-PC000011", "SEPM-EAST-PC000013"])
    assert sum(r["lastUpdateTime"] for r in rows) == 538832426845431


def _write(tmp_path: Path, offline: str) -> Path:
    text = (
        "managers:\n"
        "  - name: m\n"
        "    site: S\n"
        "    groups: [{name: My Company}, {name: My Company\\Laptops}]\n"
        "    clients:\n"
        "      count: 10\n"
        f"      offline: {offline}\n"
    )
    path = tmp_path / "fleet.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("offline", "field", "fragment"),
    [
        ("{share: 0.1, absences: []}", "managers[0].clients.offline.share", "not both"),
        ("{absences: [{count: 11, since: 1d}]}", "managers[0].clients.offline.absences", "population has 10"),
        ("{absences: [{count: 1}]}", "managers[0].clients.offline.absences[0]", "'since'"),
        ("{absences: [{count: 1, since: [2d, 1d]}]}", "managers[0].clients.offline.absences[0].since[1]", "shorter"),
        ("{absences: [{count: 1, since: 1d, group: Nope}]}", "managers[0].clients.offline.absences[0].group", "not a group"),
        ("{absences: [{count: 1, since: 1d, back: soon}]}", "managers[0].clients.offline.absences[0].back", "invalid duration"),
        ("{absences: {count: 1}}", "managers[0].clients.offline.absences", "expected a list"),
    ],
    ids=["with-share", "more-than-count", "no-since", "since-backwards", "unknown-group", "bad-back", "not-a-list"],
)  # fmt: skip
def test_a_mistake_in_absences_is_located(tmp_path: Path, offline: str, field: str, fragment: str) -> None:
    path = _write(tmp_path, offline)
    with pytest.raises(FleetError) as caught:
        load_fleet(path)
    assert caught.value.field == field
    assert fragment in caught.value.message
    assert caught.value.location is not None and caught.value.location.startswith(f"{path}:")
