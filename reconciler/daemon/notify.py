"""Notifications on the events people act on: through apprise (Slack, Teams, e-mail, Matrix, ntfy… — some 100
services, from URLs in the daemon's configuration) and the generic JSON webhook (Slack- and Teams-compatible).

What is notified (:class:`Topic`), from the event log and the ticks:

* ``drift_detected`` — a server in sync (or never seen) is found to present another certificate than declared;
* ``step_changed`` — a rollout entered another of the seven steps (or rolled back);
* ``approval_needed`` — a step waits for ``sepm-reconciler approve``;
* ``stalled`` — a rollout needs a human (the reason and the remedy);
* ``rollout_done`` — a server is back in sync after a rollout;
* ``specs_invalid`` — a spec commit was refused (the previous valid specs stay in force);
* ``manual_step_due`` — a manual step (1, 2a, 4a, 5b or 7) waits for an operator: what to do, from the instructions.

Every notification carries the stable code of its reason (docs/procedure.md): the webhook as ``code`` and a "Code"
fact, apprise in its text ("Code: ApprovalMissing").

One payload fits both tools: ``text`` (what every incoming webhook shows), Slack ``blocks``, and the fields of a
Teams ``MessageCard`` (``@type``, ``summary``, ``sections`` with ``facts``); each tool ignores the other's keys.
``code`` (top level, and a "Code" fact) is the stable code of the reason (docs/procedure.md), for routing rules.

The URLs authorise posting, so they are secrets: they come from an environment variable or a configuration file,
are never logged (registered with the log redactor; the log lines of httpx and apprise that quote one are dropped;
errors are reported by status code or exception class only), and never leave this module. Delivery runs in a
background task behind a bounded queue: a slow or failing service never delays a tick; failures are logged and
counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol
from urllib.parse import parse_qsl, quote, urlsplit

import httpx

from reconciler.core import wording
from reconciler.core.codes import Code
from reconciler.core.events import Event, EventKind
from reconciler.core.phase import Phase
from reconciler.core.procedure.table import STANDARD
from reconciler.core.sentences import approve_command
from reconciler.daemon.logs import redact_value

__all__ = [
    "AppriseNotifier",
    "Notification",
    "Notifier",
    "Notifiers",
    "Topic",
    "WebhookNotifier",
    "apprise_urls",
    "manual_step_due",
    "notification_for",
    "payload",
    "plain_text",
    "specs_invalid",
]

log = logging.getLogger("reconciler.daemon.notify")


class Topic(StrEnum):
    DRIFT_DETECTED = "drift_detected"
    STEP_CHANGED = "step_changed"
    APPROVAL_NEEDED = "approval_needed"
    STALLED = "stalled"
    ROLLOUT_DONE = "rollout_done"
    SPECS_INVALID = "specs_invalid"
    MANUAL_STEP_DUE = "manual_step_due"


_COLOURS = {  # Teams themeColor, and an emoji for the plain text
    Topic.DRIFT_DETECTED: ("E3A008", ":warning:"),
    Topic.STEP_CHANGED: ("1C64F2", ":arrows_counterclockwise:"),
    Topic.APPROVAL_NEEDED: ("9061F9", ":raised_hand:"),
    Topic.STALLED: ("E02424", ":rotating_light:"),
    Topic.ROLLOUT_DONE: ("0E9F6E", ":white_check_mark:"),
    Topic.SPECS_INVALID: ("E02424", ":x:"),
    Topic.MANUAL_STEP_DUE: ("9061F9", ":hammer_and_wrench:"),
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


def manual_step_due(
    server: str, step: int | str, summary: str, instructions: str, rollout_id: str | None, at: datetime
) -> Notification:
    """A manual step waits for an operator: the console instructions, and that the reconciler goes on by itself
    once it observes the result (or, for a list step on a manager that does not show lists, once the operator
    confirms it with the ``approve`` the instructions give). ``step`` is the sub-step where there is one (``"2a"``)."""
    facts: list[tuple[str, str]] = [("Server", server), ("Step", str(step))]
    if rollout_id:
        facts.append(("Rollout", rollout_id))
    facts += [
        ("Code", Code.MANUAL_STEP_PENDING.value),
        ("Then", "the reconciler goes on when it observes the result"),
    ]
    return Notification(
        Topic.MANUAL_STEP_DUE,
        f"{server}: step {step} is yours to do by hand: {summary}",
        instructions,
        at,
        server=server,
        facts=tuple(facts),
        code=Code.MANUAL_STEP_PENDING.value,
    )


def plain_text(n: Notification) -> str:
    """The body apprise sends: the message, then one "Name: value" line per fact (the code among them)."""
    lines = [n.message, ""] + [f"{k}: {v}" for k, v in n.facts]
    if n.code and not any(k == "Code" for k, _ in n.facts):
        lines.append(f"Code: {n.code}")
    lines.append(f"sepm-reconciler · {n.topic} · {wording.when(n.at)}")
    return "\n".join(lines)


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
logging.getLogger("apprise").addFilter(_HTTPX_FILTER)  # apprise logs what it posts where


class Notifier(Protocol):
    """Where notifications go. ``send`` never blocks and never raises."""

    @property
    def enabled(self) -> bool: ...

    def send(self, notification: Notification) -> None: ...

    async def close(self, *, drain: float = 2.0) -> None: ...


class Notifiers:
    """Every configured notifier, as one."""

    def __init__(self, *notifiers: Notifier) -> None:
        self._all = [n for n in notifiers if n.enabled]

    @property
    def enabled(self) -> bool:
        return bool(self._all)

    @property
    def channels(self) -> list[str]:
        return [type(n).__name__.removesuffix("Notifier").lower() for n in self._all]

    def send(self, notification: Notification) -> None:
        for notifier in self._all:
            notifier.send(notification)

    async def close(self, *, drain: float = 2.0) -> None:
        await asyncio.gather(*(n.close(drain=drain) for n in self._all))


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


# --- apprise -------------------------------------------------------------------------------------------------------

_APPRISE_TYPES = {
    Topic.STALLED: "failure",
    Topic.SPECS_INVALID: "failure",
    Topic.DRIFT_DETECTED: "warning",
    Topic.APPROVAL_NEEDED: "warning",
    Topic.MANUAL_STEP_DUE: "warning",
    Topic.ROLLOUT_DONE: "success",
    Topic.STEP_CHANGED: "info",
}


def _secret(url: str) -> None:
    """Never log ``url``, nor what in it may be a secret: its user and password, query values and the path
    segments that look like tokens (8 characters or more, with a digit or a capital) — apprise and urllib3 log URLs
    in pieces."""
    redact_value(url)
    _HTTPX_FILTER.secrets.add(url)
    parts = urlsplit(url)
    tokens = [
        segment
        for segment in parts.path.split("/")
        if len(segment) >= 8 and any(c.isdigit() or c.isupper() for c in segment)
    ]
    for piece in (parts.username, parts.password, *tokens, *(v for _, v in parse_qsl(parts.query))):
        if piece:
            redact_value(piece)  # (the redactor ignores values under 6 characters: they would garble words)
            redact_value(quote(piece, safe=""))


def apprise_urls(text: str) -> list[str]:
    """The apprise URLs of an environment variable's value: separated by whitespace or commas."""
    return [part for part in text.replace(",", " ").split() if part]


