"""Answers and errors as users of httpx, aiohttp and requests read them: a
status error with its status and its answer, results that pickle, no
hidden size limit, reprs that say whose failure is whose, and
``fetch_sync`` refusing to block a running loop."""

from __future__ import annotations

import asyncio
import datetime
import pickle
from concurrent.futures import ProcessPoolExecutor
from typing import List

import pytest

import gather_fetch
from gather_fetch import BodyTooLarge, FetchTimeout, Response, StatusError

from conftest import AnsweringServer

pytestmark = pytest.mark.asyncio


async def test_raise_for_status_gives_the_status_and_the_answer_with_its_body(server):
    url = server.url("/status/404")
    with pytest.raises(StatusError) as caught:
        await gather_fetch.fetch([server.url("/page/1"), url], raise_for_status=True)
    error = caught.value
    assert error.status == 404
    assert error.response is not None
    assert error.response.status == 404
    assert error.response.reason == "Not Found"
    assert error.response.text  # the body, readable (an API's error JSON)
    assert error.url == url and error.index == 1
    assert "404" in str(error) and url in str(error)


async def test_raise_for_status_on_a_response_is_the_same_error(server):
    [page] = await gather_fetch.fetch([server.url("/status/503")])
    with pytest.raises(StatusError) as caught:
        page.raise_for_status()
    assert caught.value.status == 503
    assert caught.value.response is page
    assert page.reason == "Service Unavailable"


async def test_raise_for_status_returns_the_response_it_does_not_raise_for(server):
    # As httpx's: a call chains, `page.raise_for_status().json()`.
    [page] = await gather_fetch.fetch([server.url("/page/2")])
    assert page.raise_for_status() is page


async def test_a_response_pickles_with_its_body_fields_and_attributes(server):
    [page] = await gather_fetch.fetch([{"url": server.url("/page/3"), "id": ("a", 3)}])
    again = pickle.loads(pickle.dumps(page))
    assert isinstance(again, Response)
    for name in ("index", "id", "status", "url", "retries", "http_version",
                 "elapsed", "saved", "content", "text", "reason", "encoding"):
        assert getattr(again, name) == getattr(page, name), name
    assert dict(again.headers) == dict(page.headers)
    assert again.headers["content-type"] == page.headers["Content-Type"]


async def answered(server: AnsweringServer, paths: List[str]) -> List[Response]:
    """`fetch` of `paths` from `server`, started for it and stopped after."""
    await server.start()
    try:
        return await gather_fetch.fetch([server.base + path for path in paths])
    finally:
        await server.stop()


class FieldsServer(AnsweringServer):
    """Answers every request with one head written by hand: repeated
    names, mixed case, an obs-fold and a Latin-1 value."""

    def answer(self, head: bytes) -> bytes:
        return (b"HTTP/1.1 200 OK\r\n"
                b"Content-Type: text/plain; charset=utf-8\r\n"
                b"Set-Cookie: a=1\r\n"
                b"X-Folded: one\r\n two\r\n"
                b"set-cookie: b=2\r\n"
                b"X-Latin: caf\xe9\r\n"
                b"Content-Length: 2\r\n\r\nok")


async def test_headers_read_as_a_case_blind_mapping_with_repeats_kept_apart():
    [page] = await answered(FieldsServer(), ["/"])
    headers = page.headers
    assert list(headers) == ["content-type", "set-cookie", "x-folded", "x-latin", "content-length"]
    assert len(headers) == 5
    assert headers["SET-COOKIE"] == "a=1, b=2"
    assert headers.get_all("Set-Cookie") == ["a=1", "b=2"]
    assert headers["x-folded"] == "one   two"
    assert headers["x-latin"] == "caf\ufffd"
    assert "Content-Type" in headers and "x-missing" not in headers and 3 not in headers
    with pytest.raises(KeyError):
        headers["x-missing"]
    assert headers.get_all("x-missing") == []
    assert page.encoding == "utf-8" and page.text == "ok"
    again = pickle.loads(pickle.dumps(page)).headers
    assert list(again.items()) == list(headers.items())
    assert again.get_all("set-cookie") == ["a=1", "b=2"]
    # Views and equality as a Mapping's (and httpx's, requests', aiohttp's).
    assert headers.keys() & {"set-cookie", "x-missing"} == {"set-cookie"}
    assert ("x-latin", "caf\ufffd") in headers.items()
    assert "one   two" in headers.values()
    assert again == headers and not (again != headers)
    same = {"Content-Type": "text/plain; charset=utf-8", "SET-COOKIE": "a=1, b=2",
            "x-folded": "one   two", "X-Latin": "caf\ufffd", "content-length": "2"}
    assert headers == same and same == headers
    assert headers != {**same, "content-length": "3"}
    assert headers != {k: v for k, v in same.items() if k != "X-Latin"}
    assert headers != ["content-type"] and headers != 3


