"""A daemon run in the test's event loop (the real run loop, endpoints and SQLite state) and polling helpers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx

from reconciler.daemon.config import DaemonConfig
from reconciler.daemon.loop import Daemon


async def eventually(check: Callable[[], Awaitable[Any]], what: str, within: float = 60) -> Any:
    """Poll ``check`` until it returns something truthy; fail naming ``what`` after ``within`` seconds (a generous
    bound: the test waits on a condition, not on time)."""
    try:
        async with asyncio.timeout(within):
            while not (result := await check()):  # noqa: ASYNC110 - the condition is another task's or process's
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"timed out after {within:g} s waiting for {what}") from None
    return result


@asynccontextmanager
async def running_daemon(config: DaemonConfig) -> AsyncIterator[tuple[Daemon, httpx.AsyncClient]]:
    """Start ``Daemon(config)`` (give it ``port=0``), yield it with a client of its endpoints, stop it cleanly."""
    daemon = Daemon(config)
    running = asyncio.create_task(daemon.run())
    try:
        while daemon.port is None:
            assert not running.done(), f"the daemon did not start: {running.result()}"
            await asyncio.sleep(0.02)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{daemon.port}", timeout=30) as http:
            yield daemon, http
            assert not running.done(), "the daemon stopped by itself"
    finally:
        daemon.request_stop()
        assert await asyncio.wait_for(running, 60) == 0
