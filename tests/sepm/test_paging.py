"""Paging as a stream: 1-based pages, page-size fallback, prefetch, and pages that contradict themselves."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from reconciler.errors import ProtocolError
from reconciler.sepm import ApiError, SepmClient, SepmCredentials, tls_context
from reconciler.sepm.paging import iter_items, iter_pages
from tests.sepm.pki import Issued
from tests.sepm.scripted import Recorded, Reply, ScriptedServer, auth_reply

API = "/sepm/api/v1"


def page(items: list[Any], index: int, size: int, total: int, **override: Any) -> dict[str, Any]:
    pages = max(1, -(-total // size))
    body = {
        "content": items,
        "firstPage": index == 1,
        "lastPage": index >= pages,
        "number": index - 1,
        "numberOfElements": len(items),
        "size": size,
        "sort": None,
        "totalElements": total,
        "totalPages": pages,
    }
    body.update(override)
    return body


def paged(total: int, max_size: int = 1000) -> Callable[[Recorded], Reply]:
    """A 1-based pager over ``total`` items that refuses pageSize above ``max_size`` with 400."""

    def reply(request: Recorded) -> Reply:
        index = int(request.query["pageIndex"][0])
        size = int(request.query["pageSize"][0])
        if size > max_size:
            return Reply(400, {"errorMessage": f"pageSize must be at most {max_size}"})
        if index < 1:
            return Reply(400, {"errorMessage": "pageIndex starts at 1"})
        start = (index - 1) * size
        items = [{"id": i} for i in range(start, min(total, start + size))]
        return Reply(200, page(items, index, size, total))

    return reply


async def test_pages_start_at_one_and_stop_at_the_last(
    server: ScriptedServer, make_client: Callable[..., SepmClient]
) -> None:
    server.on("POST", f"{API}/identity/authenticate", auth_reply())
    server.on("GET", f"{API}/computers", paged(2345))
    async with make_client(server.url) as client:
        ids = [item["id"] async for item in iter_items(client, "computers")]
    assert ids == list(range(2345))
    asked = [
        (r.query["pageIndex"][0], r.query["pageSize"][0]) for r in server.calls("GET", f"{API}/computers")
    ]
    assert asked == [("1", "1000"), ("2", "1000"), ("3", "1000")]


async def test_a_refused_page_size_falls_back_to_a_smaller_one(
    server: ScriptedServer, make_client: Callable[..., SepmClient]
) -> None:
    server.on("POST", f"{API}/identity/authenticate", auth_reply())
    server.on("GET", f"{API}/groups", paged(600, max_size=250))
    async with make_client(server.url) as client:
        pages = [p async for p in iter_pages(client, "groups")]
    assert [len(p.content) for p in pages] == [250, 250, 100]
    sizes = [r.query["pageSize"][0] for r in server.calls("GET", f"{API}/groups")]
    assert sizes == ["1000", "500", "250", "250", "250"]


async def test_a_bad_request_for_another_reason_is_not_hidden(
    server: ScriptedServer, make_client: Callable[..., SepmClient]
) -> None:
    server.on("POST", f"{API}/identity/authenticate", auth_reply())
    server.on("GET", f"{API}/groups", Reply(404, {"errorMessage": "gone"}))
    async with make_client(server.url) as client:
        with pytest.raises(ApiError) as caught:
            _ = [p async for p in iter_pages(client, "groups")]
    assert caught.value.status == 404


class SendTracer(httpx.AsyncBaseTransport):
    """The real transport, noting (through httpcore's trace hook) when each request is fully on the wire."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.sent: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        async def trace(event: str, info: dict[str, Any]) -> None:
            if event == "http11.send_request_body.complete":
                self.sent.append(request.url.params.get("pageIndex", request.url.path))

        request.extensions = {**request.extensions, "trace": trace}
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_the_next_page_is_on_the_wire_before_the_caller_works_on_this_one(
    server: ScriptedServer, make_client: Callable[..., SepmClient], pki: dict[str, Issued]
) -> None:
    server.on("POST", f"{API}/identity/authenticate", auth_reply())
    server.on("GET", f"{API}/computers", paged(3500))
    tracer = SendTracer(httpx.AsyncHTTPTransport(verify=tls_context(str(pki["ca"].cert_file))))
    sent_when_yielded = []
    async with make_client(server.url, transport=tracer) as client:
        async for _page in iter_pages(client, "computers"):
            sent_when_yielded.append(list(tracer.sent))  # no await since the yield: what is already sent
    assert sent_when_yielded == [
        [f"{API}/identity/authenticate", "1", "2"],
        [f"{API}/identity/authenticate", "1", "2", "3"],
        [f"{API}/identity/authenticate", "1", "2", "3", "4"],
        [f"{API}/identity/authenticate", "1", "2", "3", "4"],  # the last page: nothing more to fetch
    ]


async def test_stopping_early_cancels_the_prefetched_page(
    server: ScriptedServer, make_client: Callable[..., SepmClient]
) -> None:
    server.on("POST", f"{API}/identity/authenticate", auth_reply())
    server.on("GET", f"{API}/computers", paged(10_000))
    async with (
        make_client(server.url) as client,
        contextlib.aclosing(iter_pages(client, "computers")) as stream,
    ):
        async for first in stream:
            assert first.index == 1
            break
    assert len(server.calls("GET", f"{API}/computers")) <= 2  # the first page, perhaps the prefetched second


# --- bodies the simulator cannot produce: httpx.MockTransport ----------------------------------------------------


def mock_client(handler: Callable[[httpx.Request], httpx.Response]) -> SepmClient:
    def route(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/identity/authenticate"):
            return httpx.Response(
                200, json={"token": "t", "tokenExpiration": 3600, "serverTime": 1_796_112_000_000}
            )
        return handler(request)

    return SepmClient(
        "https://sepm.test:8446", SepmCredentials("admin", "pw"), transport=httpx.MockTransport(route)
    )


def _index(request: httpx.Request) -> int:
    return int(request.url.params["pageIndex"])


@pytest.mark.parametrize(
    ("pages", "message"),
    [
        (
            {1: page([{"id": 1}] * 3, 1, 3, 6, numberOfElements=5)},
            "page 1 is truncated: numberOfElements says 5, content holds 3",
        ),
        (
            {1: page([{"id": 1}] * 3, 1, 3, 9), 2: page([], 2, 3, 9, lastPage=False)},
            "ended at page 2 with 3 items, but the manager announced 9",
        ),
        ({1: {"items": []}}, "expected a page object with a content list, got dict"),
        ({1: [1, 2, 3]}, "expected a page object with a content list, got list"),
        ({1: page(["a", "b"], 1, 2, 2)}, "content holds something other than objects"),
    ],
    ids=["fewer-than-announced", "empty-before-the-end", "no-content", "bare-list", "not-objects"],
)
async def test_a_page_that_contradicts_itself_is_a_protocol_error(
    pages: dict[int, Any], message: str
) -> None:
    async with mock_client(lambda r: httpx.Response(200, json=pages[_index(r)])) as client:
        with pytest.raises(ProtocolError) as caught:
            _ = [p async for p in iter_pages(client, "computers", page_size=3)]
    assert message in str(caught.value)


async def test_a_body_cut_mid_json_is_a_protocol_error() -> None:
    cut = b'{"content": [{"uniqueId": "A", "computerName": "PC-1"}, {"uniqueId": "B", "comp'
    async with mock_client(lambda r: httpx.Response(200, content=cut)) as client:
        with pytest.raises(
            ProtocolError, match=r"GET computers: the answer is not valid JSON: \{\"content\""
        ):
            _ = [p async for p in iter_pages(client, "computers")]


async def test_a_server_that_never_says_last_is_abandoned() -> None:
    def endless(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, json=page([{"id": _index(request)}], _index(request), 1, 3, lastPage=False)
        )

    async with mock_client(endless) as client:
        with pytest.raises(ProtocolError, match="still no last page after 16 pages"):
            _ = [p async for p in iter_pages(client, "computers", page_size=1)]
