"""Requests with methods, fields and bodies: the JSON Lines request fields
of ``gather fetch``, as dicts or ``Request``s, sent as given over HTTP/1.1
and HTTP/2, and never sent twice by accident."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

import gather_fetch

pytestmark = pytest.mark.asyncio


# The request format's table of cases, shared with the command line's
# tests (crates/gather-cli/tests/it/cli_request_cases.rs): the same request
# is sent, or refused with the same kind and message, through either door.
CASES = json.loads(
    (Path(__file__).resolve().parents[2] / "gather-http/tests/fixtures/request_cases.json").read_text()
)


@pytest.mark.parametrize("case", CASES, ids=[c["why"] for c in CASES])
async def test_every_case_of_the_request_format_as_the_command_line_has_it(server, case):
    [result] = await gather_fetch.fetch(
        [case["request"]], base_url=server.url(""), return_exceptions=True
    )
    if "sent" in case:
        assert isinstance(result, gather_fetch.Response), result
        assert result.status == 200, result
        assert result.text == case["sent"]
    else:
        kind, message = case["error"]
        assert isinstance(result, gather_fetch.FetchError), result
        assert (result.kind, result.message) == (kind, message)
        assert isinstance(result, gather_fetch.InvalidRequest)
    if "custom_id" in case["request"]:
        assert result.id == case["request"]["custom_id"]


async def test_a_json_body_is_posted_as_json(server):
    [echo, seen] = await gather_fetch.fetch([
        {"url": server.url("/echo"), "json": {"model": "m", "n": [1, 2]}},
        {"url": server.url("/headers"), "method": "POST", "json": {"a": "é"}},
    ])
    method, body = echo.content.split(b"\n", 1)
    assert method == b"POST", "POST when a body is given"
    assert json.loads(body) == {"model": "m", "n": [1, 2]}
    headers = seen.text.lower()
    assert "content-type: application/json" in headers
    assert f"content-length: {len(json.dumps({'a': 'é'}, separators=(',', ':'), ensure_ascii=False).encode())}" in headers


async def test_every_form_of_body_and_method(server):
    raw = bytes(range(256))
    pages = await gather_fetch.fetch([
        {"url": server.url("/echo"), "method": "put", "body": raw},
        {"url": server.url("/echo"), "body_text": "plain text"},
        {"url": server.url("/echo"), "body_base64": base64.b64encode(raw).decode()},
        {"url": server.url("/echo"), "body": "a JSON string"},
        gather_fetch.Request(server.url("/echo"), method="PATCH", json=[1]),
        {"url": server.url("/echo"), "method": "DELETE"},
    ])
    assert [p.content for p in pages] == [
        b"PUT\n" + raw, b"POST\nplain text", b"POST\n" + raw,
        b'POST\n"a JSON string"', b"PATCH\n[1]", b"DELETE\n",
    ]


async def test_a_requests_own_headers_replace_the_runs(server):
    [page] = await gather_fetch.fetch(
        [{"url": server.url("/headers"), "headers": {"X-Key": "mine", "Accept": "application/json"}}],
        headers={"X-Key": "run", "X-Run": "1"},
    )
    text = page.text.lower()
    assert "x-key: mine" in text and "x-key: run" not in text
    assert "x-run: 1" in text and "accept: application/json" in text


async def test_bodies_over_http2(server):
    pages = await gather_fetch.fetch(
        [{"url": server.h2c + "/echo", "json": {"i": i}} for i in range(30)],
        http_version="2",
    )
    assert {p.http_version for p in pages} == {"2"}
    assert [json.loads(p.content.split(b"\n", 1)[1]) for p in pages] == [{"i": i} for i in range(30)]


async def test_an_openai_batch_file_runs_as_it_is_with_base_url(server):
    lines = [
        json.dumps({"custom_id": f"request-{i}", "method": "POST", "url": "/echo",
                    "body": {"model": "m", "messages": [{"role": "user", "content": f"hi {i}"}]}})
        for i in range(5)
    ]
    pages = await gather_fetch.fetch((json.loads(line) for line in lines), base_url=server.base)
    assert [p.id for p in pages] == [f"request-{i}" for i in range(5)]
    assert json.loads(pages[3].content.split(b"\n", 1)[1])["messages"][0]["content"] == "hi 3"


async def test_a_post_lost_after_it_was_sent_is_not_sent_again(server):
    [lost, keyed] = await gather_fetch.fetch(
        [
            {"url": server.url("/drop-after-read/py-post"), "json": {}},
            {"url": server.url("/drop-after-read/py-keyed"), "json": {},
             "headers": {"Idempotency-Key": "k-1"}},
        ],
        retries=2, retry_delay=0.01, return_exceptions=True,
    )
    assert isinstance(lost, gather_fetch.ConnectError)
    assert lost.retries == 0 and "not sent again" in str(lost)
    assert isinstance(keyed, gather_fetch.ConnectError) and keyed.retries == 2
    counts = await gather_fetch.fetch([server.url("/count/py-post"), server.url("/count/py-keyed")])
    assert counts[0].text == "1", "processed once"
    assert int(counts[1].text) >= 3


async def test_a_bad_request_object_fails_where_it_is_made():
    with pytest.raises(ValueError, match="two bodies"):
        gather_fetch.Request("http://127.0.0.1/", json={}, body_text="x")
    with pytest.raises(TypeError, match="url must be a str"):
        gather_fetch.Request(b"http://127.0.0.1/")  # type: ignore[arg-type]
    request = gather_fetch.Request("http://127.0.0.1/", json={}, id=3)
    assert (request.method, request.id, request.url) == ("POST", 3, "http://127.0.0.1/")


async def test_a_bad_base_url_is_refused_before_anything_is_sent():
    with pytest.raises(ValueError, match="base_url"):
        await gather_fetch.fetch(["/a"], base_url="ftp://example.com/")
