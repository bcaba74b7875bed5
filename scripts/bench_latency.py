#!/usr/bin/env python3
"""`gather fetch` and `gather_fetch.fetch` at their defaults where users are:
a site 100 ms away, a site of limited capacity, one that sheds load, one
whose capacity changes mid-run, ten sites at once, and nginx on loopback.
Kindness is judged from the server's side: the page server's capacity mode
(`gather-pageserver --workers W --service-ms S`) says how many requests
waited in its queue, averaged over time, and how many it shed.

Peers, in the same rounds: the article's program (aiohttp +
asyncio.gather with a default `ClientSession`: 100 connections), and
`curl --parallel` at its default of 50. Each figure is the median of 3
interleaved rounds (1 with --quick); ratios are taken within a round.

    python3 scripts/bench_latency.py [--quick] [--write]

Builds the release binaries, installs aiohttp into scripts/.venv and the
Python package into target/py, and nginx and GNU time from Debian if
missing. With --write, records the tables in docs/benchmarks.md (their own
section; the rest of the file is kept).
"""
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_cli  # noqa: E402  (its helpers: nginx, timed runs, the venv, the section writer)

ROOT = Path(__file__).resolve().parent.parent
QUICK = "--quick" in sys.argv
ROUNDS = 1 if QUICK else 3
GATHER = ROOT / "target" / "release" / "gather"
PAGESERVER = ROOT / "target" / "release" / "gather-pageserver"
PY = ROOT / "target" / "py" / "bin" / "python"
WORK = Path(os.environ.get("TMPDIR", "/tmp")) / f"gather-bench-latency-{os.getpid()}"
START, END = "<!-- bench_latency:start -->", "<!-- bench_latency:end -->"
OUT = []

ARTICLE = """
import asyncio, sys
import aiohttp

async def fetch_page(session, url):
    async with session.get(url) as response:
        return await response.text()

async def main(urls):
    async with aiohttp.ClientSession() as session:
        return await asyncio.gather(*[fetch_page(session, url) for url in urls])

urls = [line.strip() for line in open(sys.argv[1]) if line.strip()]
print(len(asyncio.run(main(urls))))
"""

PYTHON_FETCH = """
import asyncio, sys
import gather_fetch

urls = [line.strip() for line in open(sys.argv[1]) if line.strip()]
pages = asyncio.run(gather_fetch.fetch(urls))
assert all(p.status == 200 for p in pages)
print(len(pages))
"""


def say(line=""):
    print(line, flush=True)
    OUT.append(line)


def prepare():
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "gather-cli", "-p", "gather-pageserver"],
                   cwd=ROOT, check=True)
    venv_py = bench_cli.ensure_tools()
    if not PY.exists():
        subprocess.run([sys.executable, "-m", "venv", str(ROOT / "target" / "py")], check=True)
    if subprocess.run([str(PY), "-c", "import gather_fetch"], capture_output=True).returncode != 0:
        subprocess.run([str(PY), "-m", "pip", "install", "-q", "maturin"], check=True)
        subprocess.run([str(PY), "-m", "pip", "install", "-q", str(ROOT / "crates" / "gather-py")], check=True)
    WORK.mkdir(parents=True, exist_ok=True)
    (WORK / "article.py").write_text(ARTICLE)
    (WORK / "python_fetch.py").write_text(PYTHON_FETCH)
    return venv_py


class Site:
    """A page server in capacity mode, stopped when done."""

    def __init__(self, workers, service_ms, shed_after=None):
        args = [str(PAGESERVER), "--workers", str(workers), "--service-ms", str(service_ms), "--for", "3600"]
        if shed_after is not None:
            args += ["--shed-after", str(shed_after)]
        self.p = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        self.base = self.p.stdout.readline().strip()

    def get(self, path):
        with urllib.request.urlopen(self.base + path, timeout=10) as r:
            return r.read()

    def stats(self):
        return json.loads(self.get("/stats"))["capacity"]

    def reset(self):
        self.get("/reset-stats")

    def urls(self, name, n):
        path = WORK / f"{name}-{n}.txt"
        path.write_text("".join(f"{self.base}/page/{i}\n" for i in range(n)))
        return path

    def stop(self):
        self.p.terminate()
        self.p.wait()


def run(args, timeout=900):
    """Seconds a program took (start-up included), and its standard output."""
    secs, _, out = bench_cli.timed(args, timeout=timeout)
    return secs, out


def gather(urls, *flags):
    return [str(GATHER), "fetch", "-q", *flags, str(urls), "-o", str(WORK / "out.jsonl")]


