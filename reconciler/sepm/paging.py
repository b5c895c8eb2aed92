"""Paging through SEPM lists as a stream: ``computers`` and ``groups`` one page at a time.

SEPM pages Spring-style: ``pageIndex`` starts at **1**, ``pageSize`` is the page length, and every answer is a page
object (``content``, ``lastPage``, ``totalPages``, ``totalElements``, ``numberOfElements``…). :func:`iter_pages`
yields one :class:`Page` at a time and fetches the next one while the caller works on the current one, so at most
two pages are held in memory whatever the size of the fleet.

A page that contradicts itself (fewer items than ``numberOfElements``, an empty page before the announced end) is a
:class:`~reconciler.errors.ProtocolError`: a scan that silently missed clients would lie about acknowledgements.

Page sizes: the first page is asked for at ``page_size`` (``spec.server.api.pageSize``), or at the size the manager
accepted before (remembered on the client, :attr:`SepmClient.page_size`); a 400 falls back through
:data:`PAGE_SIZES`, and a size the manager echoes smaller than asked (a silent cap) is remembered too. Each page
carries the manager's time of its answer (the ``Date`` header), which a scan uses to tell which records were created
while it read (:mod:`reconciler.sepm.scan`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from reconciler.errors import ProtocolError
from reconciler.sepm._aio import discard
from reconciler.sepm._clock import parse_http_date
from reconciler.sepm.client import ApiError, SepmClient

__all__ = ["PAGE_SIZES", "Page", "fetch_page", "first_page", "iter_items", "iter_pages"]

_SEND_TURNS = 6  # loop turns for a prefetch to reach the socket: 4 measured (httpx 0.28, pooled connection)

PAGE_SIZES: tuple[int, ...] = (1000, 500, 250, 100, 50, 20)
"""Page sizes tried, largest first, when the manager refuses one with HTTP 400."""


@dataclass(frozen=True, slots=True)
class Page:
    index: int  # the 1-based pageIndex that was asked for
    size: int  # the pageSize that was asked for
    content: list[dict[str, Any]]
    last: bool
    total_elements: int | None
    total_pages: int | None
    server_time: datetime | None = None  # the Date header of the answer (the manager's clock, whole seconds)
    echoed_size: int | None = None  # the page size the manager says it used


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _parse_page(path: str, index: int, size: int, data: Any, server_time: datetime | None = None) -> Page:
    where = f"GET {path} page {index}"
    if not isinstance(data, dict) or not isinstance(data.get("content"), list):
        raise ProtocolError(f"{where}: expected a page object with a content list, got {type(data).__name__}")
    content = data["content"]
    if not all(isinstance(item, dict) for item in content):
        raise ProtocolError(f"{where}: content holds something other than objects")
    declared = _int(data.get("numberOfElements"))
    if declared is not None and declared != len(content):
        raise ProtocolError(
            f"{where} is truncated: numberOfElements says {declared}, content holds {len(content)}"
        )
    total_pages = _int(data.get("totalPages"))
    last_flag = data.get("lastPage")
    if isinstance(last_flag, bool):
        last = last_flag
    elif total_pages is not None:
        last = index >= total_pages
    else:
        last = len(content) < size
    return Page(
        index=index,
        size=size,
        content=content,
        last=last or not content,
        total_elements=_int(data.get("totalElements")),
        total_pages=total_pages,
        server_time=server_time,
        echoed_size=_int(data.get("size")),
    )


async def fetch_page(client: SepmClient, path: str, params: Mapping[str, Any], index: int, size: int) -> Page:
    """Page ``index`` of ``GET path`` at ``size`` (no fallback)."""
    query = {**params, "pageIndex": index, "pageSize": size}
    response = await client.request("GET", path, params=query)
    data = client.json(response, "GET", path)
    return _parse_page(path, index, size, data, parse_http_date(response.headers.get("date")))


async def first_page(client: SepmClient, path: str, params: Mapping[str, Any], page_size: int) -> Page:
    """Page 1 at the largest size the manager accepts, up to ``page_size`` (see the module docstring)."""
    start = min(page_size, client.page_size) if client.page_size else page_size
    sizes = [start, *(s for s in PAGE_SIZES if s < start)]
    for size in sizes:
        try:
            page = await fetch_page(client, path, params, 1, size)
        except ApiError as exc:
            if exc.status != 400 or size == sizes[-1]:
                raise
            continue
        echoed = page.echoed_size
        client.page_size = echoed if echoed is not None and 0 < echoed < size else size
        return page
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


async def iter_pages(
    client: SepmClient,
    path: str,
    *,
    params: Mapping[str, Any] | None = None,
    page_size: int = 1000,
    prefetch: bool = True,
    start: int = 1,
) -> AsyncGenerator[Page, None]:
    """Yield the pages of ``GET path`` from ``pageIndex=start`` (default 1) until the last one.

    From page 1 the page size starts at ``page_size`` and falls back through :data:`PAGE_SIZES` if the manager
    answers 400; from a later page (a scan resumed) ``page_size`` is used as it is. With ``prefetch`` the next page
    is requested while the caller processes the current one. Use it inside ``contextlib.aclosing`` when the loop may
    stop early, so the prefetch is cancelled.
    """
    base = dict(params or {})
    if start == 1:
        page = await first_page(client, path, base, page_size)
    else:
        page = await fetch_page(client, path, base, start, page_size)
    size = page.size
    seen = len(page.content) + (start - 1) * size
    # A guard against a server that never says "last": twice the pages announced first, plus some slack.
    limit = 2 * (page.total_pages or 0) + 10 + (start - 1)
    pending: asyncio.Task[Page] | None = None
    try:
        while True:
            if not page.last and prefetch:
                pending = asyncio.ensure_future(fetch_page(client, path, base, page.index + 1, size))
                for _ in range(_SEND_TURNS):  # let the request reach the wire before the caller works
                    await asyncio.sleep(0)
            yield page
            if page.last:
                if page.total_elements is not None and seen < page.total_elements and not page.content:
                    raise ProtocolError(
                        f"GET {path} ended at page {page.index} with {seen} items, "
                        f"but the manager announced {page.total_elements}: the listing is truncated"
                    )
                return
            if page.index >= limit:
                raise ProtocolError(f"GET {path}: still no last page after {page.index} pages; giving up")
            if pending is not None:
                next_page, pending = await pending, None
            else:
                next_page = await fetch_page(client, path, base, page.index + 1, size)
            page = next_page
            seen += len(page.content)
    finally:
        if pending is not None:
            discard(pending)


async def iter_items(
    client: SepmClient,
    path: str,
    *,
    params: Mapping[str, Any] | None = None,
    page_size: int = 1000,
) -> AsyncGenerator[dict[str, Any], None]:
    """The items of every page of ``GET path``, one at a time."""
    async with contextlib.aclosing(iter_pages(client, path, params=params, page_size=page_size)) as pages:
        async for page in pages:
            for item in page.content:
                yield item
