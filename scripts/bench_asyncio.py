"""Python's side of the benchmark: asyncio.gather over N yield-once
coroutines (`await asyncio.sleep(0)`), results in order. Prints one JSON
line: every run's seconds and the process's peak RSS.

    python3 bench_asyncio.py N RUNS [uvloop]
"""
import asyncio
import json
import resource
import sys
import time


async def child(i):
    await asyncio.sleep(0)
    return i


async def gather_all(n):
    start = time.perf_counter()
    results = await asyncio.gather(*(child(i) for i in range(n)))
    took = time.perf_counter() - start
    assert len(results) == n and results[0] == 0 and results[-1] == n - 1
    return took


def main():
    n, runs = int(sys.argv[1]), int(sys.argv[2])
    use_uvloop = len(sys.argv) > 3 and sys.argv[3] == "uvloop"
    if use_uvloop:
        import uvloop
        run = uvloop.run
    else:
        run = asyncio.run
    seconds = [run(gather_all(n)) for _ in range(runs)]
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(json.dumps({"python": sys.version.split()[0], "uvloop": use_uvloop, "n": n,
                      "seconds": seconds, "peak_rss_kb": peak_kb}))


main()
