"""``gather_fetch.fetch``: the ``asyncio.gather`` of HTTP requests.

Each test reads as the behaviour it pins down, as the asyncio docs state
``gather``'s: results in input order, a failure raised or returned, the
loop never blocked.
"""

from __future__ import annotations

import asyncio
import random

import pytest

import gather_fetch
from gather_fetch import FetchError, Response

pytestmark = pytest.mark.asyncio


async def test_results_come_back_in_input_order_whatever_order_they_finish_in(server):
    delays = [random.randrange(0, 200) for _ in range(200)]
    urls = [server.url(f"/page/{i}?delay_ms={d}") for i, d in enumerate(delays)]
    pages = await gather_fetch.fetch(urls, limit=64, per_host=0)
    assert [p.status for p in pages] == [200] * 200
    assert [p.index for p in pages] == list(range(200))
    for i, page in enumerate(pages):
        assert f"page {i}" in page.text


async def test_an_http_error_status_is_a_response_not_an_exception(server):
    [page] = await gather_fetch.fetch([server.url("/status/404")])
    assert isinstance(page, Response)
    assert (page.status, page.ok) == (404, False)
    with pytest.raises(gather_fetch.StatusError) as raised:
        page.raise_for_status()
    assert raised.value.response is page


async def test_raise_for_status_makes_error_statuses_failures(server):
    pages = await gather_fetch.fetch(
        [server.url("/page/1"), server.url("/status/503")],
        raise_for_status=True, return_exceptions=True,
    )
    assert isinstance(pages[0], Response) and pages[0].status == 200
    assert isinstance(pages[1], gather_fetch.StatusError)
    assert pages[1].kind == "status"


async def test_the_first_failure_is_raised_by_default(server):
    with pytest.raises(gather_fetch.ConnectError) as raised:
        await gather_fetch.fetch([server.url("/page/1"), server.url("/reset")])
    error = raised.value
    assert (error.index, error.url, error.kind) == (1, server.url("/reset"), "connect")
    assert isinstance(error, ConnectionError)


async def test_return_exceptions_puts_each_failure_in_its_place(server):
    urls = [
        server.url("/page/0"),
        server.url("/reset"),
        "not a url",
        "ftp://example.com/",
        server.url("/hang"),
        server.url("/big?bytes=5000"),
        server.url("/truncated"),
        server.url("/redirect-loop"),
        server.url("/encoded/corrupt"),
        "http://127.0.0.1:1/",
        server.url("/page/10"),
    ]
    results = await gather_fetch.fetch(
        urls, timeout=1.0, max_bytes=1000, max_redirects=3, return_exceptions=True,
    )
    kinds = [r.kind if isinstance(r, FetchError) else r.status for r in results]
    assert kinds == [
        200, "connect", "invalid_url", "unsupported_scheme", "timeout",
        "body_too_large", "body", "redirect", "body", "connect", 200,
    ]
    expected = [
        None, gather_fetch.ConnectError, gather_fetch.InvalidURL, gather_fetch.InvalidURL,
        gather_fetch.FetchTimeout, gather_fetch.BodyTooLarge, gather_fetch.BodyError,
        gather_fetch.RedirectError, gather_fetch.BodyError, gather_fetch.ConnectError, None,
    ]
    for result, cls, url in zip(results, expected, urls):
        if cls is not None:
            assert type(result) is cls, (url, result)
            assert result.url == url
    assert isinstance(results[4], TimeoutError), "the timeout is also a builtin TimeoutError"
    assert isinstance(results[2], ValueError)