class ManyFieldsServer(AnsweringServer):
    """Answers with 20,000 fields of distinct names (240 KB of head, under
    the 300 KiB a head may take), and one name sent twice."""

    def answer(self, head: bytes) -> bytes:
        fields = b"".join(b"x-%05d: %d\r\n" % (i, i) for i in range(20_000))
        return (b"HTTP/1.1 200 OK\r\n" + fields
                + b"X-00007: again\r\nContent-Length: 2\r\n\r\nok")


async def test_a_head_of_twenty_thousand_fields_reads_as_a_mapping():
    # Each lookup is a hash: were it a scan of the fields, dict() here
    # would compare names 400 million times.
    [page] = await answered(ManyFieldsServer(), ["/"])
    headers = dict(page.headers)
    assert len(headers) == len(page.headers) == 20_001
    assert headers["x-00000"] == "0" and headers["x-19999"] == "19999"
    assert page.headers["X-00007"] == "7, again"
    assert page.headers.get_all("x-00007") == ["7", "again"]
    assert list(page.headers)[-1] == "content-length"


class CharsetServer(AnsweringServer):
    """Answers `/N` with the Nth of `ANSWERS`: a `Content-Type` (or none)
    and a body."""

    ANSWERS = [
        (None, "caf\u00e9 \u2713".encode()),
        (b"text/html; charset=ISO-8859-1", "caf\u00e9".encode("latin-1")),
        (b'text/plain; charset="UTF8"', "na\u00efve".encode()),
        (b"text/plain", b"caf\xe9 \xff"),
        (b"text/plain; charset=no-such-charset", b"ok \xff"),
        (b"text/plain; charset=utf-8", b"\xed\xa0\x80"),
    ]

    def answer(self, head: bytes) -> bytes:
        kind, body = self.ANSWERS[int(head.split(b" ")[1][1:])]
        fields = b"Content-Type: " + kind + b"\r\n" if kind else b""
        return (b"HTTP/1.1 200 OK\r\n" + fields
                + b"Content-Length: %d\r\n\r\n" % len(body) + body)


async def test_text_decodes_by_the_charset_and_replaces_what_does_not_decode():
    pages = await answered(CharsetServer(), [f"/{i}" for i in range(len(CharsetServer.ANSWERS))])
    expected = [
        ("utf-8", "caf\u00e9 \u2713"),
        ("ISO-8859-1", "caf\u00e9"),
        ("UTF8", "na\u00efve"),
        ("utf-8", "caf\ufffd \ufffd"),
        ("no-such-charset", "ok \ufffd"),
        ("utf-8", "\ufffd\ufffd\ufffd"),  # an encoded surrogate is not UTF-8
    ]
    for page, (encoding, text), (kind, body) in zip(pages, expected, CharsetServer.ANSWERS):
        # Read first: the charset is still the response's after it.
        assert page.headers.get("content-type") == (kind.decode() if kind else None)
        assert page.encoding == encoding
        assert page.text == text
        assert page.text is page.text  # decoded once, as httpx's .text
        assert page.content == body  # the bytes as sent, after .text too


def _statuses(pages: list) -> list:
    return [p.status for p in pages]


async def test_results_cross_a_process_pool(server):
    pages = await gather_fetch.fetch([server.url(f"/page/{i}") for i in range(5)])
    loop = asyncio.get_running_loop()
    with ProcessPoolExecutor(max_workers=1) as pool:
        statuses = await loop.run_in_executor(pool, _statuses, pages)
    assert statuses == [200] * 5


