"""The seed's own code, for the CLI benchmark: aiohttp + asyncio.gather,
with at most 64 connections. Reads URLs from a file, prints how many pages
it fetched.

    python3 fetch_aiohttp.py URLS_FILE [uvloop]
"""
import asyncio
import sys

import aiohttp


async def fetch_page(session, url):
    async with session.get(url) as response:
        return await response.text()


async def main(urls):
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as session:
        results = await asyncio.gather(*[fetch_page(session, url) for url in urls])
        return results


urls = [line.strip() for line in open(sys.argv[1]) if line.strip()]
if len(sys.argv) > 2 and sys.argv[2] == "uvloop":
    import uvloop
    results = uvloop.run(main(urls))
else:
    results = asyncio.run(main(urls))
print(len(results))
