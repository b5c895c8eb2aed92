"""Structured logs: one JSON object (or one text line) per record, fields from ``extra``, and no secret ever."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from reconciler.daemon.logs import configure_logging, redact_value
from tests.daemon.conftest import Receiver


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    levels = {n: logging.getLogger(n).level for n in ("httpx", "httpcore", "transitions", "uvicorn")}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, value in levels.items():
        logging.getLogger(name).setLevel(value)


def test_json_lines_carry_the_structured_fields(restore_logging: None) -> None:
    stream = io.StringIO()
    configure_logging("json", stream=stream)
    logging.getLogger("reconciler.daemon").info(
        "tick %s",
        "ok",
        extra={"server": "sepm-east", "step": 3, "next_check_at": datetime(2026, 12, 1, tzinfo=UTC)},
    )
    line = json.loads(stream.getvalue())
    assert line["message"] == "tick ok" and line["level"] == "info" and line["logger"] == "reconciler.daemon"
    assert line["server"] == "sepm-east" and line["step"] == 3
    assert line["next_check_at"] == "2026-12-01T00:00:00+00:00"
    assert line["time"].endswith("+00:00")


def test_text_lines_put_fields_after_the_message(restore_logging: None) -> None:
    stream = io.StringIO()
    configure_logging("text", stream=stream)
    logging.getLogger("reconciler.daemon").warning("standby", extra={"holder": "host:1"})
    text = stream.getvalue()
    assert ' WARNING reconciler.daemon: standby holder="host:1"' in text


def test_a_registered_secret_never_reaches_a_log_line(restore_logging: None) -> None:
    stream = io.StringIO()
    configure_logging("json", stream=stream)
    secret = "https://hooks.slack.com/services/T1/B2/s3cr3tPath"
    redact_value(secret)
    log = logging.getLogger("reconciler.test")
    log.error("posting to %s failed", secret, extra={"url": secret})
    try:
        raise RuntimeError(f"connection to {secret} reset")
    except RuntimeError:
        log.exception("boom")
    assert "s3cr3tPath" not in stream.getvalue()
    assert stream.getvalue().count("***") >= 3


def test_httpx_request_lines_with_urls_are_not_logged(restore_logging: None, receiver: Receiver) -> None:
    stream = io.StringIO()
    configure_logging("text", stream=stream)
    httpx.post(receiver.url + "/webhook/abcSECRETdef", json={"text": "x"}, timeout=5)
    assert "abcSECRETdef" not in stream.getvalue()
