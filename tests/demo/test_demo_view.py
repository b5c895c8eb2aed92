"""What the demo shows: the live progress table, and the ground truth checked against the at-risk predictions."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from rich.console import Console

from reconciler.cli._demo_view import Predictions, check_ground_truth, progress_table
from reconciler.core.procedure import Phase
from reconciler.core.record import Facts, ObservedSummary, RolloutRecord, new_record

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
OLD, NEW = "sha256:" + "a1" * 32, "sha256:" + "b2" * 32


def _waiting(name: str, *, at_risk: tuple[str, ...], count: int) -> RolloutRecord:
    """Step 3, before the swap: 1,834 of 1,900 acknowledged; ``count`` at risk, ``at_risk`` the names kept."""
    return replace(
        new_record(name, T0),
        phase=Phase.WAITING_UNVERIFIED,
        rollout_id="r-1",
        reason="step 3: waiting for clients: 1,834 / 1,900 eligible have the policy",
        facts=Facts(verification_off_at=T0),
        observed=ObservedSummary(
            observed_at=T0,
            api_reachable=True,
            manager_time=T0,
            eligible=1900,
            acknowledged=1834,
            ack_ratio=1834 / 1900,
            at_risk_count=count,
            at_risk_names=at_risk,
        ),
    )


def test_the_progress_table_shows_each_servers_step_and_acknowledgement_bar() -> None:
    done = replace(new_record("sepm-dmz", T0), phase=Phase.IN_SYNC, reason="in sync")
    table = progress_table(
        [_waiting("sepm-east", at_risk=(), count=66), done],
        manager_time=T0,
        elapsed=12,
        status_url="http://127.0.0.1:9370/",
    )
    console = Console(width=120, record=True, color_system=None)
    console.print(table)
    text = console.export_text()
    east = next(line for line in text.splitlines() if line.strip().startswith("sepm-east"))
    assert "■■■□□□□ 3/7" in east and "wait for clients (verification off)" in east
    assert "███████████░ 96.5% 1,834/1,900" in east
    dmz = next(line for line in text.splitlines() if line.strip().startswith("sepm-dmz"))
    assert "■■■■■■■ in sync" in dmz and "—" in dmz  # nothing being acknowledged
    assert "manager clock 2026-12-01 08:00 UTC · 12 s elapsed" in text
    assert "sepm-east: step 3: waiting for clients" in text
    assert "status page: http://127.0.0.1:9370/" in text


ORIGINAL = "Default Management Server List"
GROUPS = [{"name": "My Company", "secure_communications": True, "list": ORIGINAL}]


def _state(
    lost: list[str], away: list[str], served: str = NEW, groups: list[dict[str, Any]] = GROUPS
) -> dict[str, Any]:
    rows = [{"name": n, "online": False, "orphaned": False, "trusts": OLD} for n in away]
    rows += [{"name": n, "online": False, "orphaned": True, "trusts": OLD} for n in lost]
    rows.append({"name": "EAST-PC999999", "online": True, "orphaned": False, "trusts": NEW})
    return {
        "managers": {
            "sepm-east": {
                "served": {"clients": served, "console": served, "api": served},
                "orphaned_clients": lost,
                "client_rows": rows,
                "groups": groups,
            }
        }
    }


def _predicted(names: tuple[str, ...], count: int) -> Predictions:
    predictions = Predictions()
    predictions.update([_waiting("sepm-east", at_risk=names, count=count)])
    return predictions


FIRST = tuple(f"EAST-PC{n:06d}" for n in range(0, 40, 2))  # the 20 first names in order, of 30 at risk


@pytest.mark.parametrize(
    ("state", "predictions", "unpredicted"),
    [
        pytest.param(
            _state([], ["EAST-PC000002", "EAST-PC000004"]),
            _predicted(("EAST-PC000002", "EAST-PC000004", "EAST-PC000006"), 3),
            [],
            id="offline-as-listed-one-came-back",
        ),
        pytest.param(
            _state([], ["EAST-PC000002", "EAST-PC000003"]),
            _predicted(("EAST-PC000002", "EAST-PC000004"), 2),
            ["EAST-PC000003"],
            id="full-list-a-name-missing",
        ),
        pytest.param(
            _state(["EAST-PC000004"], []),
            _predicted(("EAST-PC000002",), 1),
            ["EAST-PC000004"],
            id="orphaned-not-listed",
        ),
        pytest.param(
            _state([], [*FIRST, "EAST-PC000051", "EAST-PC000057"]),
            _predicted(FIRST, 30),
            [],
            id="cut-list-names-beyond-its-reach-are-counted",
        ),
        pytest.param(
            _state([], [*FIRST[:5], "EAST-PC000003"]),
            _predicted(FIRST, 30),
            ["EAST-PC000003"],
            id="cut-list-a-name-within-its-reach-missing",
        ),
        pytest.param(
            _state([], [f"EAST-PC{n:06d}" for n in range(100, 131)]),
            _predicted(FIRST, 30),
            ["1 more than the 30 counted at risk"],
            id="cut-list-more-than-counted",
        ),
    ],
)
def test_every_client_left_behind_must_have_been_predicted(
    state: dict[str, Any], predictions: Predictions, unpredicted: list[str]
) -> None:
    truth = check_ground_truth(state, {"sepm-east": NEW}, predictions)
    assert truth.unpredicted["sepm-east"] == unpredicted
    assert truth.ok is (not unpredicted)


def test_a_port_still_on_the_old_certificate_fails_the_ground_truth() -> None:
    truth = check_ground_truth(_state([], [], served=OLD), {"sepm-east": NEW}, _predicted((), 0))
    assert truth.served_ok == {"sepm-east": False} and not truth.ok


def test_a_client_that_came_back_before_the_swap_is_named_as_such() -> None:
    truth = check_ground_truth(
        _state([], ["EAST-PC000002"]), {"sepm-east": NEW}, _predicted(("EAST-PC000002", "EAST-PC000009"), 2)
    )
    assert truth.predicted_returned == {"sepm-east": ["EAST-PC000009"]}
    assert truth.offline_untrusting == {"sepm-east": ["EAST-PC000002"]}


@pytest.mark.parametrize(
    ("groups", "problems"),
    [
        (GROUPS, []),
        (
            [{"name": "My Company", "secure_communications": False, "list": ORIGINAL}],
            ["My Company does not verify"],
        ),
        (
            [{"name": "My Company", "secure_communications": True, "list": f"{ORIGINAL} (HTTP)"}],
            [f"My Company is on {ORIGINAL} (HTTP)"],
        ),
    ],
    ids=["put-back", "verification-off", "still-on-the-http-list"],
)
def test_the_end_state_must_be_verification_on_and_the_original_list(
    groups: list[dict[str, Any]], problems: list[str]
) -> None:
    truth = check_ground_truth(
        _state([], [], groups=groups), {"sepm-east": NEW}, _predicted((), 0), original_list=ORIGINAL
    )
    assert truth.end_state == {"sepm-east": problems}
    assert truth.ok is (not problems)


def test_clients_not_back_since_the_swap_are_predicted_too() -> None:
    predictions = _predicted(("EAST-PC000002",), 1)
    fetching = replace(
        _waiting("sepm-east", at_risk=("EAST-PC000008",), count=1),
        phase=Phase.FETCHING_CERTIFICATE,
        facts=Facts(verification_off_at=T0, certificate_changed_at=T0, certificate_served_at=T0),
    )
    predictions.update([fetching])
    assert predictions.at_risk == {"sepm-east": ("EAST-PC000002", "EAST-PC000008")}
    assert predictions.by_wait("sepm-east") == {"before the swap": 1, "before verification": 1}
    assert fetching.observed is not None
    back = replace(fetching.observed, at_risk_count=0, at_risk_names=())
    predictions.update([replace(fetching, phase=Phase.ENABLING_VERIFICATION, observed=back)])  # 5a
    assert predictions.by_wait("sepm-east")["before verification"] == 1, "the list at the end of 4b stands"
    truth = check_ground_truth(_state(["EAST-PC000008"], []), {"sepm-east": NEW}, predictions)
    assert truth.unpredicted == {"sepm-east": []}


def test_predictions_are_taken_before_the_swap_only() -> None:
    predictions = _predicted(("EAST-PC000002",), 1)
    swapped = replace(
        _waiting("sepm-east", at_risk=(), count=0),
        phase=Phase.WAITING_VERIFIED,
        facts=Facts(verification_on_at=T0, certificate_changed_at=T0 + timedelta(hours=1)),
    )
    predictions.update([swapped])
    assert predictions.counts == {"sepm-east": 1} and predictions.at_risk == {"sepm-east": ("EAST-PC000002",)}
