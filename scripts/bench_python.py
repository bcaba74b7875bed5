#!/usr/bin/env python3
"""`gather_fetch.fetch` (the Python package, crates/gather-py) against what
Python programs use for the same job, all fetching 5.5 KB pages from nginx
on 127.0.0.1, in one run:

- the seed article's program: aiohttp + asyncio.gather, one task per URL
  (no limit but aiohttp's pool of 100 connections);
- the same with an asyncio.Semaphore(64);
- httpx's AsyncClient + asyncio.gather with a Semaphore(64) (without one,
  20,000 tasks queued on its pool ran past 10 minutes: not run);
- pyreqwest (a Rust client, reqwest, driven per request from Python) +
  asyncio.gather with a Semaphore(64).

Each peer is installed from PyPI (aiohttp, httpx, pyreqwest) into
scripts/.venv, and gather-fetch with `pip install ./crates/gather-py`.
Every program runs in a process of its own, timed from outside, its peak
memory from GNU time; rounds are interleaved (each round runs every
program once) and the median is reported with the range. gather_fetch
runs with `per_host=64` so that it has the 64 connections the others
have (its default is 8 per host).

    python3 scripts/bench_python.py [--quick] [--write]

--write records the table in docs/benchmarks.md (its own section).

One row is not a Python program: `gather fetch --body` (the command line,
the same engine with no Python around it) over the same URL list, timed
the same way. It is the ceiling the package can approach on this machine:
what the engine does when nothing has to become a Python object.
"""
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_cli  # noqa: E402  (nginx, timing: shared with the CLI's benchmark)

ROOT = Path(__file__).resolve().parent.parent
QUICK = "--quick" in sys.argv
SIZES = [2_000] if QUICK else [20_000, 100_000]
RUNS = 1 if QUICK else 3
START, END = "<!-- bench_python:start -->", "<!-- bench_python:end -->"
OUT = []

PROGRAMS = {
    "gather_fetch.fetch (per_host=64)": """
        import asyncio, sys, gather_fetch
        async def main(urls):
            pages = await gather_fetch.fetch(urls, per_host=64)
            return [p.text for p in pages]
    """,
    "aiohttp + asyncio.gather (the article's program)": """
        import asyncio, sys, aiohttp
        async def fetch_page(session, url):
            async with session.get(url) as response:
                return await response.text()
        async def main(urls):
            async with aiohttp.ClientSession() as session:
                return await asyncio.gather(*[fetch_page(session, url) for url in urls])
    """,
    "aiohttp + asyncio.gather, Semaphore(64)": """
        import asyncio, sys, aiohttp
        async def main(urls):
            limit = asyncio.Semaphore(64)
            async def fetch_page(session, url):
                async with limit:
                    async with session.get(url) as response:
                        return await response.text()
            async with aiohttp.ClientSession() as session:
                return await asyncio.gather(*[fetch_page(session, url) for url in urls])
    """,
    "httpx.AsyncClient + asyncio.gather, Semaphore(64)": """
        import asyncio, sys, httpx
        async def main(urls):
            limit = asyncio.Semaphore(64)
            async def fetch_page(client, url):
                async with limit:
                    return (await client.get(url)).text
            limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
            async with httpx.AsyncClient(limits=limits) as client:
                return await asyncio.gather(*[fetch_page(client, url) for url in urls])
    """,
    "pyreqwest + asyncio.gather, Semaphore(64)": """
        import asyncio, sys
        from pyreqwest.client import ClientBuilder
        async def main(urls):
            limit = asyncio.Semaphore(64)
            async def fetch_page(client, url):
                async with limit:
                    response = await client.get(url).build().send()
                    return await response.text()
            async with ClientBuilder().build() as client:
                return await asyncio.gather(*[fetch_page(client, url) for url in urls])
    """,
}
# Appended to each: reads the URL file, runs main(), checks every page.
TAIL = """
urls = open(sys.argv[1]).read().split()
pages = asyncio.run(main(urls))
assert len(pages) == len(urls) and all("lorem ipsum" in p for p in pages)
print(len(pages))
"""
# The engine alone, for reference (see the module's docs).
ENGINE = "gather fetch --body --per-host 64 (the engine without Python; reference)"
STARTUP = "python -c 'import asyncio, gather_fetch' (start-up alone, spread over the requests; reference)"
SLOW = "httpx.AsyncClient + asyncio.gather, Semaphore(64)"
GATHER = "gather_fetch.fetch (per_host=64)"
ARTICLE = "aiohttp + asyncio.gather (the article's program)"