def statuses():
    return [json.loads(line).get("status") for line in (WORK / "out.jsonl").read_text().splitlines()]


def median(xs):
    return statistics.median(xs)


def far_site(venv_py):
    """1. A site 100 ms away (unlimited capacity), no flags."""
    say("### A site 100 ms away, no flags\n")
    say("Every page (5,436 bytes) answered 100 ms after it is asked for, whatever the load "
        "(`gather-pageserver --workers 100000 --service-ms 100`). Seconds, median of the rounds; "
        "the ratios are gather's time over the peer's, round by round.\n")
    site = Site(100_000, 100)
    programs = {
        "gather fetch urls.txt": lambda u: gather(u),
        "gather_fetch.fetch(urls)": lambda u: [str(PY), str(WORK / "python_fetch.py"), str(u)],
        "the article's aiohttp program": lambda u: [str(venv_py), str(WORK / "article.py"), str(u)],
        "curl --parallel (its default of 50)": lambda u: ["curl", "--parallel", "-s", "-K", str(curl_config(u))],
    }
    say("| pages | program | time (s) | range | gather fetch / it | gather_fetch.fetch / it |")
    say("|---|---|---|---|---|---|")
    met = []
    for n in [1_000] if QUICK else [1_000, 10_000]:
        urls = site.urls("far", n)
        times = {name: [] for name in programs}
        for _ in range(ROUNDS):
            for name, args in programs.items():
                times[name].append(run(args(urls))[0])
        for name in programs:
            g = median([a / b for a, b in zip(times["gather fetch urls.txt"], times[name])])
            p = median([a / b for a, b in zip(times["gather_fetch.fetch(urls)"], times[name])])
            t = times[name]
            say(f"| {n:,} | {name} | {median(t):.2f} | {min(t):.2f}-{max(t):.2f} | "
                f"{g:.2f}x | {p:.2f}x |")
            if name.startswith("the article"):
                met.append((f"{n:,} pages: gather fetch {g:.2f}x and gather_fetch.fetch {p:.2f}x the article's "
                            f"program (target at most 1.0x)", g <= 1.0 and p <= 1.0))
            if name.startswith("curl"):
                met.append((f"{n:,} pages: gather fetch {g:.2f}x curl --parallel's time (target at most 0.5x)",
                            g <= 0.5))
    site.stop()
    return met


def curl_config(urls):
    cfg = Path(str(urls) + ".curl")
    cfg.write_text("".join(f'url = "{u.strip()}"\noutput = "/dev/null"\n' for u in open(urls) if u.strip()))
    return cfg


def small_site(venv_py):
    """2. 16 workers of 20 ms, 2,000 pages: the window against fixed ones."""
    say("\n### A site of 16 workers, 20 ms each (2,000 pages)\n")
    say("Beyond 16 at once, requests wait in the server's queue (first come, first served). "
        "`waiting` is the queue's length averaged over the run, as the server saw it.\n")
    site = Site(16, 20)
    urls = site.urls("small", 2_000)
    programs = {
        "gather fetch (default: --per-host auto)": gather(urls),
        "gather fetch --per-host 8": gather(urls, "--per-host", "8"),
        "gather fetch --per-host 16": gather(urls, "--per-host", "16"),
        "gather fetch --per-host 64": gather(urls, "--per-host", "64"),
        "the article's aiohttp program (100 connections)": [str(venv_py), str(WORK / "article.py"), str(urls)],
    }
    times = {name: [] for name in programs}
    waiting = {name: [] for name in programs}
    for _ in range(ROUNDS):
        for name, args in programs.items():
            site.reset()
            times[name].append(run(args)[0])
            waiting[name].append(site.stats()["mean_waiting"])
    say("| program | time (s) | range | waiting at the server (mean) |")
    say("|---|---|---|---|")
    for name in programs:
        say(f"| {name} | {median(times[name]):.2f} | {min(times[name]):.2f}-{max(times[name]):.2f} | "
            f"{median(waiting[name]):.1f} |")
    auto = "gather fetch (default: --per-host auto)"
    fixed = [n for n in programs if "--per-host " in n and n != auto]
    best = min(fixed, key=lambda n: median(times[n]))
    ratio = median([a / b for a, b in zip(times[auto], times[best])])
    site.stop()
    return [(f"16 workers: the default {ratio:.2f}x the best fixed ({best}: target at most 1.1x)", ratio <= 1.1),
            (f"16 workers: {median(waiting[auto]):.1f} waiting at the server on average (target at most 4)",
             median(waiting[auto]) <= 4)]


