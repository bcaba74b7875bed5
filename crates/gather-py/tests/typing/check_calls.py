"""What a type checker must say of calls to gather_fetch (never run, only
checked: ``scripts/typecheck_py.sh`` runs ``mypy --strict`` and pyright
in strict mode on it). ``assert_type`` pins what a call gives; a line
ending in ``# type: ignore[...]`` must be an error, since both checkers
are told to report an ignore that is not needed."""

from __future__ import annotations

from typing import List, Tuple, Union

from typing_extensions import assert_type

import gather_fetch
from gather_fetch import FetchError, Response


async def results(urls: List[str]) -> None:
    # Without return_exceptions, only responses: `page.text` checks.
    pages = await gather_fetch.fetch(urls)
    assert_type(pages, List[Response])
    texts = [page.text for page in pages]
    assert_type(texts, List[str])

    # With it, failures in place.
    mixed = await gather_fetch.fetch(urls, return_exceptions=True)
    assert_type(mixed, List[Union[Response, FetchError]])
    flag = bool(len(urls))
    either = await gather_fetch.fetch(urls, return_exceptions=flag)
    assert_type(either, List[Union[Response, FetchError]])

    async for pair in gather_fetch.stream(urls, window=64):
        assert_type(pair, Tuple[int, Response])
    async for index, result in gather_fetch.as_completed(urls, return_exceptions=True):
        assert_type(index, int)
        assert_type(result, Union[Response, FetchError])

    done = gather_fetch.fetch_sync(urls, limit=8)
    assert_type(done, List[Response])


async def options(urls: List[str]) -> None:
    # Every option is typed, on every call.
    await gather_fetch.fetch(
        urls, limit=64, per_host="auto", timeout=None, max_bytes=None, retries=2,
        headers={"x-a": "1"}, http_version="2", save_dir="out", raise_for_status=True,
    )
    await gather_fetch.fetch(urls, limt=3)  # type: ignore[call-overload]
    await gather_fetch.fetch(urls, timeout="5s")  # type: ignore[call-overload]
    await gather_fetch.fetch(urls, http_version="3")  # type: ignore[call-overload]
    await gather_fetch.fetch(urls, window=8)  # type: ignore[call-overload]
    gather_fetch.stream(urls, per_host="many")  # type: ignore[call-overload]
    gather_fetch.fetch_sync(urls, limt=3)  # type: ignore[call-overload]


def errors(e: FetchError) -> None:
    if isinstance(e, gather_fetch.StatusError):
        assert_type(e.status, int)
        if e.response is not None:
            assert_type(e.response.status, int)
    assert_type(e.url, str)


async def client(urls: List[str]) -> None:
    async with gather_fetch.Client(limit=64, raise_for_status=True) as c:
        assert_type(await c.get(urls[0]), Response)
        assert_type(await c.request("POST", urls[0], json={"a": 1}), Response)
        assert_type(await c.fetch(urls), List[Response])
        assert_type(await c.fetch(urls, return_exceptions=True), List[Union[Response, FetchError]])
        async for pair in c.stream(urls, window=8):
            assert_type(pair, Tuple[int, Response])
        await c.fetch(urls, limit=3)  # type: ignore[call-overload]
    gather_fetch.Client(limt=3)  # type: ignore[call-arg]
