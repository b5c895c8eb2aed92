"""``observe()`` against the simulator over real HTTPS, checked against its ground truth (``/_sim/state``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from reconciler.core.observation import PortOutcome, ServerObservation
from reconciler.sepm import (
    ClientLedger,
    CollateralSettingsChange,
    RetryPolicy,
    observe,
    read_settings,
    replicate_now,
    set_secure_communications,
)
from reconciler.sim.simulator import Simulator
from tests.sepm.pki import Issued
from tests.sepm.simkit import Admin, RecordingTransport, client_for, fleet, manager, spec_for

EAST, WEST = "sepm-east", "sepm-west"


@pytest.fixture
async def sim(pki: dict[str, Issued]) -> AsyncIterator[Simulator]:
    east = manager(EAST, "Site East", pki["east"], replication={"partners": ["Site West"], "interval": "1h"})
    west = manager(WEST, "Site West", pki["west"], clients=500, replication={"partners": ["Site East"]})
    async with Simulator(fleet(east, west)) as running:
        yield running


def truth(sim: Simulator, name: str = EAST, *, clients: bool = False) -> dict[str, Any]:
    state = sim.state(clients=clients)
    return {"clock": state["clock"], **state["managers"][name]}


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def expected_counts(rows: list[dict[str, Any]], current: dict[str, str], now: datetime) -> dict[str, int]:
    """Acknowledgement computed from the simulator's own per-client rows (serials compared as strings)."""
    cutoff = _ms(now - timedelta(days=7))
    counts = {"acknowledged": 0, "pending_online": 0, "pending_offline": 0, "excluded_offline": 0}
    for row in rows:
        if row["policySerialNumber"] == current[row["group"]]:
            counts["acknowledged"] += 1
        elif row["online"]:
            counts["pending_online"] += 1
        elif row["lastUpdateTime"] < cutoff:
            counts["excluded_offline"] += 1
        else:
            counts["pending_offline"] += 1
    return counts


async def test_a_full_observation_matches_the_ground_truth(sim: Simulator, pki: dict[str, Issued]) -> None:
    spec = spec_for(sim, EAST, pki["ca"])
    async with client_for(sim, EAST, pki["ca"]) as client:
        obs = await observe(spec, client)
    state = truth(sim, clients=True)
    assert obs.errors == ()
    assert obs.api_reachable and obs.api_version == "14.3.9816.7000"
    assert obs.manager_time == datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    assert obs.served_fingerprints() == state["served"]
    assert all(p.outcome is PortOutcome.PRESENTED for p in obs.ports.values())

    assert obs.replication is not None
    assert obs.replication.site_name == "Site East" and obs.replication.is_replicated is True
    assert {p.name: p.status_code for p in obs.replication.partners} == state["replication"]["status"]

    assert obs.groups is not None
    by_path = {g["name"]: g for g in state["groups"]}
    assert {g.full_path_name for g in obs.groups} == set(by_path)  # empty list: every group is in scope
    for group in obs.groups:
        assert group.id == by_path[group.full_path_name]["id"]
        assert group.secure_communications is by_path[group.full_path_name]["secure_communications"]
        assert group.policy_serial == by_path[group.full_path_name]["policySerialNumber"]
        assert group.managed is not group.inherits
    assert {g.full_path_name for g in obs.managed_groups} == {
        "My Company",
        "My Company\\Laptops",
        "My Company\\Kiosks",
    }

    ack = obs.clients
    assert ack is not None
    rows = state["client_rows"]
    assert ack.total == state["clients"]["total"] == len(rows)
    assert ack.change_time is None and ack.acknowledged == 0
    assert ack.pending_online == state["clients"]["online"]
    simulated = sim.world.manager(EAST)
    versions = [v for v, _ in simulated.cfg.clients.agent_versions]
    assert ack.legacy_agents == sum(versions[int(i)].startswith("14.2.") for i in simulated.clients.agent) > 0
    assert ack.at_risk_count == ack.total
    assert ack.at_risk_names == tuple(sorted(r["name"] for r in rows)[:100])


