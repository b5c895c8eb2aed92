"""Paging through SEPM lists as a stream: ``computers`` and ``groups`` one page at a time.

SEPM pages Spring-style: ``pageIndex`` starts at **1**, ``pageSize`` is the page length, and every answer is a page
object (``content``, ``lastPage``, ``totalPages``, ``totalElements``, ``numberOfElements``…). :func:`iter_pages`
yields one :class:`Page` at a time and fetches the next one while the caller works on the current one, so at most
two pages are held in memory whatever the size of the fleet.

A page that contradicts itself (fewer items than ``numberOfElements``, an empty page before the announced end) is a
:class:`~reconciler.errors.ProtocolError`: a scan that silently missed clients would lie about acknowledgements.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.errors import ProtocolError
from reconciler.sepm._aio import discard
from reconciler.sepm.client import ApiError, SepmClient

__all__ = ["PAGE_SIZES", "Page", "first_page", "iter_items", "iter_pages"]

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


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _parse_page(path: str, index: int, size: int, data: Any) -> Page:
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
    )


async def _fetch(client: SepmClient, path: str, params: Mapping[str, Any], index: int, size: int) -> Page:
    query = {**params, "pageIndex": index, "pageSize": size}
    data = await client.get_json(path, params=query)
    return _parse_page(path, index, size, data)


async def first_page(client: SepmClient, path: str, params: Mapping[str, Any], page_size: int) -> Page:
    sizes = [page_size, *(s for s in PAGE_SIZES if s < page_size)]
    for size in sizes:
        try:
            return await _fetch(client, path, params, 1, size)
        except ApiError as exc:
            if exc.status != 400 or size == sizes[-1]:
                raise
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


async def iter_pages(
    client: SepmClient,
    path: str,
    *,
    params: Mapping[str, Any] | None = None,
    page_size: int = 1000,
    prefetch: bool = True,
) -> AsyncGenerator[Page, None]:
    """Yield the pages of ``GET path`` from ``pageIndex=1`` until the last one.

    The page size starts at ``page_size`` and falls back through :data:`PAGE_SIZES` if the manager answers 400.
    With ``prefetch`` the next page is requested while the caller processes the current one. Use it inside
    ``contextlib.aclosing`` when the loop may stop early, so the prefetch is cancelled.
    """
    base = dict(params or {})
    page = await first_page(client, path, base, page_size)
    size = page.size
    seen = len(page.content)
    # A guard against a server that never says "last": twice the pages announced first, plus some slack.
    limit = 2 * (page.total_pages or 0) + 10
    pending: asyncio.Task[Page] | None = None
    try:
        while True:
            if not page.last and prefetch:
                pending = asyncio.ensure_future(_fetch(client, path, base, page.index + 1, size))
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
                next_page = await _fetch(client, path, base, page.index + 1, size)
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
