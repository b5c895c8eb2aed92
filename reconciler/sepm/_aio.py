"""Small asyncio helpers."""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["discard"]


def discard(task: asyncio.Future[Any]) -> None:
    """Drop a task nobody will await, without leaving an unretrieved exception behind."""
    if task.done():
        if not task.cancelled():
            task.exception()
        return
    task.cancel()
    task.add_done_callback(lambda t: None if t.cancelled() else t.exception())