async def test_acknowledgements_after_our_change_match_the_clients_serials(
    sim: Simulator, pki: dict[str, Issued]
) -> None:
    admin = Admin(sim, EAST, pki["ca"])
    spec = spec_for(sim, EAST, pki["ca"])
    ledger = ClientLedger()
    async with client_for(sim, EAST, pki["ca"]) as client:
        before = await observe(spec, client, ledger=ledger)
        assert before.groups is not None
        change = before.manager_time
        assert change is not None
        results = await set_secure_communications(client, before.managed_groups, False)
        assert [r.confirmed for r in results] == [False, False, False] and all(r.ok for r in results)
        await admin.advance(150)  # half a heartbeat: about half the online clients check in
        after = await observe(spec, client, ledger=ledger, change_time=change)
    state = truth(sim, clients=True)
    assert after.errors == ()
    assert after.groups is not None
    assert all(g.secure_communications is False for g in after.groups)  # heirs follow their source
    assert all(g.policy_time == change for g in after.groups)  # our change gave every group a new serial
    current = {g["name"]: g["policySerialNumber"] for g in state["groups"]}
    expected = expected_counts(state["client_rows"], current, after.manager_time or change)
    ack = after.clients
    assert ack is not None
    assert {k: getattr(ack, k) for k in expected} == expected
    assert 0 < ack.acknowledged < ack.eligible  # the test means something only half-way
    assert ack.at_risk_count == ack.total - ack.acknowledged
    assert ledger.last_scan is not None and ledger.last_scan.full  # the change time moved: a full rescan


async def test_incremental_scans_fetch_only_changed_clients_and_count_the_same(
    sim: Simulator, pki: dict[str, Issued]
) -> None:
    admin = Admin(sim, EAST, pki["ca"])
    spec = spec_for(sim, EAST, pki["ca"])
    recorder: list[RecordingTransport] = []
    ledger = ClientLedger()
    async with client_for(sim, EAST, pki["ca"], recorder=recorder) as client:
        first = await observe(spec, client, ledger=ledger)
        assert first.groups is not None and first.manager_time is not None
        await set_secure_communications(client, first.managed_groups, False)
        change = first.manager_time
        await observe(spec, client, ledger=ledger, change_time=change)  # full: the change time moved
        for step in range(3):
            await admin.advance(20)
            recorder[0].seen.clear()
            warm = await observe(spec, client, ledger=ledger, change_time=change)
            assert ledger.last_scan is not None
            assert not ledger.last_scan.full, ledger.last_scan
            scans = [s for s in recorder[0].seen if s.path == "computers" and s.params.get("pageSize") != "1"]
            assert scans and all("lastUpdate" in s.params for s in scans)
            assert ledger.last_scan.fetched < 0.2 * len(ledger), (step, ledger.last_scan)
            # A cold ledger paging everything agrees exactly with the warm one.
            cold = await observe(spec, client, ledger=ClientLedger(), change_time=change)
            assert warm.clients == cold.clients
            assert warm.clients is not None and warm.clients.acknowledged > 0


async def test_token_expiry_mid_scan_is_recovered(sim: Simulator, pki: dict[str, Issued]) -> None:
    admin = Admin(sim, EAST, pki["ca"])
    await admin.faults(token_lifetime_s=0.3, latency_ms=40)
    spec = spec_for(sim, EAST, pki["ca"])
    recorder: list[RecordingTransport] = []
    async with client_for(sim, EAST, pki["ca"], recorder=recorder) as client:
        obs = await observe(spec, client, ledger=ClientLedger(page_size=100))  # 30 pages, about 1.2 s
        assert client.authentications >= 3
    assert obs.errors == ()
    assert obs.clients is not None and obs.clients.total == 3000
    pages = [s for s in recorder[0].seen if s.path == "computers" and s.status == 200]
    assert len({s.params["pageIndex"] for s in pages}) == 30


async def test_a_429_storm_is_waited_out_as_the_manager_asks(sim: Simulator, pki: dict[str, Issued]) -> None:
    admin = Admin(sim, EAST, pki["ca"])
    await admin.faults(throttle_burst=12, retry_after_s=1)
    delays: list[float] = []

    async def sleep(seconds: float) -> None:  # record what was asked; wait a token amount
        delays.append(seconds)
        await asyncio.sleep(0.01)

    spec = spec_for(sim, EAST, pki["ca"])
    recorder: list[RecordingTransport] = []
    retry = RetryPolicy(attempts=15, base_delay=0.01, max_delay=5)
    async with client_for(sim, EAST, pki["ca"], recorder=recorder, retry=retry, sleep=sleep) as client:
        obs = await observe(spec, client)
    assert obs.errors == ()
    assert obs.clients is not None and obs.clients.total == 3000
    throttled = [s for s in recorder[0].seen if s.status == 429]
    assert len(throttled) == 12
    # every retry after a 429 honoured Retry-After: 1; calls sent meanwhile waited behind it (never longer)
    assert delays.count(1.0) == 12 and all(0 < d <= 1.0 for d in delays)


