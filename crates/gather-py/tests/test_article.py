"""The article's program (``docs/``'s seed: an ``aiohttp.ClientSession``, a
``fetch_page`` coroutine, ``asyncio.gather``), rewritten line by line as
the package's README shows it, run as the article runs it."""

from __future__ import annotations

import asyncio

import gather_fetch


def test_the_article_program_rewritten(server):
    # The article:
    #     async def fetch_page(session, url):
    #         async with session.get(url) as response:
    #             return await response.text()
    #
    #     async def main(urls):
    #         async with aiohttp.ClientSession() as session:
    #             results = await asyncio.gather(*[fetch_page(session, url) for url in urls])
    #             return results
    async def main(urls):
        pages = await gather_fetch.fetch(urls)
        return [page.text for page in pages]

    urls = [server.url("/page/1"), server.url("/page/2"), server.url("/page/3")]
    loop = asyncio.new_event_loop()
    try:
        results = loop.run_until_complete(main(urls))
    finally:
        loop.close()
    assert results == [
        f"<!doctype html><title>page {n}</title><p>This is page {n}.</p>\n" for n in (1, 2, 3)
    ]


def test_the_article_program_with_return_exceptions(server):
    # The article:
    #     results = await asyncio.gather(*[fetch_page(session, url) for url in urls],
    #                                    return_exceptions=True)
    async def main(urls):
        pages = await gather_fetch.fetch(urls, return_exceptions=True)
        return [p if isinstance(p, Exception) else p.text for p in pages]

    urls = [server.url("/page/1"), "http://127.0.0.1:1/page2", server.url("/page/3")]
    results = asyncio.run(main(urls))
    first, last = results[0], results[2]
    assert isinstance(first, str) and isinstance(last, str)
    assert "page 1" in first and "page 3" in last
    assert isinstance(results[1], gather_fetch.ConnectError)
    assert isinstance(results[1], ConnectionError), "as aiohttp's ClientConnectorError is"
