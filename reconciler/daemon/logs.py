"""Logging for the daemon: one line per record, JSON or text, with structured fields and no secrets.

Fields travel in ``extra`` (``log.info("tick done", extra={"server": "sepm-east-01", "phase": "in_sync"})``) and are
rendered as JSON keys or as ``key=value`` pairs after the message. Every rendered line passes through
:class:`Redactor`: the values registered with :func:`redact_value` (the webhook URL, say) are replaced by ``***``,
whatever logger wrote them — including third-party ones that quote a URL in an exception.

httpx logs every request at INFO with its full URL; its loggers are raised to WARNING here, so a webhook URL (whose
path is the secret) is never written even before redaction.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

__all__ = ["LogFormat", "Redactor", "configure_logging", "redact_value"]

LogFormat = Literal["json", "text"]

# Attributes every LogRecord has: anything else came in through ``extra``.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}


class Redactor:
    """The secret values to mask in every rendered line (thread-safe; values shorter than 6 characters are
    ignored, as masking them would garble ordinary words)."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._lock = threading.Lock()

    def add(self, value: str) -> None:
        if len(value) >= 6:
            with self._lock:
                self._values.add(value)

    def __call__(self, text: str) -> str:
        with self._lock:
            values = sorted(self._values, key=len, reverse=True)
        for value in values:
            text = text.replace(value, "***")
        return text


_REDACTOR = Redactor()


def redact_value(value: str) -> None:
    """Never write ``value`` in a log line from now on (it is replaced by ``***``)."""
    _REDACTOR.add(value)


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD and not k.startswith("_")}


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message", …fields, "exception"?}`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in _fields(record).items():
            data.setdefault(key, _plain(value))
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return _REDACTOR(json.dumps(data, ensure_ascii=False, separators=(",", ":")))


class TextFormatter(logging.Formatter):
    """``2026-12-01T08:00:00.123Z INFO reconciler.daemon: message key=value …``."""

    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        line = f"{moment} {record.levelname:<7} {record.name}: {record.getMessage()}"
        fields = _fields(record)
        if fields:
            line += " " + " ".join(
                f"{k}={json.dumps(_plain(v), ensure_ascii=False)}" for k, v in fields.items()
            )
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return _REDACTOR(line)


def configure_logging(
    log_format: LogFormat, *, level: int = logging.INFO, stream: TextIO | None = None
) -> logging.Handler:
    """Send every log record of the process to ``stream`` (stderr) in ``log_format``; returns the handler."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # Chatty libraries: httpx, apprise and urllib3 would log every URL (notification URLs are secrets; what a URL
    # holds is redacted anyway), transitions every state callback.
    for noisy in (
        "httpx",
        "httpcore",
        "apprise",
        "urllib3",
        "requests_oauthlib",
        "markdown",
        "apscheduler",
        "transitions",
        "uvicorn",
        "uvicorn.error",
        "uvicorn.access",
    ):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    return handler
