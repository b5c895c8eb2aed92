"""Webhook notifications on the events people act on (Slack- and Teams-compatible JSON).

What is notified (:class:`Topic`), from the event log:

* ``drift_detected`` — a server in sync (or never seen) is found to present another certificate than declared;
* ``step_changed`` — a rollout entered another of the seven steps (or rolled back);
* ``approval_needed`` — a step waits for ``sepm-reconciler approve``;
* ``stalled`` — a rollout needs a human (the reason and the remedy);
* ``rollout_done`` — a server is back in sync after a rollout;
* ``specs_invalid`` — a spec commit was refused (the previous valid specs stay in force).

One payload fits both tools: ``text`` (what every incoming webhook shows), Slack ``blocks``, and the fields of a
Teams ``MessageCard`` (``@type``, ``summary``, ``sections`` with ``facts``); each tool ignores the other's keys.
``code`` (top level, and a "Code" fact) is the stable code of the reason (docs/procedure.md), for routing rules.

The URL authorises posting, so it is a secret: it comes from an environment variable, is never logged (it is
registered with the log redactor, and errors are reported by status code or exception class only), and never
leaves this module. Delivery runs in a background task behind a bounded queue: a slow or failing webhook never
delays a tick; failures are logged and counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

import httpx

from reconciler.core import wording
from reconciler.core.events import Event, EventKind
from reconciler.core.phase import Phase
from reconciler.core.procedure.table import STANDARD
from reconciler.core.sentences import approve_command
from reconciler.daemon.logs import redact_value

__all__ = ["Notification", "Topic", "WebhookNotifier", "notification_for", "payload", "specs_invalid"]

log = logging.getLogger("reconciler.daemon.notify")


class Topic(StrEnum):
    DRIFT_DETECTED = "drift_detected"
    STEP_CHANGED = "step_changed"
    APPROVAL_NEEDED = "approval_needed"
    STALLED = "stalled"
    ROLLOUT_DONE = "rollout_done"
    SPECS_INVALID = "specs_invalid"


_COLOURS = {  # Teams themeColor, and an emoji for the plain text
    Topic.DRIFT_DETECTED: ("E3A008", ":warning:"),
    Topic.STEP_CHANGED: ("1C64F2", ":arrows_counterclockwise:"),
    Topic.APPROVAL_NEEDED: ("9061F9", ":raised_hand:"),
    Topic.STALLED: ("E02424", ":rotating_light:"),
    Topic.ROLLOUT_DONE: ("0E9F6E", ":white_check_mark:"),
    Topic.SPECS_INVALID: ("E02424", ":x:"),
}


@dataclass(frozen=True, slots=True)
class Notification:
    topic: Topic
    title: str  # one line
    message: str  # the reason, as the status shows it
    at: datetime
    server: str | None = None
    facts: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    code: str | None = None  # the stable code of the reason (docs/procedure.md)


def _step_label(phase: Phase | None) -> str:
    if phase is None:
        return "?"
    step = STANDARD.number_of(phase)
    return f"step {step}/{STANDARD.step_count}" if step else phase.value.replace("_", " ")


def notification_for(event: Event) -> Notification | None:
    """The notification an event deserves, or None (most events are not worth a message)."""
    base: dict[str, Any] = {
        "at": event.at,
        "server": event.server,
        "message": event.reason,
        "code": event.code,
    }
    facts: list[tuple[str, str]] = [("Server", event.server)]
    if event.rollout_id:
        facts.append(("Rollout", event.rollout_id))
    if event.code:
        facts.append(("Code", event.code))
    if event.kind is EventKind.APPROVAL_NEEDED:
        step = event.details.get("step")
        facts.append(("Approve with", approve_command(event.server, step if isinstance(step, int) else "N")))
        return Notification(
            Topic.APPROVAL_NEEDED,
            f"{event.server}: step {step} needs an approval",
            **base,
            facts=tuple(facts),
        )
    if event.kind is not EventKind.TRANSITION or event.from_phase == event.to_phase:
        return None
    source, dest = event.from_phase, event.to_phase
    if dest is None:
        return None
    facts.append(("Change", f"{_step_label(source)} → {_step_label(dest)}"))
    if dest is Phase.STALLED:
        remedy = event.details.get("remedy")
        if isinstance(remedy, str) and remedy:
            facts.append(("Remedy", remedy))
        return Notification(
            Topic.STALLED, f"{event.server}: rollout stalled, a person must act", **base, facts=tuple(facts)
        )
    if dest is Phase.IN_SYNC:
        if source is Phase.NEW:
            return None  # first observation: it already was in sync
        return Notification(Topic.ROLLOUT_DONE, f"{event.server}: in sync", **base, facts=tuple(facts))
    if source in (Phase.IN_SYNC, Phase.NEW, None) and (dest is Phase.DRIFTED or STANDARD.number_of(dest)):
        return Notification(
            Topic.DRIFT_DETECTED, f"{event.server}: drift detected", **base, facts=tuple(facts)
        )
    if STANDARD.number_of(dest) or dest is Phase.ROLLING_BACK:
        return Notification(
            Topic.STEP_CHANGED, f"{event.server}: now {_step_label(dest)}", **base, facts=tuple(facts)
        )
    return None


def specs_invalid(path: str, errors: list[str], at: datetime) -> Notification:
    shown = errors[:10]
    more = f"\n… and {len(errors) - len(shown)} more" if len(errors) > len(shown) else ""
    return Notification(
        Topic.SPECS_INVALID,
        f"spec commit refused: {wording.count(len(errors))} error{'s' if len(errors) != 1 else ''} in {path}",
        "\n".join(shown)
        + more
        + "\nThe previous valid specs stay in force; nothing acts on the invalid ones.",
        at,
    )


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def payload(n: Notification) -> dict[str, Any]:
    """The JSON body posted to the webhook (Slack blocks + Teams MessageCard + plain ``text``)."""
    colour, emoji = _COLOURS[n.topic]
    moment = wording.when(n.at)
    text = f"{emoji} {n.title}\n{n.message}"
    fields = [{"type": "mrkdwn", "text": f"*{_slack_escape(k)}*\n{_slack_escape(v)}"} for k, v in n.facts]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": n.title[:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": _slack_escape(n.message)[:3000]}},
    ]
    if fields:
        blocks.append({"type": "section", "fields": fields[:10]})
    blocks.append(
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": f"sepm-reconciler · {n.topic} · {moment}"}],
        }
    )
    return {
        "text": _slack_escape(text),
        "code": n.code,
        "blocks": blocks,
        "@type": "MessageCard",
        "@context": "https://schema.org/extensions",
        "summary": n.title,
        "themeColor": colour,
        "title": n.title,
        "sections": [
            {
                "activityTitle": n.title,
                "activitySubtitle": f"{n.topic} · {moment}",
                "text": n.message,
                "facts": [{"name": k, "value": v} for k, v in n.facts],
            }
        ],
    }


class _DropSecrets(logging.Filter):
    """Drops log records that quote one of the secrets it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(secret in message for secret in self.secrets)