@pytest.mark.parametrize(
    ("faults", "call_timeout", "symptom"),
    [
        ({"error_rate": 0.5}, 5.0, 500),
        ({"timeout_rate": 0.25, "hang_s": 3}, 0.4, None),
    ],
    ids=["5xx-burst", "hung-requests"],
)
async def test_failing_requests_are_retried_and_the_observation_is_complete(
    sim: Simulator, pki: dict[str, Issued], faults: dict[str, Any], call_timeout: float, symptom: int | None
) -> None:
    await Admin(sim, EAST, pki["ca"]).faults(**faults)
    spec = spec_for(sim, EAST, pki["ca"])
    recorder: list[RecordingTransport] = []
    retry = RetryPolicy(attempts=12, base_delay=0.005, max_delay=0.05)
    async with client_for(
        sim, EAST, pki["ca"], recorder=recorder, retry=retry, timeout=call_timeout
    ) as client:
        obs = await observe(spec, client)
    assert obs.errors == ()
    assert sum(1 for s in recorder[0].seen if s.status == symptom) >= 3
    assert obs.clients is not None and obs.clients.total == 3000
    assert obs.groups is not None and len(obs.groups) == 6
    assert obs.replication is not None


async def test_connections_dropped_after_a_post_are_recovered(sim: Simulator, pki: dict[str, Issued]) -> None:
    await Admin(sim, EAST, pki["ca"]).faults(close_after_post=True)
    spec = spec_for(sim, EAST, pki["ca"])
    recorder: list[RecordingTransport] = []
    async with client_for(sim, EAST, pki["ca"], recorder=recorder) as client:
        first = await observe(spec, client)
        assert first.managed_groups
        await replicate_now(client, "Site West")  # another POST, then reuse
        second = await observe(spec, client)
    assert first.errors == () and second.errors == ()
    assert first.api_error is None and first.api_usable
    assert second.clients is not None and second.clients.total == 3000
    dropped = [s for s in recorder[0].seen if s.status is None]
    assert dropped, "the fault should have dropped at least one reused connection"


async def test_an_api_that_only_fails_still_yields_the_ports(sim: Simulator, pki: dict[str, Issued]) -> None:
    await Admin(sim, EAST, pki["ca"]).faults(error_rate=1.0)
    spec = spec_for(sim, EAST, pki["ca"])
    retry = RetryPolicy(attempts=2, base_delay=0.001, max_delay=0.001)
    async with client_for(sim, EAST, pki["ca"], retry=retry) as client:
        obs = await observe(spec, client)
    assert not obs.api_reachable
    assert (obs.groups, obs.replication, obs.clients, obs.manager_time) == (None, None, None, None)
    assert any(e.startswith("api: authentication failed") and "HTTP 500" in e for e in obs.errors)
    assert obs.api_error is not None and "HTTP 500" in obs.api_error and not obs.api_usable
    assert obs.served_fingerprints() == truth(sim)["served"]


async def test_a_failing_replication_endpoint_does_not_lose_the_other_parts(
    sim: Simulator, pki: dict[str, Issued]
) -> None:
    def replication_down(request: httpx.Request) -> httpx.Response | None:
        if request.url.path.endswith("/replication/status"):
            return httpx.Response(500, json={"errorCode": "500", "errorMessage": "replication service down"})
        return None

    spec = spec_for(sim, EAST, pki["ca"])
    retry = RetryPolicy(attempts=2, base_delay=0.001, max_delay=0.001)
    async with client_for(sim, EAST, pki["ca"], override=replication_down, retry=retry) as client:
        obs = await observe(spec, client)
    assert obs.replication is None  # the partner list is unknown: not "no partners"
    assert [e for e in obs.errors if e.startswith("replication: replication/status: GET replication/status")]
    assert obs.groups is not None and obs.clients is not None and obs.clients.total == 3000
    assert obs.all_ports_present(truth(sim)["served"]["api"])