class AppriseNotifier:
    """Sends notifications through apprise to ``urls`` and/or the services of an apprise configuration file
    (``config``: its YAML or TEXT format, with tags). Raises ``ValueError`` (never quoting a URL) when a URL is not
    one apprise understands or the file cannot be used. ``on_result(topic, delivered)`` after each delivery."""

    def __init__(
        self,
        urls: list[str],
        *,
        config: str | None = None,
        queue_size: int = 200,
        timeout: float = 10.0,
        on_result: Callable[[Topic, bool], None] | None = None,
    ) -> None:
        import apprise  # imported on use: most daemons never notify through it

        self._apprise = apprise.Apprise()
        for index, url in enumerate(urls, start=1):
            _secret(url)
            if not self._apprise.add(url):
                raise ValueError(
                    f"notification URL #{index} is not one apprise understands (the URL is not shown: it may hold a "
                    "secret); see https://github.com/caronc/apprise/wiki for the URL of each service"
                )
        if config:
            loaded = apprise.AppriseConfig()
            if not loaded.add(config) or not self._apprise.add(loaded) or len(self._apprise) == len(urls):
                raise ValueError(f"the apprise configuration {config} names no service apprise can use")
            for server in self._apprise:
                _secret(str(server.url(privacy=False)))  # type: ignore[no-untyped-call]  # apprise: unannotated
        self._timeout = timeout
        self._on_result = on_result
        self._queue: asyncio.Queue[Notification] = asyncio.Queue(maxsize=queue_size)
        self._worker: asyncio.Task[None] | None = None

    @property
    def enabled(self) -> bool:
        return len(self._apprise) > 0

    def __len__(self) -> int:
        return len(self._apprise)

    def send(self, notification: Notification) -> None:
        if not self.enabled:
            return
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._run(), name="apprise-notifier")
        try:
            self._queue.put_nowait(notification)
        except asyncio.QueueFull:
            log.warning(
                "notification queue full: notification dropped", extra={"topic": str(notification.topic)}
            )
            if self._on_result is not None:
                self._on_result(notification.topic, False)

    def _deliver(self, n: Notification) -> bool:
        result = self._apprise.notify(
            body=plain_text(n), title=n.title, notify_type=_APPRISE_TYPES[n.topic], timeout=self._timeout
        )
        return bool(result)

    async def _run(self) -> None:
        while True:
            n = await self._queue.get()
            try:
                delivered = await asyncio.to_thread(self._deliver, n)
            except (
                Exception
            ) as exc:  # a plugin's bug must not kill the worker; never str(exc): it may quote a URL
                log.warning(
                    "apprise notification failed unexpectedly (%s)",
                    type(exc).__name__,
                    extra={"topic": str(n.topic)},
                )
                delivered = False
            if not delivered:
                log.warning(
                    "notification not delivered to every apprise service", extra={"topic": str(n.topic)}
                )
            if self._on_result is not None:
                self._on_result(n.topic, delivered)
            self._queue.task_done()

    async def close(self, *, drain: float = 2.0) -> None:
        if self._worker is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), timeout=drain)
        self._worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._worker
        self._worker = None
