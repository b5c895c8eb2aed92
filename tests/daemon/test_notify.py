"""Notifications: which events deserve one, the Slack/Teams payload, and delivery that never blocks nor leaks."""

from __future__ import annotations

import asyncio
import io
import logging
import socket
from datetime import UTC, datetime
from pathlib import Path

import pytest

from reconciler.core.events import Event, EventKind
from reconciler.core.procedure import Phase
from reconciler.daemon.logs import configure_logging
from reconciler.daemon.notify import (
    AppriseNotifier,
    Notification,
    Topic,
    WebhookNotifier,
    manual_step_due,
    notification_for,
    payload,
    plain_text,
    specs_invalid,
)
from tests.daemon.conftest import Receiver

AT = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def _move(source: Phase | None, dest: Phase, **details: str | int) -> Event:
    return Event(
        at=AT,
        server="sepm-east",
        kind=EventKind.TRANSITION,
        reason="because",
        rollout_id="r-1",
        from_phase=source,
        to_phase=dest,
        details=details,
    )


@pytest.mark.parametrize(
    ("event", "topic"),
    [
        pytest.param(_move(Phase.IN_SYNC, Phase.DRIFTED), Topic.DRIFT_DETECTED, id="in-sync-to-drifted"),
        pytest.param(
            _move(Phase.NEW, Phase.BREAKING_REPLICATION), Topic.DRIFT_DETECTED, id="first-look-drift"
        ),
        pytest.param(
            _move(Phase.WAITING_UNVERIFIED, Phase.UPDATING_CERTIFICATE), Topic.STEP_CHANGED, id="step-3-to-4"
        ),
        pytest.param(
            _move(Phase.DRIFTED, Phase.BREAKING_REPLICATION), Topic.STEP_CHANGED, id="held-to-step-1"
        ),
        pytest.param(_move(Phase.WAITING_UNVERIFIED, Phase.ROLLING_BACK), Topic.STEP_CHANGED, id="rollback"),
        pytest.param(
            _move(Phase.WAITING_VERIFIED, Phase.STALLED, remedy="re-home"), Topic.STALLED, id="stalled"
        ),
        pytest.param(_move(Phase.RESTORING_REPLICATION, Phase.IN_SYNC), Topic.ROLLOUT_DONE, id="done"),
        pytest.param(_move(Phase.NEW, Phase.IN_SYNC), None, id="first-look-in-sync"),
        pytest.param(_move(Phase.WAITING_VERIFIED, Phase.WAITING_VERIFIED), None, id="no-move"),
        pytest.param(
            Event(
                at=AT,
                server="sepm-east",
                kind=EventKind.APPROVAL_NEEDED,
                reason="step 4 waits",
                details={"step": 4},
            ),
            Topic.APPROVAL_NEEDED,
            id="approval-needed",
        ),
        pytest.param(
            Event(at=AT, server="sepm-east", kind=EventKind.ATTEMPT_STARTED, reason="hook"),
            None,
            id="attempt",
        ),
    ],
)
def test_events_people_act_on_become_notifications(event: Event, topic: Topic | None) -> None:
    notification = notification_for(event)
    assert (notification.topic if notification else None) == topic


def test_a_stall_notification_carries_the_remedy_and_the_code() -> None:
    notification = notification_for(
        _move(Phase.WAITING_VERIFIED, Phase.STALLED, remedy="re-home the laptops", code="MaxSoakExceeded")
    )
    assert notification is not None
    assert ("Remedy", "re-home the laptops") in notification.facts
    assert ("Code", "MaxSoakExceeded") in notification.facts
    assert notification.code == "MaxSoakExceeded" and payload(notification)["code"] == "MaxSoakExceeded"


def test_an_approval_notification_says_how_to_approve() -> None:
    event = Event(
        at=AT, server="sepm-east", kind=EventKind.APPROVAL_NEEDED, reason="waits", details={"step": 4}
    )
    notification = notification_for(event)
    assert notification is not None
    assert (
        dict(notification.facts)["Approve with"] == "sepm-reconciler approve sepm-east --step 4 --reason WHY"
    )


def test_the_payload_fits_slack_and_teams_and_escapes_markup() -> None:
    body = payload(
        Notification(
            Topic.STALLED,
            "sepm-east: stalled",
            "<script>x</script> & more",
            AT,
            "sepm-east",
            (("Server", "sepm-east"),),
        )
    )
    assert body["text"].startswith(":rotating_light: sepm-east: stalled")
    assert "&lt;script&gt;x&lt;/script&gt; &amp; more" in body["text"]
    assert "<script>" not in str(body["blocks"])
    assert [b["type"] for b in body["blocks"]] == ["header", "section", "section", "context"]
    assert body["@type"] == "MessageCard" and body["summary"] == "sepm-east: stalled"
    assert body["sections"][0]["facts"] == [{"name": "Server", "value": "sepm-east"}]


def test_an_invalid_spec_commit_notification_lists_the_located_errors() -> None:
    errors = [f"specs/east.yaml:{n}:3: spec.x: unknown key" for n in range(12)]
    notification = specs_invalid("specs", errors, AT)
    assert notification.topic is Topic.SPECS_INVALID
    assert "specs/east.yaml:0:3" in notification.message and "… and 2 more" in notification.message
    assert "stay in force" in notification.message