async def test_ports_refuse_during_a_restart_then_present_again(
    sim: Simulator, pki: dict[str, Issued]
) -> None:
    spec = spec_for(sim, EAST, pki["ca"])
    retry = RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.01)
    east = sim.world.manager(EAST)
    with (
        sim.world.lock
    ):  # a restart that leaves the services down: they stay down however slowly this test runs
        east.faults.restart_fails = "down"
    await sim.restart_services(EAST)
    await sim.wait_services_up(EAST, within=60)  # the restart is over; its services did not come back
    async with client_for(sim, EAST, pki["ca"], retry=retry) as client:
        down = await observe(spec, client, port_timeout=10)
        with sim.world.lock:
            east.faults.restart_fails = None
        await sim.restart_services(EAST)
        await sim.wait_services_up(EAST, within=60)
        up = await observe(spec, client, port_timeout=10)
    assert {p.outcome for p in down.ports.values()} == {PortOutcome.REFUSED}
    assert not down.api_reachable and down.clients is None
    assert any("cannot connect" in e for e in down.errors)
    assert up.errors == () and up.all_ports_present(truth(sim)["served"]["api"])


async def test_a_wrong_certificate_on_one_port_only_is_seen(sim: Simulator, pki: dict[str, Issued]) -> None:
    admin = Admin(sim, EAST, pki["ca"])
    old = truth(sim)["served"]["api"]
    await admin.stage_certificate(pki["east-next"])
    await admin.restart("semwebsrv")  # only Apache: the clients port changes, console and API do not
    await sim.wait_services_up(EAST)
    spec = spec_for(sim, EAST, pki["ca"])
    async with client_for(sim, EAST, pki["ca"]) as client:
        obs = await observe(spec, client)
    new = pki["east-next"].fingerprint
    assert obs.served_fingerprints() == {"clients": new, "console": old, "api": old}
    assert obs.ports["clients"].certificate is not None
    assert obs.ports["clients"].certificate.subject == "CN=sepm-east-2027.corp.example"
    assert not obs.all_ports_present(new) and not obs.all_ports_present(old)
    assert obs.errors == ()


@pytest.mark.parametrize(
    ("listed", "managed", "in_scope"),
    [
        (
            ["My Company\\Laptops"],
            {"My Company\\Laptops"},
            {"My Company\\Laptops", "My Company\\Laptops\\Executives"},
        ),
        (["My Company"], {"My Company"}, {"My Company", "My Company\\Servers", "My Company\\Servers\\SQL"}),
    ],
    ids=["laptops-and-heirs", "root-and-heirs"],
)
async def test_inheritance_decides_what_is_patched_and_whose_clients_count(
    sim: Simulator, pki: dict[str, Issued], listed: list[str], managed: set[str], in_scope: set[str]
) -> None:
    spec = spec_for(sim, EAST, pki["ca"], groups=listed)
    async with client_for(sim, EAST, pki["ca"]) as client:
        obs = await observe(spec, client)
        assert obs.groups is not None
        assert {g.full_path_name for g in obs.managed_groups} == managed
        assert {g.full_path_name for g in obs.groups} == in_scope
        results = await set_secure_communications(client, obs.managed_groups, False)
        assert all(r.ok for r in results)
        after = await observe(spec, client)
    state = {g["name"]: g for g in truth(sim)["groups"]}
    assert after.groups is not None
    for group in after.groups:  # the heirs now report the flag of the group we changed
        assert group.secure_communications is False is state[group.full_path_name]["secure_communications"]
    untouched = set(state) - in_scope
    assert all(state[name]["secure_communications"] is True for name in untouched)
    per_group = {g["name"]: g["clients"] for g in truth(sim)["groups"]}
    assert after.clients is not None
    assert after.clients.total == sum(per_group[name] for name in in_scope)


async def test_patching_an_inheriting_group_is_refused_before_sending_anything(
    sim: Simulator, pki: dict[str, Issued]
) -> None:
    spec = spec_for(sim, EAST, pki["ca"])
    recorder: list[RecordingTransport] = []
    async with client_for(sim, EAST, pki["ca"], recorder=recorder) as client:
        obs = await observe(spec, client)
        assert obs.groups is not None
        heir = next(g for g in obs.groups if g.inherits)
        recorder[0].seen.clear()
        (result,) = await set_secure_communications(client, [heir], False)
        assert recorder[0].seen == []
    assert not result.ok and result.confirmed is None and "inherits" in (result.error or "")