def say(line=""):
    print(line, flush=True)
    OUT.append(line)


def venv_python():
    venv = ROOT / "scripts" / ".venv"
    py = venv / "bin" / "python3"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                    "aiohttp", "httpx", "pyreqwest", "maturin"], check=True)
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                    "--force-reinstall", "--no-deps", str(ROOT / "crates" / "gather-py")], check=True)
    return py


def versions(py):
    code = ("import importlib.metadata as m;"
            "print(', '.join(f'{p} {m.version(p)}' for p in ['gather-fetch','aiohttp','httpx','pyreqwest']))")
    return subprocess.run([str(py), "-c", code], capture_output=True, text=True, check=True).stdout.strip()


def pin_group(pgid, cpu):
    """Pins every process of the group `pgid` (nginx's master and workers)
    to `cpu`."""
    pids = subprocess.run(["pgrep", "-g", str(pgid)], capture_output=True, text=True).stdout.split()
    for pid in pids:
        subprocess.run(["taskset", "-a", "-p", "-c", str(cpu), pid], capture_output=True, check=True)


def cpu_seconds(args, timeout=1800):
    """The user and system CPU seconds of a process pinned to core 1."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(["taskset", "-c", "1", *args], capture_output=True, text=True,
                         timeout=timeout, check=True).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), out


def cpu_per_request(py, scripts, gather, base, nginx):
    """Client CPU per request with the server on one core and the client
    on the other (issue #37): what the client itself spends, which the
    wall-clock rate hides when server and client share two cores."""
    n = 2_000 if QUICK else 20_000
    work = bench_cli.WORK
    urls = work / f"cpu-urls-{n}.txt"
    urls.write_text("".join(f"{base}/page-{i % 1000}.html\n" for i in range(n)))
    pin_group(nginx.pid, 0)
    programs = {name: [str(py), str(scripts[name]), str(urls)] for name in scripts if name != SLOW}
    programs[ENGINE] = [str(gather), "fetch", "-q", "--body", "--per-host", "64", str(urls), "-o", "/dev/null"]
    programs[STARTUP] = [str(py), "-c", "import asyncio, gather_fetch"]
    spent = {name: [] for name in programs}
    for _ in range(RUNS):
        for name, args in programs.items():
            secs, out = cpu_seconds(args)
            if name not in (ENGINE, STARTUP):
                assert out.strip() == str(n), (name, out)
            spent[name].append(secs / n * 1e6)
    say(f"\n### Client CPU per request, server and client on a core each\n")
    say(f"nginx pinned to core 0, each client to core 1 (`taskset`), {n:,} GETs; user + system CPU "
        f"of the client process per request, median of {RUNS} round(s); the ratio is taken within "
        "each round.\n")
    say("| program | CPU per request | / the article's program's |")
    say("|---|---|---|")
    for name in programs:
        ratio = statistics.median(a / b for a, b in zip(spent[name], spent[ARTICLE]))
        say(f"| {name} | {statistics.median(spent[name]):.1f} µs | {ratio:.2f}x |")
    ratio = statistics.median(a / b for a, b in zip(spent[GATHER], spent[ARTICLE]))
    say(f"\n**Target (issue #37):** {'met' if ratio <= 0.1 else 'NOT met'}: `gather_fetch.fetch` spends "
        f"{ratio:.2f}x the article's program's CPU per request (at most 0.1x).")
    floor = [(e + s) / a for e, s, a in zip(spent[ENGINE], spent[STARTUP], spent[ARTICLE])]
    over = statistics.median(g / (e + s) for g, e, s in zip(spent[GATHER], spent[ENGINE], spent[STARTUP]))
    say(f"\nThe engine without Python and Python's start-up alone, added, take "
        f"{statistics.median(floor):.2f}x the article's program's CPU per request, before a single "
        f"result is made a Python object; `gather_fetch.fetch` spends {over:.2f}x that sum.")


def main():
    bench_cli.ensure_tools()
    py = venv_python()
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "gather-cli"], cwd=ROOT, check=True)
    gather = ROOT / "target" / "release" / "gather"
    work = bench_cli.WORK
    work.mkdir(parents=True, exist_ok=True)
    scripts = {}
    for i, (name, body) in enumerate(PROGRAMS.items()):
        path = work / f"client-{i}.py"
        path.write_text(textwrap.dedent(body) + TAIL)
        scripts[name] = path
    port, gzip_port, h2_port = bench_cli.free_port(), bench_cli.free_port(), bench_cli.free_port()
    # 300 paragraphs: pages of about 5.5 KB, as the figures.
    nginx = bench_cli.start_nginx(port, gzip_port, h2_port, paragraphs=300)
    try:
        base = f"http://127.0.0.1:{port}"
        size = len((work / "www" / "page-1.html").read_bytes())
        say(START)
        say("## The Python package against aiohttp, httpx and pyreqwest\n")
        say(f"Recorded {time.strftime('%Y-%m-%d')} by `python3 scripts/bench_python.py{' --quick' if QUICK else ''}` "
            f"({versions(py)}; CPython {sys.version.split()[0]}): pages of {size:,} bytes from nginx on 127.0.0.1, "
            f"{os.cpu_count()} cores shared by client and server, each program in a process of its own, timed "
            f"from outside (start-up included), median of {RUNS} interleaved round{'s' if RUNS > 1 else ''}. "
            f"httpx runs once, at the smallest size only (it takes minutes per run).\n")
        say("| GETs | program | req/s (median) | range | peak memory | gather_fetch's req/s / program's | memory / program's |")
        say("|---|---|---|---|---|---|---|")
        headline = {}
        for n in SIZES:
            urls = work / f"urls-{n}.txt"
            urls.write_text("".join(f"{base}/page-{i % 1000}.html\n" for i in range(n)))
            runs = {}
            for round_ in range(RUNS):
                for name, script in scripts.items():
                    # httpx: one run, at the smallest size (minutes each).
                    if name == SLOW and (n != SIZES[0] or round_ > 0):
                        continue
                    secs, rss, out = bench_cli.timed([str(py), str(script), str(urls)], timeout=1800)
                    assert out.strip() == str(n), (name, out)
                    runs.setdefault(name, []).append((n / secs, rss))
                secs, rss, _ = bench_cli.timed([str(gather), "fetch", "-q", "--body", "--per-host", "64",
                                                str(urls), "-o", "/dev/null"], timeout=1800)
                runs.setdefault(ENGINE, []).append((n / secs, rss))
            rows = {k: (statistics.median(r for r, _ in v), statistics.median(m for _, m in v)) for k, v in runs.items()}
            g_rate, g_rss = rows[GATHER]
            for name, (rate, rss) in rows.items():
                spread = f"{min(r for r, _ in runs[name]):,.0f}-{max(r for r, _ in runs[name]):,.0f}"
                ratio = "" if name == GATHER else f"**{g_rate / rate:.1f}x**"
                mem = "" if name == GATHER else f"{g_rss / rss:.2f}x"
                say(f"| {n:,} | {name} | {rate:,.0f} | {spread} | {rss / 1024:.0f} MiB | {ratio} | {mem} |")
            peers = {k: v for k, v in rows.items() if k not in (GATHER, ENGINE)}
            best_name, (best_rate, _) = max(peers.items(), key=lambda kv: kv[1][0])
            article = rows[ARTICLE][0]
            headline[n] = (g_rate / article, g_rss / rows[ARTICLE][1], best_name, g_rate / best_rate,
                           rows[ENGINE][0] / article, g_rate / rows[ENGINE][0])
        for n, (speed, memory, best_name, lead, ceiling, of_engine) in headline.items():
            ahead = "ahead of" if lead > 1 else "behind"
            say(f"\nAt {n:,} pages `gather_fetch.fetch` does **{speed:.1f}x the requests per second of the "
                f"article's aiohttp program** in {memory:.2f}x its peak memory (targets: at least 10x, at most 1x), "
                f"and is {ahead} every other program measured: {lead:.1f}x the fastest of them ({best_name}). "
                f"The engine itself, with no Python around it (`gather fetch --body`), does {ceiling:.1f}x "
                f"the article's program on the same pages; the package keeps {of_engine:.2f}x of its rate.")
        cpu_per_request(py, scripts, gather, base, nginx)
        say(END)
    finally:
        bench_cli.stop_nginx(nginx)
        shutil.rmtree(work, ignore_errors=True)
    if "--write" in sys.argv:
        bench_cli.write_section(OUT, START, END)

if __name__ == "__main__":
    main()
