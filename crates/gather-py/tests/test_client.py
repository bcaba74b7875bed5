"""``gather_fetch.Client``: one engine across calls, as an
``aiohttp.ClientSession`` or ``httpx.AsyncClient`` is used."""

from __future__ import annotations

import asyncio
import json
import time
from typing import List

import pytest
import pytest_asyncio

import gather_fetch
from conftest import LoopbackServer
from gather_fetch import Client, ConnectError, Response, StatusError

pytestmark = pytest.mark.asyncio


class CountingServer(LoopbackServer):
    """HTTP/1.1 with keep-alive on 127.0.0.1: answers ``GET /N?ms=M``
    after M ms with ``page N``, and counts connections accepted and
    requests at once."""

    def __init__(self) -> None:
        super().__init__()
        self.connections = 0
        self.at_once = 0
        self.most_at_once = 0

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
                target = head.split(" ", 2)[1]
                path, _, query = target.partition("?")
                ms = int(query[3:]) if query.startswith("ms=") else 0
                self.at_once += 1
                self.most_at_once = max(self.most_at_once, self.at_once)
                try:
                    await asyncio.sleep(ms / 1000)
                finally:
                    self.at_once -= 1
                body = f"page {path.strip('/')}".encode()
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    def urls(self, n: int, ms: int = 0) -> List[str]:
        return [f"{self.base}/{i}?ms={ms}" for i in range(n)]


@pytest_asyncio.fixture
async def counting():
    server = await CountingServer().start()
    try:
        yield server
    finally:
        await server.stop()


async def test_gather_over_client_get_gives_each_answer_in_order(counting):
    urls = counting.urls(200)
    async with Client() as client:
        pages = await asyncio.gather(*(client.get(u) for u in urls))
    assert [p.text for p in pages] == [f"page {i}" for i in range(200)]
    assert all(isinstance(p, Response) and p.status == 200 for p in pages)


async def test_the_second_call_opens_no_new_connection(counting):
    async with Client(per_host=4) as client:
        first = await client.fetch(counting.urls(40, ms=5))
        opened = counting.connections
        second = await client.fetch(counting.urls(40, ms=5))
        singles = await asyncio.gather(*(client.get(u) for u in counting.urls(40, ms=5)))
    assert len(first) == len(second) == len(singles) == 40
    assert 1 <= opened <= 4
    assert counting.connections == opened, "a later call opened its own connections"


async def test_single_requests_at_once_share_the_per_host_window(counting):
    # 300 gets at once are held to the host's window, as one fetch of
    # them would be: not 300 connections.
    async with Client(per_host=6) as client:
        await asyncio.gather(*(client.get(u) for u in counting.urls(300, ms=10)))
    assert counting.most_at_once <= 6
    assert counting.connections <= 6


async def test_one_get_cancelled_stops_that_request_only(holding, counting):
    async with Client() as client:
        held = asyncio.ensure_future(client.get(holding.base + "/"))
        for _ in range(200):
            if holding.open:
                break
            await asyncio.sleep(0.01)
        assert holding.open == 1
        held.cancel()
        with pytest.raises(asyncio.CancelledError):
            await held
        for _ in range(200):
            if not holding.open:
                break
            await asyncio.sleep(0.01)
        assert holding.open == 0, "the cancelled request's connection is still open"
        page = await client.get(counting.urls(1)[0])
        assert page.text == "page 0"


async def test_a_call_cancelled_leaves_the_clients_other_calls_going(holding, counting):
    async with Client() as client:
        stuck = asyncio.ensure_future(client.fetch([holding.base + "/"] * 3))
        await asyncio.sleep(0.2)
        stuck.cancel()
        with pytest.raises(asyncio.CancelledError):
            await stuck
        assert [p.text for p in await client.fetch(counting.urls(3))] == [
            "page 0", "page 1", "page 2"]
        async for index, page in client.stream(counting.urls(5), window=2):
            assert page.text == f"page {index}"