async def test_replicate_now_runs_a_replication_with_the_partner(
    sim: Simulator, pki: dict[str, Issued]
) -> None:
    spec = spec_for(sim, EAST, pki["ca"])
    recorder: list[RecordingTransport] = []
    async with client_for(sim, EAST, pki["ca"], recorder=recorder) as client:
        await replicate_now(client, "Site West")
        await Admin(sim, EAST, pki["ca"]).advance(60)
        obs: ServerObservation = await observe(spec, client)
    (call,) = [s for s in recorder[0].seen if s.path == "replication/replicatenow"]
    assert call.method == "POST" and call.status == 200
    assert call.params == {"partnerSiteName": "Site West", "logs": "false", "content": "false"}
    assert obs.replication is not None
    partner = obs.replication.partner("Site West")
    assert partner is not None and partner.status_code == "SUCCEEDED"
    assert partner.last_successful_run_time is not None


@pytest.mark.parametrize("shown", [True, False], ids=["list-name-in-settings", "list-name-hidden"])
async def test_each_group_reads_the_management_server_list_its_settings_show_or_none(
    sim: Simulator, pki: dict[str, Issued], shown: bool
) -> None:
    """``communication_settings.sem_server.name``: where the manager shows it (behaviour ``listNameInSettings``), the
    list each managed group (and each group inheriting from it) uses; where it does not, None — never a guess."""
    admin = Admin(sim, EAST, pki["ca"])
    await admin.post("behaviours", {"listNameInSettings": shown})
    await admin.post(
        "lists", {"name": "HTTP copy", "protocol": "http", "copyOf": "Default Management Server List"}
    )
    await admin.post("lists/assign", {"list": "HTTP copy", "groups": ["My Company\\Laptops"]})
    spec = spec_for(sim, EAST, pki["ca"])
    async with client_for(sim, EAST, pki["ca"]) as client:
        obs = await observe(spec, client)
    assert obs.groups is not None
    lists = {g.full_path_name: g.list_name for g in obs.groups}
    expected = {g["name"]: g["list"] if shown else None for g in truth(sim)["groups"]}
    assert lists == expected
    if shown:
        assert lists["My Company\\Laptops"] == lists["My Company\\Laptops\\Executives"] == "HTTP copy"
        assert lists["My Company"] == "Default Management Server List"


async def test_a_replacing_patch_is_caught_on_the_first_group_and_the_second_is_never_touched(
    sim: Simulator, pki: dict[str, Issued]
) -> None:
    """The strict simulator replaces every object a PATCH names. Sending only the object that encloses the flag
    (``security_settings``, inside ``general_settings`` and ``configuration``) resets the rest of the configuration:
    caught on the first group, written back, and no other group touched."""
    spec = spec_for(sim, EAST, pki["ca"])
    recorder: list[RecordingTransport] = []
    async with client_for(sim, EAST, pki["ca"], recorder=recorder) as client:
        obs = await observe(spec, client)
        assert obs.groups is not None
        managed = list(obs.managed_groups)
        before = {g["id"]: g["policySerialNumber"] for g in truth(sim)["groups"]}
        recorder[0].seen.clear()
        enclosing = ("configuration", "general_settings", "security_settings")
        with pytest.raises(CollateralSettingsChange) as caught:
            await set_secure_communications(client, managed, False, scope=enclosing)
        patched = {s.path for s in recorder[0].seen if s.method == "PATCH"}
        document = await read_settings(client, managed[0].id, managed[0].location_id or "")
    error = caught.value
    assert error.group_id == managed[0].id and error.restored is True
    assert "configuration.general_settings.tamper_protection.enabled" in error.fields
    assert "configuration.communication_settings.pull_mode_heartbeat_freq_in_seconds" in error.fields
    assert patched == {f"groups/{managed[0].id}/locations/{managed[0].location_id}/settings"}
    assert document.get(("configuration", "general_settings", "tamper_protection", "enabled")) is True
    assert document.secure_communications is True  # written back as it was
    after = {g["id"]: g["policySerialNumber"] for g in truth(sim)["groups"]}
    assert all(after[g.id] == before[g.id] for g in managed[1:]), "the other groups were not touched"
