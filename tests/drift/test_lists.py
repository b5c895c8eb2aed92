"""The management server list checks: a skipped list switch is a warning in every report, with its reason; a managed
group on a ``NAME ~1`` copy of a declared list (replication kept both) is a finding naming both."""

from __future__ import annotations

import pytest

from reconciler.core.drift import DriftInput, Reason, Severity
from reconciler.core.drift.chain import evaluate
from reconciler.core.drift.lists import duplicate_lists, list_switch_skipped
from reconciler.core.procedure import Phase
from tests.drift.builders import NEW, OLD, check_findings, given, make_spec, ports, record, seen

HTTP = "Default Management Server List (HTTP)"
ORIGINAL = "Default Management Server List"
LISTS = {"http": HTTP, "original": ORIGINAL}
SKIP = {"skip": True, "reason": "every client has used the HTTP list since 2024"}
W = Severity.WARNING


def drifting(**overrides: object) -> DriftInput:
    """Every port on the old certificate, no rollout yet: a certificate change is ahead."""
    values: dict[str, object] = {"seen": seen(ports(OLD)), "record": record(Phase.DRIFTED)}
    values.update(overrides)
    return given(**values)


SKIPPED_CASES = [
    pytest.param(drifting(spec=make_spec(lists=SKIP)), [(Reason.LIST_SWITCH_SKIPPED, W)], (SKIP["reason"], "KB 187099", "every client counts at risk"), id="skipped"),
    pytest.param(given(spec=make_spec(lists=SKIP), seen=seen(ports(NEW))), [(Reason.LIST_SWITCH_SKIPPED, Severity.INFO)], (SKIP["reason"],), id="skipped-in-sync-is-info"),
    pytest.param(given(spec=make_spec(lists=LISTS)), [], (), id="lists-declared"),
    pytest.param(given(spec=make_spec()), [], (), id="not-configured"),
]  # fmt: skip


@pytest.mark.parametrize(("situation", "expected", "fragments"), SKIPPED_CASES)
def test_a_skipped_list_switch_is_a_warning_with_its_reason(
    situation: DriftInput, expected: list[tuple[Reason, Severity]], fragments: tuple[str, ...]
) -> None:
    check_findings(list_switch_skipped(situation), expected, fragments)


def _lists(**groups: str | None) -> dict[str, str | None]:
    return {f"My Company\\{name}": value for name, value in groups.items()}


DUPLICATE_CASES = [
    pytest.param(
        given(spec=make_spec(lists=LISTS), seen=seen(group_lists=_lists(Laptops=f"{ORIGINAL} ~1", Servers=ORIGINAL))),
        [(Reason.DUPLICATE_LIST, W)],
        ("My Company\\Laptops reads the management server list 'Default Management Server List ~1'", f"a duplicate of '{ORIGINAL}'", "create the HTTP copy on one site"),
        id="original-duplicated",
    ),
    pytest.param(
        given(spec=make_spec(lists=LISTS), seen=seen(group_lists=_lists(Laptops=f"{HTTP} ~2", Kiosks=f"{HTTP} ~2"))),
        [(Reason.DUPLICATE_LIST, W)],
        ("My Company\\Kiosks, My Company\\Laptops read", f"{HTTP} ~2"),
        id="http-copy-duplicated-twice",
    ),
    pytest.param(given(spec=make_spec(lists=LISTS), seen=seen(group_lists=_lists(Laptops="Branch list ~1"))), [], (), id="undeclared-list"),
    pytest.param(given(spec=make_spec(lists=LISTS), seen=seen(group_lists=_lists(Laptops=None))), [], (), id="lists-not-shown"),
    pytest.param(given(spec=make_spec(lists=SKIP), seen=seen(group_lists=_lists(Laptops=f"{ORIGINAL} ~1"))), [], (), id="skipped"),
]  # fmt: skip


@pytest.mark.parametrize(("situation", "expected", "fragments"), DUPLICATE_CASES)
def test_a_group_on_a_duplicate_of_a_declared_list_is_a_finding(
    situation: DriftInput, expected: list[tuple[Reason, Severity]], fragments: tuple[str, ...]
) -> None:
    check_findings(duplicate_lists(situation), expected, fragments)


def test_the_skip_is_in_every_report_and_a_warning_while_a_change_is_ahead() -> None:
    ahead = evaluate(drifting(spec=make_spec(lists=SKIP)))
    assert Reason.LIST_SWITCH_SKIPPED in [f.reason for f in ahead if f.severity is W]
    in_sync = evaluate(given(spec=make_spec(lists=SKIP), seen=seen(ports(NEW))))
    assert [f.severity for f in in_sync if f.reason is Reason.LIST_SWITCH_SKIPPED] == [Severity.INFO]