async def test_a_bad_item_fails_at_its_index_and_the_others_are_fetched(server):
    results = await gather_fetch.fetch(
        [server.url("/page/0"), 42, {"id": 7},  # type: ignore[list-item]
         {"url": server.url("/page/3"), "json": {}, "body_text": "x"},
         {"url": server.url("/page/4"), "method": "CONNECT"},
         {"url": server.url("/page/5"), "headres": {}},
         {"url": server.url("/page/6"), "body_base64": "not base64!"},
         server.url("/page/7")],
        return_exceptions=True,
    )
    first, last = results[0], results[7]
    assert isinstance(first, Response) and isinstance(last, Response)
    assert first.status == 200 and last.status == 200
    for bad in results[1:7]:
        assert isinstance(bad, gather_fetch.InvalidRequest), bad
        assert isinstance(bad, TypeError) and isinstance(bad, ValueError)
    assert "not int" in str(results[1])
    assert 'no "url"' in str(results[2]) and results[2].id == 7
    assert "two bodies" in str(results[3])
    assert "CONNECT" in str(results[4])
    assert 'unknown field "headres"' in str(results[5])
    assert "base64" in str(results[6])


async def test_ids_come_back_on_responses_and_errors(server):
    results = await gather_fetch.fetch(
        [
            {"url": server.url("/page/1"), "id": ("a", 1)},
            gather_fetch.Request(server.url("/page/2"), id="b"),
            {"url": server.url("/reset"), "custom_id": "request-3"},
        ],
        return_exceptions=True,
    )
    assert [r.id for r in results] == [("a", 1), "b", "request-3"]


async def test_the_response_reads_as_aiohttp_and_httpx_users_expect(server):
    [page] = await gather_fetch.fetch([server.url("/page/7")])
    assert page.url == server.url("/page/7")
    assert page.http_version == "1.1"
    assert page.headers["Content-Type"] == page.headers["content-type"]
    assert "content-length" in page.headers and "Content-Length" in page.headers
    assert page.headers.get("x-missing", "none") == "none"
    assert dict(page.headers.items())["content-length"] == str(len(page.content))
    assert page.encoding == "utf-8"
    assert page.text == page.content.decode()
    assert page.content is page.content
    assert page.elapsed.total_seconds() >= 0
    assert page.retries == 0
    from collections.abc import Mapping
    assert isinstance(page.headers, Mapping)


async def test_json_bodies_parse(server):
    [echo] = await gather_fetch.fetch([server.url("/status/200")])
    with pytest.raises(ValueError):
        echo.json()


async def test_redirects_are_followed_and_the_final_url_reported(server):
    [page] = await gather_fetch.fetch([server.url("/redirect/3")])
    assert (page.status, page.url) == (200, server.url("/page/0"))


async def test_compressed_bodies_are_decoded(server):
    codings = ["gzip", "deflate", "deflate-raw", "br", "zstd"]
    pages = await gather_fetch.fetch([server.url(f"/encoded/{c}") for c in codings])
    assert len({p.content for p in pages}) == 1
    assert pages[0].content.startswith(b"")
    raw = await gather_fetch.fetch([server.url("/encoded/gzip")], decompress=False)
    assert raw[0].content[:2] == b"\x1f\x8b"


async def test_http2_with_prior_knowledge(server):
    pages = await gather_fetch.fetch(
        [server.h2c + f"/page/{i}" for i in range(50)], http_version="2",
    )
    assert {p.http_version for p in pages} == {"2"}
    assert [f"page {i}" in p.text for i, p in enumerate(pages)] == [True] * 50


async def test_retries_honour_retry_after(server):
    [page] = await gather_fetch.fetch(
        [server.url("/flaky/py-retry?fail=2")], retries=3, retry_delay=0.01,
    )
    assert (page.status, page.retries) == (200, 2)


async def test_a_generator_is_read_as_requests_start(server):
    pulled = []

    def urls():
        for i in range(1000):
            pulled.append(i)
            yield server.url(f"/page/{i}")

    pages = await gather_fetch.fetch(urls(), limit=16)
    assert len(pages) == 1000 and len(pulled) == 1000


async def test_what_the_generator_raises_is_raised(server):
    def urls():
        yield server.url("/page/1")
        raise RuntimeError("the list is broken")

    with pytest.raises(RuntimeError, match="the list is broken"):
        await gather_fetch.fetch(urls())


async def test_save_dir_writes_bodies_to_files(server, tmp_path):
    pages = await gather_fetch.fetch(
        [server.url("/page/0"), server.url("/page/1")], save_dir=tmp_path,
    )
    assert [p.saved for p in pages] == [str(tmp_path / "0.body"), str(tmp_path / "1.body")]
    assert b"page 1" in (tmp_path / "1.body").read_bytes()
    assert pages[1].content == b""


