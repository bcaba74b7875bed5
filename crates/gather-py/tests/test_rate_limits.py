"""A rate-limited API, as the providers people call from Python run them:
the page server's API mode (request and token budgets enforced per
second, 429s with ``Retry-After``, a count of requests processed twice),
started per test with its limits."""

from __future__ import annotations

import json
import subprocess
import urllib.request

import pytest

import gather_fetch
from conftest import _pageserver_binary

pytestmark = pytest.mark.asyncio


class Api:
    def __init__(self, base: str) -> None:
        self.base = base

    def stats(self) -> dict:
        with urllib.request.urlopen(self.base + "/v1/stats", timeout=10) as answer:
            return json.load(answer)


@pytest.fixture
def api():
    """Starts an API with the given ``--api-*`` flags; stops it after."""
    started = []

    def start(*flags: str) -> Api:
        proc = subprocess.Popen([str(_pageserver_binary()), *flags, "--for", "300"],
                                stdout=subprocess.PIPE, text=True)
        started.append(proc)
        assert proc.stdout is not None
        base = proc.stdout.readline().strip()
        assert base.startswith("http://127.0.0.1:"), base
        return Api(base)

    yield start
    for proc in started:
        proc.kill()
        proc.wait(timeout=10)


def chat(i: int) -> dict:
    """A line of an OpenAI Batch API file, loaded: each body is its own
    (the server counts a body processed twice)."""
    return {"custom_id": f"req-{i}", "method": "POST", "url": "/v1/chat/completions",
            "body": {"model": "m", "max_tokens": 40,
                     "messages": [{"role": "user", "content": f"question {i} " + "x" * 80}]}}


async def test_a_batch_is_paced_by_the_limits_the_api_announces(api):
    # 50 requests and 4,000 tokens a second (about 36 of these requests).
    server = api("--api-rpm", "3000", "--api-tpm", "240000", "--api-burst-s", "1")
    n = 150
    answers = await gather_fetch.fetch((chat(i) for i in range(n)), base_url=server.base,
                                       retries=8)
    assert [a.id for a in answers] == [f"req-{i}" for i in range(n)], "in input order"
    assert all(a.status == 200 for a in answers)
    assert answers[7].json()["object"] == "chat.completion"
    stats = server.stats()
    assert stats["processed"] == n
    assert stats["duplicates"] == 0, "none processed twice"
    assert stats["limited"] * 50 <= n, f"{stats['limited']} 429s (at most 2%)"


async def test_tokens_per_minute_paces_an_api_that_announces_nothing(api):
    # 500 tokens a second, said nowhere but in the API's documentation;
    # each request costs the server 16 tokens asked for plus its body's
    # size / 4, as the estimate counts it.
    flags = ["--api-headers", "none", "--api-rpm", "1000000", "--api-tpm", "30000",
             "--api-burst-s", "1"]
    requests = [{"url": "/v1/x", "json": {"max_tokens": 16, "q": i}} for i in range(60)]
    paced = api(*flags)
    answers = await gather_fetch.fetch(requests, base_url=paced.base, tokens_per_minute=30000)
    assert [a.status for a in answers] == [200] * 60
    assert paced.stats()["limited"] <= 1
    # The same without it runs into the limit (nothing retried; the first
    # 429's Retry-After pauses the host, so only the first burst is lost).
    flood = api(*flags)
    answers = await gather_fetch.fetch(requests, base_url=flood.base)
    assert flood.stats()["limited"] >= 3
    assert sum(a.status == 429 for a in answers) == flood.stats()["limited"]


async def test_server_limits_false_ignores_what_the_api_announces(api):
    server = api("--api-rpm", "60", "--api-burst-s", "1")
    requests = [{"url": "/v1/x", "json": {"q": i}} for i in range(20)]
    answers = await gather_fetch.fetch(requests, base_url=server.base, server_limits=False)
    assert sum(a.status == 429 for a in answers) >= 10


async def test_a_requests_tokens_are_checked():
    request = gather_fetch.Request("http://127.0.0.1:9/", json={"max_tokens": 5}, tokens=70)
    assert "tokens=70" in repr(request)
    for bad in (-1, 1.5, True, "7"):
        with pytest.raises(ValueError, match="tokens"):
            gather_fetch.Request("http://127.0.0.1:9/", tokens=bad)  # type: ignore[arg-type]
    [failed] = await gather_fetch.fetch([{"url": "http://127.0.0.1:9/", "tokens": -3}],
                                        return_exceptions=True)
    assert isinstance(failed, gather_fetch.InvalidRequest)
    assert "whole number" in str(failed)
    with pytest.raises(ValueError, match="tokens_per_minute"):
        await gather_fetch.fetch([], tokens_per_minute=0)
    with pytest.raises(TypeError, match="server_limits"):
        await gather_fetch.fetch([], server_limits="no")  # type: ignore[call-overload]