async def test_a_failure_is_raised_by_get_and_returned_by_fetch(server):
    async with Client(raise_for_status=True) as client:
        with pytest.raises(ConnectError):
            await client.get("http://127.0.0.1:1/")
        with pytest.raises(StatusError) as caught:
            await client.get(server.url("/status/404"))
        assert caught.value.status == 404
        results = await client.fetch([server.url("/page/1"), server.url("/status/500")],
                                     return_exceptions=True)
        assert isinstance(results[0], Response) and isinstance(results[1], StatusError)


async def test_request_sends_a_method_and_a_json_body(server):
    async with Client() as client:
        page = await client.request("POST", server.url("/echo"), json={"a": [1, 2]},
                                    headers={"x-test": "1"}, id="mine")
    method, _, body = page.text.partition("\n")
    assert method == "POST"
    assert json.loads(body) == {"a": [1, 2]}
    assert page.id == "mine"


async def test_get_adds_params_to_the_query_as_httpx_does(server):
    async with Client() as client:
        page = await client.get(server.url("/target?x=0"),
                                params={"q": "a b", "tag": ["b", "a"], "n": 2, "ok": False})
        pairs = await client.get(server.url("/target"), params=[("q", 1), ("q", 2.5)])
        with pytest.raises(ValueError, match='"params" must be'):
            await client.get(server.url("/target"), params={"q": None})  # type: ignore[dict-item]
    assert page.text == "/target?x=0&q=a+b&tag=b&tag=a&n=2&ok=false"
    assert page.url == server.url(page.text)
    assert pairs.text == "/target?q=1&q=2.5"


async def test_each_method_has_its_shortcut_as_in_httpx_and_aiohttp(server):
    echo = server.url("/echo")
    async with Client(per_host=1) as client:
        sent = [
            (await client.post(echo, json={"a": 1})).text,
            (await client.put(echo, body_text="t")).text,
            (await client.patch(echo, body=b"b")).text,
            (await client.delete(echo)).text,
            (await client.options(echo)).text,
        ]
        head = await client.head(echo)
        # The page server sends a body with its answer to a HEAD, as some
        # servers do: the next request still reads its own answer.
        after = await client.get(echo)
    assert sent == ['POST\n{"a":1}', "PUT\nt", "PATCH\nb", "DELETE\n", "OPTIONS\n"]
    assert (head.status, head.content) == (200, b"")
    assert after.text == "GET\n"


async def test_a_closed_client_refuses_calls(server):
    client = Client()
    await client.aclose()
    assert client.closed
    with pytest.raises(RuntimeError, match="closed"):
        await client.get(server.url("/page/1"))
    with pytest.raises(RuntimeError, match="closed"):
        await client.fetch([server.url("/page/1")])
    await client.aclose()  # again: nothing


async def test_closing_cancels_the_single_requests_in_flight(holding):
    client = Client()
    held = asyncio.ensure_future(client.get(holding.base + "/"))
    await asyncio.sleep(0.2)
    started = time.monotonic()
    await client.aclose()
    with pytest.raises(asyncio.CancelledError):
        await held
    assert time.monotonic() - started < 1.0


async def test_options_are_checked_when_the_client_is_made():
    with pytest.raises(ValueError, match="limit"):
        Client(limit=0)
    with pytest.raises(TypeError, match="'limt'"):
        Client(limt=3)  # type: ignore[call-arg]


async def test_a_client_with_cookies_sends_back_what_a_server_set(server):
    headers = server.url("/headers")
    async with Client(cookies=True) as client:
        landed = await client.get(server.url("/login/session/abc123"))
        assert "cookie: session=abc123" in landed.text.lower()  # on the redirect
        await client.get(server.url("/set-cookie/theme/dark"))
        later = await client.fetch([headers])
        sent = later[0].text.lower()
        assert "session=abc123" in sent and "theme=dark" in sent, sent
    async with Client() as client:
        await client.get(server.url("/set-cookie/theme/dark"))
        assert "cookie:" not in (await client.get(headers)).text.lower()