async def test_every_fetch_error_pickles_with_what_it_holds(server):
    slow, status = await gather_fetch.fetch(
        [server.url("/page/0?delay_ms=2000"), server.url("/status/500")],
        timeout=0.2, raise_for_status=True, return_exceptions=True,
    )
    for error in (slow, status):
        again = pickle.loads(pickle.dumps(error))
        assert type(again) is type(error)
        for name in ("message", "kind", "index", "url", "id", "elapsed", "retries"):
            assert getattr(again, name) == getattr(error, name), name
        assert str(again) == str(error)
    assert pickle.loads(pickle.dumps(status)).response.status == 500
    assert isinstance(slow, FetchTimeout) and isinstance(slow, TimeoutError)


async def test_an_error_says_its_url_in_its_repr_and_elapsed_is_a_timedelta(server):
    url = server.url("/page/0?delay_ms=2000")
    [slow] = await gather_fetch.fetch([url], timeout=0.2, return_exceptions=True)
    assert url in repr([slow]), repr([slow])
    assert repr(slow).startswith("FetchTimeout(")
    assert isinstance(slow.elapsed, datetime.timedelta)
    assert slow.elapsed >= datetime.timedelta(seconds=0.15)


async def test_max_bytes_none_means_no_limit(server):
    big = server.url("/big?bytes=12000000")  # over the 10 MiB default
    [refused] = await gather_fetch.fetch([big], return_exceptions=True)
    assert isinstance(refused, BodyTooLarge)
    assert "10485760" in refused.message
    [page] = await gather_fetch.fetch([big], max_bytes=None)
    assert len(page.content) == 12_000_000


async def test_save_dir_has_no_size_limit_unless_one_is_given(server, tmp_path):
    big = server.url("/big?bytes=12000000")
    [page] = await gather_fetch.fetch([big], save_dir=tmp_path)
    assert page.saved is not None
    assert (tmp_path / "0.body").stat().st_size == 12_000_000
    [refused] = await gather_fetch.fetch(
        [big], save_dir=tmp_path / "limited", max_bytes=1_000_000, return_exceptions=True,
    )
    assert isinstance(refused, BodyTooLarge)


async def test_fetch_sync_in_a_running_loop_raises_rather_than_blocks_it(server):
    with pytest.raises(RuntimeError, match=r"await gather_fetch\.fetch"):
        gather_fetch.fetch_sync([server.url("/page/1")])


async def test_a_misspelt_option_is_a_type_error_on_every_call(server):
    urls = [server.url("/page/1")]
    with pytest.raises(TypeError, match="'limt'"):
        await gather_fetch.fetch(urls, limt=3)  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="'limt'"):
        async for _ in gather_fetch.stream(urls, limt=3):  # type: ignore[call-overload]
            pass
    with pytest.raises(TypeError, match="'window'"):
        await gather_fetch.fetch(urls, window=3)  # type: ignore[call-overload]


async def test_a_requests_own_timeout_is_its_time_over_the_calls(server):
    slow = server.url("/page/1?delay_ms=1000")
    cut, answered, given = await gather_fetch.fetch(
        [{"url": slow, "timeout": 0.2}, slow, gather_fetch.Request(slow, timeout=0.2)],
        timeout=10, return_exceptions=True,
    )
    assert isinstance(cut, FetchTimeout) and "200ms" in cut.message, cut
    assert isinstance(answered, Response) and answered.status == 200
    assert isinstance(given, FetchTimeout)
    async with gather_fetch.Client(timeout=0.5) as client:
        assert (await client.get(slow, timeout=5)).status == 200
        with pytest.raises(FetchTimeout):
            await client.get(slow)


async def test_the_redirects_on_the_way_are_the_responses_history(server):
    page, direct = await gather_fetch.fetch([server.url("/redirect/2"), server.url("/page/3")])
    assert page.url == server.url("/page/0")
    assert [(r.status, r.url) for r in page.history] == [
        (302, server.url("/redirect/2")), (302, server.url("/redirect/1"))]
    assert page.history[0].reason == "Found"
    assert direct.history == []
    again = pickle.loads(pickle.dumps(page))
    assert again.history == page.history
