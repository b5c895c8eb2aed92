"""The status page: what it shows for each server, and that every value is escaped (no script can run)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

from reconciler.core.actions import ActionKind, Performer
from reconciler.core.events import Event, EventKind
from reconciler.core.observation import AtRiskClient
from reconciler.core.observed import AckSample
from reconciler.core.procedure import Phase
from reconciler.core.record import (
    Facts,
    ObservedSummary,
    PendingAction,
    Request,
    RolloutRecord,
    Stall,
    new_record,
)
from reconciler.daemon.page import ServerInfo, render_page
from reconciler.daemon.specwatch import SpecsStatus
from reconciler.daemon.state import DaemonState, Role
from reconciler.views import Policy, at_risk_csv

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
EVIL = '<script>document.body.dataset.pwned="1"</script>'
QUOTE = '" onmouseover="alert(1)'


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    return page


def _state(role: Role = Role.LEADER, errors: list[str] | None = None) -> DaemonState:
    return DaemonState(
        holder="host:1",
        specs=SpecsStatus(path="specs", revision="abc123", valid=not errors, errors=errors or []),
        started_at=T0,
        lease_period=10,
        watch_period=5,
        role=role,
        role_reason=f"another daemon holds the lease {QUOTE}",
    )


def _waiting() -> RolloutRecord:
    base = new_record("sepm-east", T0)
    return replace(
        base,
        phase=Phase.WAITING_UNVERIFIED,
        rollout_id="r-1",
        reason=f"waiting for clients {EVIL}",
        desired_fingerprint="sha256:" + "b2" * 32,
        facts=Facts(verification_off_at=T0),
        observed=ObservedSummary(
            observed_at=T0,
            api_reachable=True,
            fingerprints={"clients": "sha256:" + "a1" * 32, "console": "sha256:" + "a1" * 32, "api": None},
            eligible=1900,
            acknowledged=1834,
            ack_ratio=1834 / 1900,
            at_risk_count=66,
            at_risk_names=("LAPTOP-1", f"{EVIL}-PC"),
        ),
        pending_action=PendingAction(
            ActionKind.BREAK_REPLICATION, Performer.MANUAL, 1, "break", f"delete the partner {EVIL}"
        ),
    )


def _stalled() -> RolloutRecord:
    base = new_record("sepm-west", T0)
    return replace(
        base,
        phase=Phase.STALLED,
        stalled_from=Phase.WAITING_VERIFIED,
        reason="stalled",
        stall=Stall("max_soak", "too long", f"re-home them {EVIL}", T0),
        suspension=Request(by=f"ops {EVIL}", at=T0, reason=EVIL),
    )


def test_each_server_shows_its_step_why_and_client_progress() -> None:
    html = render_page(
        _state(),
        now=T0,
        records=[_waiting(), _stalled()],
        events=[],
        servers={
            "sepm-east": ServerInfo("Site East", "https://east:8446/sepm/api/v1", "enforce"),
            "sepm-west": ServerInfo("Site West", "https://west:8446/sepm/api/v1", "enforce"),
        },
    )
    page = _parse(html)
    rows = {a["data-server"]: a for t, a in page.tags if t == "article"}
    assert rows["sepm-east"]["data-step"] == "3" and rows["sepm-east"]["data-phase"] == "waiting_unverified"
    assert rows["sepm-west"]["data-step"] == "6" and rows["sepm-west"]["data-phase"] == "stalled"
    bars = [a for t, a in page.tags if a.get("role") == "progressbar"]
    assert [(b["aria-valuenow"], b["aria-valuemax"]) for b in bars] == [("1834", "1900")]
    text = "".join(page.text)
    assert "1,834 / 1,900 eligible clients acknowledged (96.5%)" in text
    assert "66 clients at risk (64 not listed)" in text and "LAPTOP-1" in text  # before the swap, by name
    assert "stalled in 6 · wait for clients (verification on)" in text and "re-home them" in text
    assert "suspended" in text  # a suspension is shown first, whatever the phase
    assert ("meta", {"http-equiv": "refresh", "content": "10"}) in page.tags


def test_every_value_is_escaped_and_no_script_or_handler_can_appear() -> None:
    events = [Event(at=T0, server="sepm-east", kind=EventKind.SUSPENDED, reason=EVIL, actor=EVIL)]
    html = render_page(
        _state(Role.STANDBY, errors=[f"specs/east.yaml:3:1: metadata.name: {EVIL}"]),
        now=T0,
        records=[_waiting(), _stalled()],
        events=events,
        servers={"sepm-east": ServerInfo(f"Site {EVIL}", f"https://{QUOTE}", "enforce")},
    )
    page = _parse(html)
    assert "script" not in [t for t, _ in page.tags]
    assert all(not k.startswith("on") for _, attrs in page.tags for k in attrs)
    text = "".join(page.text)
    assert (
        text.count(EVIL) >= 8
    )  # reason, at-risk name, instructions, remedy, suspension, event, banner, site
    assert "Standby" in text and QUOTE in text
    assert "unmanaged" in text  # sepm-west is in the state but not in the specs in force


def test_an_unobserved_server_and_an_empty_state_still_render() -> None:
    html = render_page(
        _state(),
        now=T0,
        records=[],
        events=[],
        servers={"sepm-dmz": ServerInfo("Site DMZ", "https://dmz", "report")},
    )
    text = "".join(_parse(html).text)
    assert "not observed yet" in text and "no events yet" in text
    assert "0 of 1 servers in sync" in text


def test_outside_a_wait_no_acknowledgement_bar_is_shown() -> None:
    record = replace(_waiting(), phase=Phase.IN_SYNC, facts=Facts(), pending_action=None)
    html = render_page(
        _state(),
        now=T0 + timedelta(hours=1),
        records=[record],
        events=[],
        servers={"sepm-east": ServerInfo("Site East", "https://east", "enforce")},
    )
    page = _parse(html)
    assert not [a for _, a in page.tags if a.get("role") == "progressbar"]
    assert "at risk" not in "".join(page.text)


def _awaiting_approval() -> RolloutRecord:
    """sepm-east at the end of step 3: soaked, every client ready, step 4 waits for an approval."""
    off = T0 - timedelta(days=1)
    samples = tuple(
        AckSample(off, off + timedelta(hours=h), acknowledged=min(1900, 400 * h), eligible=1900)
        for h in range(7)
    )
    return replace(
        _waiting(),
        reason="step 4 needs an approval: sepm-reconciler approve sepm-east --step 4 --reason WHY",
        code="ApprovalMissing",
        pending_action=None,
        facts=Facts(verification_off_at=off, approvals_announced=(4,)),
        observed=replace(
            _waiting().observed,  # type: ignore[type-var]  # set above
            manager_time=T0,
            acknowledgements=samples,
            at_risk_count=2,
            at_risk_clients=(
                AtRiskClient("LAPTOP-1", T0 - timedelta(days=3), False),
                AtRiskClient("=HYPERLINK(1)", None, None),
            ),
        ),
    )


def _timeline() -> list[Event]:
    def move(source: Phase, dest: Phase, hours: int, actor: str = "reconciler") -> Event:
        return Event(
            at=T0 - timedelta(hours=hours),
            server="sepm-east",
            kind=EventKind.TRANSITION,
            reason="moved",
            actor=actor,
            rollout_id="r-1",
            from_phase=source,
            to_phase=dest,
            details={"code": "Moved"},
        )

    return [
        move(Phase.IN_SYNC, Phase.BREAKING_REPLICATION, 30),
        move(Phase.BREAKING_REPLICATION, Phase.DISABLING_VERIFICATION, 29),
        Event(
            at=T0 - timedelta(hours=28, minutes=30),
            server="sepm-east",
            kind=EventKind.APPROVAL,
            reason="step 4 approved",
            actor="alice",
            rollout_id="r-1",
            details={"step": 4},
        ),
        move(Phase.DISABLING_VERIFICATION, Phase.WAITING_UNVERIFIED, 28),
    ]


def test_the_page_says_first_what_needs_a_person_with_the_command_to_copy() -> None:
    html = render_page(
        _state(),
        now=T0,
        records=[_awaiting_approval(), _stalled()],
        events=[],
        servers={
            "sepm-east": ServerInfo("Site East", "https://east:8446/sepm/api/v1", "enforce"),
            "sepm-west": ServerInfo("Site West", "https://west:8446/sepm/api/v1", "enforce"),
        },
        state_url="sqlite:////var/lib/sepm-reconciler/state.db",
    )
    page = _parse(html)
    items = {a["data-server"]: a["data-code"] for t, a in page.tags if t == "li" and "data-code" in a}
    assert items == {"sepm-east": "ApprovalMissing", "sepm-west": "max_soak"}
    text = "".join(page.text)
    assert text.index("Needs you (2)") < text.index("Servers")  # first thing on the page
    assert (
        'sepm-reconciler approve sepm-east --step 4 --reason "WHY" --state sqlite:////var/lib/sepm-reconciler/state.db'
        in text
    )
    assert 'sepm-reconciler resume sepm-west --reason "WHY"' in text


def test_each_server_shows_its_timeline_its_acknowledgements_over_time_and_every_client_at_risk() -> None:
    html = render_page(
        _state(),
        now=T0,
        records=[_awaiting_approval()],
        events=[],
        servers={
            "sepm-east": ServerInfo(
                "Site East",
                "https://east:8446/sepm/api/v1",
                "enforce",
                Policy(timedelta(hours=24), timedelta(days=2), 1.0),
            )
        },
        server_events={"sepm-east": _timeline()},
    )
    page = _parse(html)
    text = "".join(page.text)
    assert "3 · wait for clients (verification off)" in text and "step 4 approved by alice" in text
    svgs = [a for t, a in page.tags if t == "svg"]
    assert len(svgs) == 1 and "acknowledged / eligible clients over time" in svgs[0]["aria-label"]
    assert "minSoak 1 day" in text and "maxSoak 2 days" in text and "minAckRatio 100%" in text
    assert "2 clients at risk" in text and "LAPTOP-1" in text and "3 days" in text
    links = [a for t, a in page.tags if t == "a" and a.get("download")]
    assert links == [{"href": "servers/sepm-east/at-risk.csv", "download": "sepm-east-at-risk.csv"}]


def test_the_at_risk_csv_lists_every_client_and_defuses_formulas() -> None:
    csv = at_risk_csv(_awaiting_approval())
    assert csv.splitlines() == [
        "name,last_seen_utc,unseen_hours,online",
        "LAPTOP-1,2026-11-28T08:00:00Z,72.0,no",
        "'=HYPERLINK(1),,,",
    ]


def _manual_list_switch() -> RolloutRecord:
    base = new_record("sepm-east", T0)
    confirm = "sepm-reconciler approve sepm-east --step 2 --reason WHY"
    return replace(
        base,
        phase=Phase.SWITCHING_TO_HTTP_LIST,
        rollout_id="r-2",
        reason="step 2a: waiting for the HTTP list on every group",
        desired_fingerprint="sha256:" + "b2" * 32,
        pending_action=PendingAction(
            ActionKind.SWITCH_TO_HTTP_LIST,
            Performer.MANUAL,
            2,
            "assign the management server list Default Management Server List (HTTP) to every group and location",
            "In the SEPM console: Policies > Policy Components > Management Server Lists: right-click "
            "Default Management Server List (HTTP) > Assign, and assign it to all groups and locations. This "
            f"manager does not show a group's list through its API: once assigned, confirm with {confirm}",
        ),
    )


def test_a_manual_list_sub_step_needs_you_with_its_sub_step_and_the_command_that_confirms_it() -> None:
    html = render_page(
        _state(),
        now=T0,
        records=[_manual_list_switch()],
        events=[],
        servers={"sepm-east": ServerInfo("Site East", "https://east:8446/sepm/api/v1", "enforce")},
        state_url=None,
    )
    page = _parse(html)
    items = {a["data-server"]: a["data-code"] for t, a in page.tags if t == "li" and "data-code" in a}
    assert items == {"sepm-east": "ManualStepPending"}
    text = "".join(page.text)
    assert "step 2a is yours to do by hand" in text
    assert 'sepm-reconciler approve sepm-east --step 2 --reason "WHY"' in text  # to copy, quoted
    assert "Management Server Lists" in text


def test_a_list_sub_step_a_manager_reads_back_needs_only_the_console() -> None:
    record = _manual_list_switch()
    assert record.pending_action is not None
    shown = replace(
        record,
        pending_action=replace(
            record.pending_action, instructions=record.pending_action.instructions.split(" This manager")[0]
        ),
    )
    html = render_page(
        _state(),
        now=T0,
        records=[shown],
        events=[],
        servers={"sepm-east": ServerInfo("Site East", "https://east:8446/sepm/api/v1", "enforce")},
        state_url=None,
    )
    text = "".join(_parse(html).text)
    assert "step 2a is yours to do by hand" in text
    assert "approve sepm-east --step 2" not in text  # the reconciler reads the list back: nothing to confirm
