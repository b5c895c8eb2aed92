"""Pure parts of the observation: policy serials, client acknowledgement counts, group inheritance and scope."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from reconciler.core.observation import Basis
from reconciler.sepm.acknowledgement import count_acknowledgements, is_legacy_agent
from reconciler.sepm.groups import RawGroup, resolve_scope
from reconciler.sepm.ledger import UNKNOWN, ClientEntry
from reconciler.sepm.serials import parse_policy_serial, serial_epoch_ms

# --- serials ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("serial", "expected"),
    [
        ("718B-09/04/2023 12:56:58 775", datetime(2023, 9, 4, 12, 56, 58, 775000, tzinfo=UTC)),
        ("ab12-12/31/2026 23:59:59 001", datetime(2026, 12, 31, 23, 59, 59, 1000, tzinfo=UTC)),
        ("0000-01/02/2026 03:04:05", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("718B-9/4/2023 2:56:58 7", datetime(2023, 9, 4, 2, 56, 58, 7000, tzinfo=UTC)),
    ],
    ids=["vendor-example", "lowercase-hex", "no-milliseconds", "unpadded"],
)
def test_policy_serial_time_is_read_as_gmt_month_first(serial: str, expected: datetime) -> None:
    assert parse_policy_serial(serial) == expected
    assert serial_epoch_ms(serial) == int(expected.timestamp() * 1000)


@pytest.mark.parametrize(
    "serial",
    [
        "",
        "718B",
        "718B-13/04/2023 12:56:58 775",
        "718B-02/30/2023 12:00:00 000",
        "XYZW-09/04/2023 12:56:58 775",
        "718B-2023-09-04 12:56:58",
    ],
    ids=["empty", "prefix-only", "month-13", "feb-30", "not-hex", "iso-date"],
)
def test_a_serial_not_in_the_vendor_format_has_no_time(serial: str) -> None:
    assert parse_policy_serial(serial) is None
    assert serial_epoch_ms(serial) is None


@pytest.mark.parametrize(
    ("version", "legacy"),
    [
        ("14.2.5587.2100", True),
        ("14.2", True),
        ("14.2.1015.0100", True),
        ("14.3.9816.7000", False),
        ("14.20.1.1", False),
        ("", False),
    ],
    ids=["14.2-ru1-mp1", "bare-14.2", "14.2.1", "14.3", "14.20", "unknown"],
)
def test_legacy_agents_are_the_14_2_family(version: str, legacy: bool) -> None:
    assert is_legacy_agent(version) is legacy


# --- acknowledgement ----------------------------------------------------------------------------------------------

MANAGER = datetime(2026, 12, 10, 12, 0, tzinfo=UTC)
CHANGE = datetime(2026, 12, 8, 9, 0, tzinfo=UTC)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def client(
    name: str,
    *,
    applied: datetime | None,
    seen: datetime | None,
    online: bool | None,
    group: str = "G1",
    version: str = "14.3.9816.7000",
    bad_serial: bool = False,
) -> ClientEntry:
    return ClientEntry(
        name=name,
        serial_ms=_ms(applied) if applied else UNKNOWN,
        last_update_ms=_ms(seen) if seen else UNKNOWN,
        online=online,
        agent_version=version,
        group_id=group,
        bad_serial=bad_serial,
    )


FLEET = [
    client("ack-exactly", applied=CHANGE, seen=CHANGE, online=True),
    client("ack-later", applied=CHANGE + timedelta(hours=5), seen=MANAGER, online=False),
    client(
        "ack-then-gone",
        applied=CHANGE + timedelta(minutes=1),
        seen=CHANGE + timedelta(minutes=1),
        online=False,
    ),
    client("pending-online", applied=CHANGE - timedelta(seconds=1), seen=MANAGER, online=True),
    client(
        "pending-laptop", applied=CHANGE - timedelta(days=2), seen=MANAGER - timedelta(days=3), online=False
    ),
    client(
        "excluded-away", applied=CHANGE - timedelta(days=30), seen=MANAGER - timedelta(days=8), online=False
    ),
    client("never-seen-offline", applied=None, seen=None, online=False),
    client("garbled", applied=None, seen=MANAGER, online=True, bad_serial=True),
    client(
        "weird-status", applied=None, seen=MANAGER - timedelta(days=1), online=None, version="14.2.5587.2100"
    ),
    client("other-group", applied=None, seen=MANAGER, online=True, group="G9"),
]


def test_every_client_falls_in_exactly_one_bucket() -> None:
    ack, problems = count_acknowledgements(
        FLEET,
        in_scope=frozenset({"G1"}),
        change_time=CHANGE,
        manager_time=MANAGER,
        exclude_offline_for=timedelta(days=7),
    )
    assert (ack.total, ack.acknowledged, ack.pending_online, ack.pending_offline, ack.excluded_offline) == (
        9,
        3,
        2,
        3,
        1,
    )
    assert ack.eligible == 8 and ack.ratio == pytest.approx(3 / 8)
    assert ack.at_risk_count == 6
    assert ack.at_risk_names == (
        "excluded-away",
        "garbled",
        "never-seen-offline",
        "pending-laptop",
        "pending-online",
        "weird-status",
    )
    assert ack.legacy_agents == 1
    assert ack.longest_unseen == timedelta(days=8)  # the excluded laptop
    # Stopped checking in since the change: eligible, last check-in before it (unknown counts as before).
    assert ack.stopped_checking_in == ("never-seen-offline", "pending-laptop")
    assert ack.stopped_checking_in_count == 2
    assert problems == [
        "1 clients carry a profileSerialNo not in the vendor's format: counted as not acknowledged",
        "1 clients have an onlineStatus other than 1 or 0: counted as offline",
    ]


def test_without_a_change_time_nobody_is_acknowledged() -> None:
    ack, _ = count_acknowledgements(
        FLEET, in_scope=None, change_time=None, manager_time=MANAGER, exclude_offline_for=timedelta(days=7)
    )
    assert ack.total == 10 and ack.acknowledged == 0 and ack.at_risk_count == 10
    assert ack.pending_online + ack.pending_offline == ack.eligible == 9
    assert ack.stopped_checking_in == ()


def test_checkin_since_lists_clients_silent_since_an_earlier_moment() -> None:
    ack, _ = count_acknowledgements(
        FLEET,
        in_scope=frozenset({"G1"}),
        change_time=CHANGE,
        manager_time=MANAGER,
        exclude_offline_for=timedelta(days=7),
        checkin_since=MANAGER - timedelta(hours=1),
    )
    assert ack.stopped_checking_in == ("never-seen-offline", "pending-laptop", "weird-status")
    assert ack.acknowledged == 3  # the change time still decides acknowledgement


def test_a_longer_exclusion_window_waits_for_the_long_gone_laptop() -> None:
    ack, _ = count_acknowledgements(
        FLEET,
        in_scope=frozenset({"G1"}),
        change_time=CHANGE,
        manager_time=MANAGER,
        exclude_offline_for=timedelta(days=30),
    )
    assert ack.excluded_offline == 0 and ack.pending_offline == 4 and ack.eligible == 9


def test_at_risk_names_are_the_first_hundred_sorted_and_the_count_is_complete() -> None:
    many = [client(f"pc-{i:05d}", applied=None, seen=MANAGER, online=True) for i in range(2500, 0, -1)]
    ack, _ = count_acknowledgements(
        many, in_scope=None, change_time=CHANGE, manager_time=MANAGER, exclude_offline_for=timedelta(days=7)
    )
    assert ack.at_risk_count == 2500
    assert ack.at_risk_names == tuple(f"pc-{i:05d}" for i in range(1, 101))


def test_nobody_eligible_means_nothing_to_wait_for() -> None:
    ack, _ = count_acknowledgements(
        [], in_scope=None, change_time=CHANGE, manager_time=MANAGER, exclude_offline_for=timedelta(days=7)
    )
    assert ack.total == 0 and ack.ratio == 1.0 and ack.longest_unseen is None


# --- groups -------------------------------------------------------------------------------------------------------


def group(gid: str, path: str, inherits: bool, location: str | None = None) -> RawGroup:
    return RawGroup(gid, path, inherits, location or f"L-{gid}", None, "D1", "Default")


TREE = [
    group("ROOT", "My Company", False),
    group("SRV", "My Company\\Servers", True, "L-ROOT"),
    group("SQL", "My Company\\Servers\\SQL", True, "L-ROOT"),
    group("LAP", "My Company\\Laptops", False),
    group("LAPX", "My Company\\Laptops\\Executives", True, "L-LAP"),
    group("KIOSK", "My Company\\Kiosks", False),
]


@pytest.mark.parametrize(
    ("listed", "managed", "in_scope", "problems"),
    [
        ([], {"ROOT", "LAP", "KIOSK"}, {"ROOT", "SRV", "SQL", "LAP", "LAPX", "KIOSK"}, []),
        (["My Company\\Laptops"], {"LAP"}, {"LAP", "LAPX"}, []),
        (["my company\\LAPTOPS", "My Company\\Kiosks"], {"LAP", "KIOSK"}, {"LAP", "LAPX", "KIOSK"}, []),
        (["My Company"], {"ROOT"}, {"ROOT", "SRV", "SQL"}, []),
        (
            ["My Company\\Servers"],
            set(),
            set(),
            [
                "group 'My Company\\\\Servers' inherits its settings from 'My Company', which rollout.clients.groups"
            ],
        ),
        (
            ["My Company\\Printers"],
            set(),
            set(),
            ["names 'My Company\\\\Printers', which the manager does not have"],
        ),
    ],
    ids=[
        "empty-list-all-sources",
        "one-source-and-its-heirs",
        "case-insensitive",
        "root",
        "inheriting-listed",
        "unknown-name",
    ],
)
def test_managed_groups_are_the_listed_sources_and_scope_follows_inheritance(
    listed: list[str], managed: set[str], in_scope: set[str], problems: list[str]
) -> None:
    scope = resolve_scope(TREE, listed)
    assert scope.managed == managed
    assert scope.in_scope == in_scope
    assert len(scope.problems) == len(problems)
    for found, expected in zip(scope.problems, problems, strict=True):
        assert expected in found
    assert scope.source["SQL"] == "ROOT" and scope.source["LAPX"] == "LAP"


def test_an_orphan_inheriting_group_is_unresolved_not_guessed() -> None:
    scope = resolve_scope([group("A", "My Company\\Lost\\Child", True)], [])
    assert scope.source == {"A": None}
    assert scope.managed == frozenset() and scope.in_scope == frozenset()
    assert "which the manager did not list" in scope.problems[0]


def test_after_the_swap_a_check_in_since_it_is_what_counts() -> None:
    """Step 4b: clients fetch the new certificate at a check-in — ``lastUpdateTime`` at or after the moment it was
    served — whatever policy they applied."""
    ack, _ = count_acknowledgements(
        FLEET,
        in_scope=frozenset({"G1"}),
        change_time=CHANGE,
        manager_time=MANAGER,
        exclude_offline_for=timedelta(days=7),
        basis=Basis.CHECKIN,
    )
    assert ack.basis is Basis.CHECKIN
    # seen at or after CHANGE: ack-exactly, ack-later, ack-then-gone, pending-online, garbled (a bad serial does
    # not matter here: it checked in), weird-status (a day ago)
    assert ack.acknowledged == 6
    assert set(ack.at_risk_names) == {"pending-laptop", "excluded-away", "never-seen-offline"}
    assert ack.excluded_offline == 1 and ack.eligible == 8


def test_a_skipped_list_switch_puts_every_client_at_risk_before_the_swap() -> None:
    """Their management server list (maybe HTTPS) is unknown: acknowledged or not, each one is at risk."""
    ack, _ = count_acknowledgements(
        FLEET,
        in_scope=frozenset({"G1"}),
        change_time=CHANGE,
        manager_time=MANAGER,
        exclude_offline_for=timedelta(days=7),
        everyone_at_risk=True,
    )
    assert ack.acknowledged == 3 and ack.ratio == pytest.approx(3 / 8)  # the wait itself is unchanged
    assert ack.at_risk_count == ack.total == 9