async def test_notifications_are_delivered_to_the_webhook(receiver: Receiver) -> None:
    results: list[tuple[Topic, bool]] = []
    notifier = WebhookNotifier(
        receiver.url + "/services/T000/B000/XXXX", on_result=lambda t, ok: results.append((t, ok))
    )
    notifier.send(notification_for(_move(Phase.RESTORING_REPLICATION, Phase.IN_SYNC)))  # type: ignore[arg-type]  # known not None
    await notifier.close(drain=5)
    assert [path for path, _ in receiver.posts] == ["/services/T000/B000/XXXX"]
    assert receiver.posts[0][1]["text"].endswith("sepm-east: in sync\nbecause")
    assert results == [(Topic.ROLLOUT_DONE, True)]


async def test_a_failing_webhook_is_retried_then_logged_without_its_url(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.status = 503
    url = receiver.url + "/hooks/secret-token-Zq9"
    results: list[bool] = []
    notifier = WebhookNotifier(url, retry_delay=0.01, on_result=lambda _, ok: results.append(ok))
    with caplog.at_level(logging.INFO):
        notifier.send(specs_invalid("specs", ["x"], AT))
        await notifier.close(drain=5)
    assert len(receiver.posts) == 3
    assert results == [False]
    assert "HTTP 503" in caplog.text
    assert "secret-token-Zq9" not in caplog.text


async def test_an_unreachable_webhook_never_blocks_the_caller(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed when the block ends: connections are refused
    notifier = WebhookNotifier(f"http://127.0.0.1:{port}/hook-Secret", retry_delay=0.01, tries=2)
    loop = asyncio.get_running_loop()
    started = loop.time()
    for _ in range(500):  # more than the queue holds: the rest are dropped, never awaited
        notifier.send(specs_invalid("specs", ["x"], AT))
    assert (
        loop.time() - started < 30
    )  # send() never awaits: 500 calls cannot wait for 500 refused connections
    await notifier.close(drain=0.5)
    assert "hook-Secret" not in caplog.text
    assert "webhook queue full" in caplog.text


def test_without_a_url_nothing_is_sent() -> None:
    notifier = WebhookNotifier(None)
    assert not notifier.enabled
    notifier.send(specs_invalid("specs", ["x"], AT))  # no loop needed: a no-op


def test_a_manual_step_notification_says_what_to_do_and_carries_its_code() -> None:
    n = manual_step_due(
        "sepm-east", 4, "install certificate sha256:ab… and restart the SEPM services",
        "In the SEPM console of sepm-east: Admin > Servers > sepm-east > Manage Server Certificate > Update",
        "r-1", AT,
    )  # fmt: skip
    assert n.topic is Topic.MANUAL_STEP_DUE and n.code == "ManualStepPending"
    assert (
        n.title
        == "sepm-east: step 4 is yours to do by hand: install certificate sha256:ab… and restart the SEPM services"
    )
    assert "Manage Server Certificate" in n.message
    assert payload(n)["code"] == "ManualStepPending"
    assert "Code: ManualStepPending" in plain_text(n)


async def test_apprise_delivers_the_text_with_the_code_and_never_logs_the_url(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    host = receiver.url.removeprefix("http://")
    url = f"json://bot:S3cret-pw@{host}/notify/token-Qx7"  # the JSON plugin: user:password and a path
    results: list[tuple[Topic, bool]] = []
    notifier = AppriseNotifier([url], on_result=lambda t, ok: results.append((t, ok)))
    lines = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    configure_logging("text", level=logging.DEBUG, stream=lines)  # the daemon's own log output
    logging.getLogger("apprise").setLevel(logging.DEBUG)  # as chatty as it gets: it logs what it posts where
    try:
        notifier.send(notification_for(_move(Phase.WAITING_VERIFIED, Phase.STALLED, remedy="re-home", code="MaxSoakExceeded")))  # type: ignore[arg-type]  # fmt: skip
        await notifier.close(drain=20)
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    assert results == [(Topic.STALLED, True)]
    [(path, body)] = receiver.posts
    assert path == "/notify/token-Qx7"
    assert body["title"] == "sepm-east: rollout stalled, a person must act"
    assert "Code: MaxSoakExceeded" in body["message"] and "Remedy: re-home" in body["message"]
    logged = lines.getvalue()
    assert "apprise" in logged  # it did log (at debug), and
    assert "S3cret-pw" not in logged and "token-Qx7" not in logged  # nothing of the URL's secrets


def test_an_apprise_url_it_cannot_use_is_refused_without_quoting_it() -> None:
    with pytest.raises(ValueError, match="notification URL #2 is not one apprise understands") as refused:
        AppriseNotifier(["json://127.0.0.1:9/x", "nosuchservice://secret-token-9@host"])
    assert "secret-token-9" not in str(refused.value)


async def test_apprise_reads_a_configuration_file(receiver: Receiver, tmp_path: Path) -> None:
    config = tmp_path / "apprise.yml"
    config.write_text(
        f"urls:\n  - json://{receiver.url.removeprefix('http://')}/from-config\n", encoding="utf-8"
    )
    notifier = AppriseNotifier([], config=str(config))
    assert len(notifier) == 1
    notifier.send(specs_invalid("specs", ["east.yaml:3:1: kind: unknown"], AT))
    await notifier.close(drain=20)
    assert [path for path, _ in receiver.posts] == ["/from-config"]
    assert "east.yaml:3:1: kind: unknown" in receiver.posts[0][1]["message"]
