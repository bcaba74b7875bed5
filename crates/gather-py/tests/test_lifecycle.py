"""The life around a call: cancelling it, leaving a loop early, the event
loop staying responsive, memory that does not grow with the input, several
loops and threads, a script with no loop and its Ctrl-C."""

from __future__ import annotations

import asyncio
import os
import pathlib
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import gather_fetch

pytestmark = pytest.mark.asyncio


def established_to(port: int) -> int:
    """Connections of this machine to 127.0.0.1:port that are open (the
    client side), from /proc/net/tcp."""
    count = 0
    for line in pathlib.Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        remote, state = fields[2], fields[3]
        if state == "01" and int(remote.split(":")[1], 16) == port:
            count += 1
    return count


def threads() -> int:
    return len(os.listdir("/proc/self/task"))


async def test_cancelling_the_awaiting_task_stops_the_engine(holding):
    port = int(holding.base.rsplit(":", 1)[1])
    urls = (holding.base + f"/{i}" for i in range(10_000))
    task = asyncio.ensure_future(gather_fetch.fetch(urls, limit=32, per_host=0, timeout=60))
    deadline = time.monotonic() + 10
    while len(holding.requests) < 32 and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    assert len(holding.requests) == 32, "32 requests in flight, held by the server"
    assert established_to(port) == 32
    task.cancel()
    cancelled_at = time.monotonic()
    with pytest.raises(asyncio.CancelledError):
        await task
    # In flight: dropped, with their connections, within 100 ms.
    while established_to(port) and time.monotonic() < cancelled_at + 2:
        await asyncio.sleep(0.005)
    assert established_to(port) == 0
    assert time.monotonic() - cancelled_at < 0.1 + 0.05, "dropped within 100 ms (+ polling)"
    # None started after the cancel.
    await asyncio.sleep(0.3)
    assert len(holding.requests) == 32
    assert holding.open == 0


async def test_asyncio_timeout_around_fetch_cancels_it(holding):
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        async with asyncio_timeout(0.3):
            await gather_fetch.fetch([holding.base + f"/{i}" for i in range(100)], timeout=60)
    assert time.monotonic() - started < 2
    await asyncio.sleep(0.2)
    assert holding.open == 0


def asyncio_timeout(seconds: float):
    if hasattr(asyncio, "timeout"):
        return asyncio.timeout(seconds)
    pytest.skip("asyncio.timeout needs Python 3.11")


async def test_leaving_as_completed_early_stops_the_rest(server, holding):
    urls = [server.url(f"/page/{i}") for i in range(5)] + [holding.base + "/held"] * 20
    seen = []
    async for index, page in gather_fetch.as_completed(urls, limit=25, per_host=0):
        seen.append(index)
        if len(seen) == 3:
            break
    # The iterator is dropped at the break: its run is cancelled.
    deadline = time.monotonic() + 2
    while holding.open and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    assert holding.open == 0
    assert len(seen) == 3


async def test_as_completed_yields_each_result_as_it_finishes(server):
    urls = [server.url(f"/page/{i}?delay_ms={ms}") for i, ms in enumerate([300, 0, 150])]
    order = [index async for index, _ in gather_fetch.as_completed(urls)]
    assert order == [1, 2, 0]


async def test_stream_yields_in_input_order_and_raises_the_first_failure_in_place(server):
    urls = [server.url(f"/page/{i}?delay_ms={(5 - i) * 30}") for i in range(5)]
    got = [(i, p.status) async for i, p in gather_fetch.stream(urls)]
    assert got == [(i, 200) for i in range(5)]
    items = []
    with pytest.raises(gather_fetch.ConnectError):
        async for index, page in gather_fetch.stream(
            [server.url("/page/0"), server.url("/reset"), server.url("/page/2")]
        ):
            items.append(index)
    assert items == [0]


async def test_a_slow_consumer_holds_back_the_requests_not_the_memory(holding):
    # Nothing is answered: with a window of 8, only 8 requests may start
    # however many the input has.
    stream = gather_fetch.stream((holding.base + f"/{i}" for i in range(10_000)),
                                 limit=64, window=8, per_host=0, timeout=60)
    consumer = asyncio.ensure_future(stream.__anext__())
    await asyncio.sleep(0.5)
    assert len(holding.requests) == 8
    consumer.cancel()
    await stream.aclose()


async def test_the_event_loop_is_never_blocked(server):
    """A 1 ms ticker in the same loop keeps running while 20,000 pages are
    fetched: the engine runs on its own threads, and results are made into
    objects a batch per turn of the loop. (How late it runs, against the
    command line doing the same fetch beside it, is a benchmark:
    ``scripts/bench_loop.py``; here, only that the loop was not held.)"""
    lateness: list[float] = []
    stop = asyncio.Event()

    async def ticker():
        loop = asyncio.get_running_loop()
        next_tick = loop.time()
        while not stop.is_set():
            next_tick += 0.001
            await asyncio.sleep(max(0.0, next_tick - loop.time()))
            lateness.append(loop.time() - next_tick)

    tick = asyncio.ensure_future(ticker())
    await asyncio.sleep(0.05)
    before = len(lateness)
    pages = await gather_fetch.fetch(
        (server.url(f"/page/{i}") for i in range(20_000)), limit=64, per_host=0,
    )
    during = len(lateness) - before
    stop.set()
    await tick
    assert len(pages) == 20_000
    lateness.sort()
    print(f"ticks {during}, p99 late {lateness[int(len(lateness) * 0.99)] * 1e3:.2f} ms, "
          f"max {lateness[-1] * 1e3:.2f} ms")
    # A loop held for the fetch (results made all at once, a blocking
    # wait) ticks a handful of times; a free one hundreds.
    assert during >= 100, f"the ticker ran {during} times during the fetch"


async def test_several_event_loops_in_threads_at_once(server):
    results: dict[int, list[int]] = {}

    def in_thread(n: int) -> None:
        async def main():
            return await gather_fetch.fetch([server.url(f"/page/{n}-{i}") for i in range(200)])
        results[n] = [p.status for p in asyncio.run(main())]

    workers = [threading.Thread(target=in_thread, args=(n,)) for n in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=60)
    assert results == {n: [200] * 200 for n in range(4)}


async def test_no_thread_is_left_behind(server):
    await gather_fetch.fetch([server.url("/page/0")])
    await asyncio.sleep(0.1)
    before = threads()
    for _ in range(5):
        await gather_fetch.fetch([server.url(f"/page/{i}") for i in range(100)])
    await asyncio.sleep(0.2)
    # The engine's runtime is shared (made once per process); the feeder
    # thread of each call ends with its input; a few blocking-pool threads
    # may idle for a while, as tokio's do.
    assert threads() <= before + 4