async def test_headers_are_sent_with_every_request(server):
    [page] = await gather_fetch.fetch(
        [server.url("/headers")], headers={"X-Token": "abc"}, user_agent="tests/1",
    )
    assert "x-token: abc" in page.text.lower()
    assert "user-agent: tests/1" in page.text.lower()


@pytest.mark.parametrize(
    "kwargs, error, words",
    [
        ({"limit": 0}, ValueError, "limit must be 1 or more, not 0"),
        ({"limit": "8"}, TypeError, "limit must be an int, not str"),
        ({"limit": True}, TypeError, "limit must be an int, not bool"),
        ({"timeout": -1}, ValueError, "timeout must be more than 0"),
        ({"rate": 0}, ValueError, "rate must be more than 0"),
        ({"retries": -1}, ValueError, "retries must be 0 to 1000"),
        ({"per_host": "many"}, ValueError, "per_host must be \"auto\", 0"),
        ({"per_host": -2}, ValueError, "per_host must be"),
        ({"http_version": "3"}, ValueError, "http_version must be"),
        ({"headers": {"bad name": "x"}}, ValueError, "headers"),
        ({"headers": "X-A: 1"}, TypeError, "headers must be a mapping"),
        ({"ca_file": "/nonexistent/ca.pem"}, ValueError, "ca_file /nonexistent/ca.pem"),
        ({"proxy": "ftp://proxy:1"}, ValueError, "proxy \"ftp://proxy:1\": only http://"),
        ({"return_exceptions": "yes"}, TypeError, "return_exceptions"),
    ],
)
async def test_bad_arguments_raise_naming_the_argument_before_anything_is_sent(
    holding, kwargs, error, words
):
    with pytest.raises(error, match=words.replace("(", r"\(")):
        if "return_exceptions" in kwargs:
            async for _ in gather_fetch.as_completed([holding.base + "/"], **kwargs):
                pass
        else:
            await gather_fetch.fetch([holding.base + "/"], **kwargs)
    await asyncio.sleep(0.05)
    assert holding.requests == []


async def test_the_defaults_are_the_engines_shared_with_the_command_line():
    # Only the options given go to the engine, which owns the defaults;
    # the docstring shows them as the engine has them.
    engine = gather_fetch._engine.DEFAULTS
    assert (engine["limit"], engine["per_host"], engine["timeout"]) == (512, "auto", 30.0)
    doc = gather_fetch.fetch.__doc__
    assert doc is not None
    assert f"Default ``{engine['limit']}``" in doc
    assert f"default ``{engine['timeout']:g}``" in doc
    assert f"``{engine['max_bytes']}`` (10 MiB)" in doc
    assert f"starts at {engine['per_host_start']} " in doc
    assert "{" not in doc


async def test_errors_name_the_keyword_argument_not_a_command_line_flag(server):
    slow, big = await gather_fetch.fetch(
        [server.url("/page/0?delay_ms=2000"), server.url("/big?bytes=5000")],
        timeout=0.2, max_bytes=1000, return_exceptions=True,
    )
    assert isinstance(slow, gather_fetch.FetchTimeout)
    assert slow.message == "no complete answer within the request timeout of 200ms (timeout)"
    assert isinstance(big, gather_fetch.BodyTooLarge)
    assert big.message.endswith("over the size limit of 1000 bytes (max_bytes)"), big.message
    for error in (slow, big):
        assert "--" not in str(error), str(error)


async def test_a_single_url_string_is_refused_not_iterated_by_character():
    with pytest.raises(TypeError, match="not a single str"):
        await gather_fetch.fetch("http://127.0.0.1/")
    with pytest.raises(TypeError, match="unexpected keyword argument 'limt'"):
        gather_fetch.as_completed([], limt=3)  # type: ignore[call-overload]


async def test_an_empty_input_gives_an_empty_list():
    assert await gather_fetch.fetch([]) == []