_HTTPX_FILTER = _DropSecrets()
logging.getLogger("httpx").addFilter(_HTTPX_FILTER)


class WebhookNotifier:
    """Posts notifications to one webhook from a background task. ``url`` None disables it (``send`` is then a
    no-op). ``on_result(topic, delivered)`` is called after each delivery attempt (metrics)."""

    def __init__(
        self,
        url: str | None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 5.0,
        queue_size: int = 200,
        tries: int = 3,
        retry_delay: float = 1.0,
        on_result: Callable[[Topic, bool], None] | None = None,
    ) -> None:
        self._url = url or None
        if self._url:
            redact_value(self._url)
            # httpx logs each request's URL at INFO: drop those lines whatever the logging configuration
            _HTTPX_FILTER.secrets.add(self._url)
        self._transport = transport
        self._timeout = timeout
        self._queue: asyncio.Queue[Notification] = asyncio.Queue(maxsize=queue_size)
        self._tries = max(1, tries)
        self._retry_delay = retry_delay
        self._on_result = on_result
        self._worker: asyncio.Task[None] | None = None

    @property
    def enabled(self) -> bool:
        return self._url is not None

    def send(self, notification: Notification) -> None:
        """Queue ``notification``; never blocks, never raises (a full queue drops it, with a log line)."""
        if self._url is None:
            return
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._run(), name="webhook-notifier")
        try:
            self._queue.put_nowait(notification)
        except asyncio.QueueFull:
            log.warning("webhook queue full: notification dropped", extra={"topic": str(notification.topic)})
            self._result(notification.topic, delivered=False)

    def _result(self, topic: Topic, *, delivered: bool) -> None:
        if self._on_result is not None:
            self._on_result(topic, delivered)

    async def _post(self, client: httpx.AsyncClient, n: Notification) -> None:
        assert self._url is not None  # noqa: S101 - the worker only runs when a URL is set
        problem = ""
        for attempt in range(1, self._tries + 1):
            try:
                response = await client.post(self._url, json=payload(n))
            except httpx.HTTPError as exc:
                problem = f"{type(exc).__name__}"  # never str(exc): it may quote the URL
            else:
                if response.status_code < 300:
                    self._result(n.topic, delivered=True)
                    return
                problem = f"HTTP {response.status_code}"
                if response.status_code < 500 and response.status_code != 429:
                    break  # the webhook refuses it: retrying will not help
            if attempt < self._tries:
                await asyncio.sleep(self._retry_delay * attempt)
        log.warning(
            "webhook notification not delivered (%s after %d tries)",
            problem,
            attempt,
            extra={"topic": str(n.topic), "server": n.server},
        )
        self._result(n.topic, delivered=False)

    async def _run(self) -> None:
        async with httpx.AsyncClient(transport=self._transport, timeout=self._timeout) as client:
            while True:
                n = await self._queue.get()
                try:
                    await self._post(client, n)
                except Exception:  # a bug here must not kill the worker
                    log.exception("webhook notification failed unexpectedly", extra={"topic": str(n.topic)})
                finally:
                    self._queue.task_done()

    async def close(self, *, drain: float = 2.0) -> None:
        """Deliver what is queued (for up to ``drain`` seconds), then stop."""
        if self._worker is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), timeout=drain)
        self._worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._worker
        self._worker = None
