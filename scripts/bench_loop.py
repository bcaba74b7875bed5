#!/usr/bin/env python3
"""How late a 1 ms ticker runs in an event loop while 20,000 pages are
fetched: by `gather_fetch.fetch` in that loop, and by the command line
(`gather fetch --body`, the same engine) in another process, the ticker's
loop only waiting for it. The second is the floor: what a loop suffers
from a busy neighbour on the same cores, with nothing of the fetch on its
thread. The ratio of the two worst lateness figures is the package's own
cost to the loop.

Pages come from the page server (`gather-pageserver`, 127.0.0.1, a process
of its own), every program at its defaults. Medians of 5 interleaved
rounds (1 with --quick); ratios are taken within a round.

    python3 scripts/bench_loop.py [--quick] [--write]

With --write, records the table in docs/benchmarks.md (its own section).
"""
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_cli  # noqa: E402  (the section writer)
import bench_latency  # noqa: E402  (the build and the package in target/py)

QUICK = "--quick" in sys.argv
ROUNDS = 1 if QUICK else 5
PAGES = 20_000
START, END = "<!-- bench_loop:start -->", "<!-- bench_loop:end -->"
OUT = []

TICKER = """
import asyncio, sys
# Imported first, as a program does: the ticker measures the fetch.
if sys.argv[1] == "package":
    import gather_fetch

async def main(mode, urls_file, gather):
    loop = asyncio.get_running_loop()
    lateness = []
    stop = asyncio.Event()

    async def ticker():
        next_tick = loop.time()
        while not stop.is_set():
            next_tick += 0.001
            await asyncio.sleep(max(0.0, next_tick - loop.time()))
            lateness.append(loop.time() - next_tick)

    tick = asyncio.ensure_future(ticker())
    await asyncio.sleep(0.05)
    if mode == "package":
        urls = [line.strip() for line in open(urls_file) if line.strip()]
        pages = await gather_fetch.fetch(urls)
        assert all(p.status == 200 for p in pages), "a page failed"
    else:
        proc = await asyncio.create_subprocess_exec(
            gather, "fetch", "-q", "--body", urls_file, "-o", "/dev/null")
        assert await proc.wait() == 0, "gather fetch failed"
    stop.set()
    await tick
    lateness.sort()
    n = len(lateness)
    print(n, lateness[n // 2] * 1e3, lateness[int(n * 0.99)] * 1e3, lateness[-1] * 1e3)

asyncio.run(main(*sys.argv[1:]))
"""


def say(line=""):
    print(line, flush=True)
    OUT.append(line)


def main():
    bench_latency.prepare()
    work = bench_latency.WORK
    script = work / "ticker.py"
    script.write_text(TICKER)
    server = subprocess.Popen([str(bench_latency.PAGESERVER)], stdout=subprocess.PIPE, text=True)
    base = server.stdout.readline().strip()
    urls = work / "loop-urls.txt"
    urls.write_text("".join(f"{base}/page/{i}\n" for i in range(PAGES)))
    modes = {
        "gather_fetch.fetch(urls) in the loop": "package",
        "gather fetch --body in another process": "cli",
    }
    got = {name: [] for name in modes}
    try:
        for _ in range(ROUNDS):
            for name, mode in modes.items():
                out = subprocess.run(
                    [str(bench_latency.PY), str(script), mode, str(urls), str(bench_latency.GATHER)],
                    capture_output=True, text=True, timeout=600, check=True)
                ticks, p50, p99, worst = out.stdout.split()
                got[name].append((int(ticks), float(p50), float(p99), float(worst)))
    finally:
        server.terminate()
        server.wait()

    say(START)
    say("## The event loop beside a fetch (`scripts/bench_loop.py`)\n")
    say(f"Recorded {time.strftime('%Y-%m-%d')} on {os.uname().nodename} ({os.cpu_count()} cores), "
        f"{ROUNDS} round(s): a 1 ms ticker's lateness in milliseconds while {PAGES:,} pages are "
        "fetched from the page server on 127.0.0.1, medians of the rounds.\n")
    say("| the fetch | ticks | p50 | p99 | worst | worst / the CLI's |")
    say("|---|---|---|---|---|---|")
    cli = "gather fetch --body in another process"
    ratios = {}
    for name in modes:
        rows = got[name]
        ratios[name] = statistics.median(r[3] / c[3] for r, c in zip(rows, got[cli]))
        med = [statistics.median(r[i] for r in rows) for i in range(4)]
        say(f"| {name} | {med[0]:,.0f} | {med[1]:.2f} | {med[2]:.2f} | {med[3]:.2f} | "
            f"{ratios[name]:.2f}x |")
    package = ratios["gather_fetch.fetch(urls) in the loop"]
    say(f"\n**Target (issue #37):** {'met' if package <= 1.5 else 'NOT met'}: the ticker's worst "
        f"lateness beside `gather_fetch.fetch` is {package:.2f}x that beside the command line "
        "(at most 1.5x).")
    say(END)
    if "--write" in sys.argv:
        bench_cli.write_section(OUT, START, END)


if __name__ == "__main__":
    main()