def shedding():
    """3. A site that sheds load beyond 8 waiting."""
    say("\n### A site that sheds load (16 workers of 20 ms, 503 beyond 8 waiting; 2,000 pages, `--retries 5`)\n")
    site = Site(16, 20, shed_after=8)
    urls = site.urls("shed", 2_000)
    shed, ok = [], []
    for _ in range(ROUNDS):
        site.reset()
        run(gather(urls, "--retries", "5"))
        shed.append(site.stats()["shed"])
        ok.append(sum(s == 200 for s in statuses()))
    site.stop()
    rate = median(shed) / 2_000
    say(f"Answered 503: {median(shed):.0f} of 2,000 requests ({rate:.1%}); pages answered 200 in the end: "
        f"{min(ok):,} of 2,000 in the worst round.\n")
    return [(f"shedding: {rate:.1%} answered 503 (target at most 2%), every page 200 in the end", rate <= 0.02
             and min(ok) == 2_000)]


def changing_capacity():
    """4. Capacity drops from 32 workers to 8 mid-run, then rises again."""
    say("\n### A site whose capacity changes (32 workers of 20 ms, then 8, then 32 again)\n")
    site = Site(32, 20)
    urls = site.urls("change", 12_000)
    samples = []
    stop = threading.Event()
    t0 = time.time()

    def sample():
        while not stop.is_set():
            s = site.stats()
            samples.append((time.time() - t0, s["waiting"], s["in_flight"]))
            time.sleep(0.05)

    proc = subprocess.Popen(gather(urls), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sampler = threading.Thread(target=sample)
    sampler.start()
    time.sleep(2.0)
    drop_at = time.time() - t0
    site.get("/capacity?workers=8")
    time.sleep(3.0)
    rise_at = time.time() - t0
    site.get("/capacity?workers=32")
    proc.wait(timeout=600)
    stop.set()
    sampler.join()
    site.stop()
    # The queue over the next half second (10 samples), averaged: under 4
    # from then on, until the rise. Only whole half seconds: the last few
    # samples before the rise are not a half second's average.
    after_drop = [(t, w) for t, w, _ in samples if drop_at <= t < rise_at]
    means = [(t, statistics.mean(w2 for _, w2 in after_drop[i:i + 10]))
             for i, (t, _) in enumerate(after_drop[:len(after_drop) - 9])]
    settled = next((t - drop_at for i, (t, _) in enumerate(means) if all(m < 4 for _, m in means[i:])), None)
    after_rise = [(t, f) for t, _, f in samples if t >= rise_at]
    followed = next((t - rise_at for t, f in after_rise if f >= 28), None)
    said = lambda x: "never" if x is None else f"{x:.2f} s"  # noqa: E731
    say(f"After the drop to 8 workers the server's queue, averaged over half a second, was back under 4 for good after "
        f"**{said(settled)}**; after the rise to 32, 28 or more requests were in flight after **{said(followed)}**. "
        f"(Sampled every 50 ms from the server's `/stats`.)\n")
    return [(f"capacity drop: queue under 4 within {said(settled)} (target 2 s)", settled is not None and settled <= 2),
            (f"capacity rise: the window followed within {said(followed)} (target 5 s)",
             followed is not None and followed <= 5)]


def ten_origins():
    """5. Ten origins at once, each of its own latency and capacity."""
    say("\n### Ten sites at once\n")
    shapes = [(4, 50), (8, 20), (16, 20), (32, 10), (100_000, 100), (100_000, 50), (2, 20), (64, 5), (8, 100),
              (16, 50)]
    sites = [Site(w, s) for w, s in shapes]
    n = 150 if QUICK else 600
    mixed = WORK / "ten-mixed.txt"
    mixed.write_text("".join(f"{sites[j].base}/page/{i}\n" for i in range(n) for j in range(len(sites))))
    narrow = "--limit 256"
    # Per round: each site alone, then the ten together at the defaults
    # and with the limit on the wire the defaults had before (256, what
    # one origin's window grows to at most); ratios within the round.
    alone = [[] for _ in sites]
    together = {"defaults": [[] for _ in sites], narrow: [[] for _ in sites]}
    for _ in range(ROUNDS):
        for i, site in enumerate(sites):
            site.reset()
            run(gather(site.urls(f"ten-{i}", n)))
            alone[i].append(site.stats()["span_s"])
        for name, flags in [("defaults", []), (narrow, narrow.split())]:
            for site in sites:
                site.reset()
            run(gather(mixed, *flags))
            for i, site in enumerate(sites):
                together[name][i].append(site.stats()["span_s"])
    for site in sites:
        site.stop()
    say(f"{n} pages from each of ten page servers, alone (one run each) and together (one run, the lists "
        "interleaved), in each of the rounds. The time is the server's: its first request's arrival to its last "
        "answer; the ratio is together over alone within a round, the median of the rounds. At the defaults the "
        "output is in input order, and a site's requests that its window has no room for wait as jobs in its "
        "own queue while the other sites' go ahead (`crates/gather-http/src/dispatch.rs`), within a reorder "
        "window of 64x the limit. One site's window grows to 256 at most, and the run's limit on the wire is "
        "twice that (512), so that a far site alone and the same site beside nine others get the same window. "
        "The last column is the limit of 256 the defaults had before, which one far site could fill alone: "
        "the others then waited for its permits, first come, first served.\n")
    say(f"| site | alone (s) | together, defaults (s) | ratio | together, {narrow} (s) | ratio |")
    say("|---|---|---|---|---|---|")
    worst = {name: 0.0 for name in together}
    for i, (w, s) in enumerate(shapes):
        workers = "unlimited" if w >= 100_000 else f"{w} workers"
        ratios = {name: median([t / a for t, a in zip(together[name][i], alone[i])]) for name in together}
        t1, t2 = median(together["defaults"][i]), median(together[narrow][i])
        say(f"| {workers}, {s} ms | {median(alone[i]):.2f} | {t1:.2f} | {ratios['defaults']:.2f}x | {t2:.2f} | "
            f"{ratios[narrow]:.2f}x |")
        for name in together:
            worst[name] = max(worst[name], ratios[name])
    return [(f"ten sites at the defaults (in-order output): the slowest "
             f"{worst['defaults']:.2f}x its time alone (target at most 1.2x; with {narrow}, the limit "
             f"before, {worst[narrow]:.2f}x)", worst["defaults"] <= 1.2)]


def nginx():
    """6. nginx on loopback, no flags, against --per-host 64."""
    say("\n### nginx on loopback\n")
    port, gz, h2 = bench_cli.free_port(), bench_cli.free_port(), bench_cli.free_port()
    p = bench_cli.start_nginx(port, gz, h2)
    base = f"http://127.0.0.1:{port}"
    met = []
    say("| pages | program | req/s | range | default / --per-host 64 |")
    say("|---|---|---|---|---|")
    try:
        for n in [2_000] if QUICK else [20_000, 100_000]:
            urls = WORK / f"nginx-{n}.txt"
            urls.write_text("".join(f"{base}/page-{i % 1000}.html\n" for i in range(n)))
            rates = {"gather fetch (defaults)": [], "gather fetch --per-host 64": []}
            for _ in range(ROUNDS):
                rates["gather fetch (defaults)"].append(n / run(gather(urls))[0])
                rates["gather fetch --per-host 64"].append(n / run(gather(urls, "--per-host", "64"))[0])
            ratio = median([a / b for a, b in zip(*rates.values())])
            for name, r in rates.items():
                say(f"| {n:,} | {name} | {median(r):,.0f} | {min(r):,.0f}-{max(r):,.0f} | "
                    f"{ratio:.2f}x |" if name.endswith("(defaults)") else
                    f"| {n:,} | {name} | {median(r):,.0f} | {min(r):,.0f}-{max(r):,.0f} | |")
            met.append((f"nginx, {n:,} pages: the default at {ratio:.2f}x the rate of --per-host 64 (target at least 0.9x)",
                        ratio >= 0.9))
    finally:
        bench_cli.stop_nginx(p)
    return met


def main():
    venv_py = prepare()
    say(START)
    say("## At the defaults, where users are (`scripts/bench_latency.py`)\n")
    say(f"Recorded {time.strftime('%Y-%m-%d')} on {os.uname().nodename} ({os.cpu_count()} cores), "
        f"{ROUNDS} round(s); servers on 127.0.0.1 sharing the cores.\n")
    met = []
    for part in (lambda: far_site(venv_py), lambda: small_site(venv_py), shedding, changing_capacity,
                 ten_origins, nginx):
        met += part()
    say("\n**Targets (issue #36):**\n")
    for line, ok in met:
        say(f"- {'met' if ok else 'NOT met'}: {line}")
    say(END)
    if "--write" in sys.argv:
        bench_cli.write_section(OUT, START, END)


if __name__ == "__main__":
    main()
