#!/usr/bin/env python3
"""Calling a rate-limited API for every line: `gather fetch` against the
tools people use for the job, on the page server's rate-limited JSON API
(`gather-pageserver --api-rpm ...`, 127.0.0.1), in interleaved rounds.

    scripts/bench_api.py [--quick] [--write]

Each tool gets a fresh server (full buckets) and the same request file (chat
requests in the OpenAI Batch API's shape, each body its own), and is timed
from outside with GNU time (peak memory). The server counts what it
processed, refused (429) and processed twice. The limits bind: 1,200
requests a minute enforced per second (a burst of 20), as OpenAI says its
limits may be enforced, and a token budget.

- `gather fetch`: paced by the server's `x-ratelimit-*` fields, --retries 10.
- `gather fetch --no-server-limits`: the same, not reading them (a flood;
  only a 429's `retry-after-ms` pauses it).
- the OpenAI cookbook's pacing, REIMPLEMENTED from its documented behaviour
  (scripts/cookbook_pacing.py; aiohttp), given the exact limits and its
  default 5 attempts.
- `curl --parallel --json` from a config file (curl's --rate is ignored
  while parallel; no retries).

Then `gather fetch` alone on 2,000 requests (the size the issue's target
names: within 1.2x of the limits' optimum, 429s on at most 2%, none
processed twice), once; and, without limits that bind, POSTs from a
request file against GETs of the same URL list, requests per second, for
the cost of bodies and ids.

--write puts the table in docs/benchmarks.md (between bench_api markers).
"""

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import bench_cli  # noqa: E402  (GNU time, the venv, writing the section)

QUICK = "--quick" in sys.argv
N = 200 if QUICK else 400
RUNS = 1 if QUICK else 3
RPM, TPM, BURST_S = 1200, 60_000, 1.0
MAX_TOKENS = 40
START, END = "<!-- bench_api:start -->", "<!-- bench_api:end -->"
OUT = []
WORK = Path(os.environ.get("TMPDIR", "/tmp")) / f"gather-bench-api-{os.getpid()}"


def say(line=""):
    print(line, flush=True)
    OUT.append(line)


def requests_file(path, n):
    with open(path, "w") as f:
        for i in range(n):
            body = {"model": "m", "max_tokens": MAX_TOKENS,
                    "messages": [{"role": "user", "content": f"question {i} " + "x" * 80}]}
            f.write(json.dumps({"custom_id": f"req-{i}", "method": "POST",
                                "url": "/v1/chat/completions", "body": body}) + "\n")


def cost(line):
    body = json.dumps(json.loads(line)["body"], separators=(",", ":"))
    return (len(body.encode()) + 3) // 4 + MAX_TOKENS


def optimum(path):
    """The least time the limits allow: the budgets start full (a second's
    worth each) and refill at their rate."""
    costs = [cost(line) for line in open(path)]
    rate_r, rate_t = RPM / 60, TPM / 60
    cap_r, cap_t = rate_r * BURST_S, rate_t * BURST_S
    return max((len(costs) - cap_r) / rate_r, (sum(costs) - cap_t) / rate_t)


def start_server(gather_server, rpm=RPM, tpm=TPM):
    p = subprocess.Popen([str(gather_server), "--api-rpm", str(rpm), "--api-tpm", str(tpm),
                          "--api-burst-s", str(BURST_S), "--for", "900"],
                         stdout=subprocess.PIPE, text=True)
    base = p.stdout.readline().strip()
    return p, base


def stats(base):
    out = subprocess.run(["curl", "-s", base + "/v1/stats"], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def curl_config(path, base, requests, out_dir):
    entries = []
    for i, line in enumerate(open(requests)):
        r = json.loads(line)
        entries.append(f'url = "{base}{r["url"]}"\n'
                       f"json = {json.dumps(json.dumps(r['body'], separators=(',', ':')))}\n"
                       f'output = "{out_dir}/{i}.json"\n')
    # `next` between entries (one after the last starts an empty one).
    Path(path).write_text("next\n".join(entries))


def main():
    py = bench_cli.ensure_tools()
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "gather-cli", "-p", "gather-pageserver"],
                   cwd=ROOT, check=True)
    gather = ROOT / "target" / "release" / "gather"
    server = ROOT / "target" / "release" / "gather-pageserver"
    WORK.mkdir(parents=True, exist_ok=True)
    requests = WORK / "requests.jsonl"
    requests_file(requests, N)
    best = optimum(requests)
    tools = {
        "gather fetch (paced by the server's fields)":
            lambda base: [str(gather), "fetch", "-q", str(requests), "--base-url", base, "--retries", "10",
                          "-o", str(WORK / "gather.jsonl")],
        "gather fetch --no-server-limits (a flood)":
            lambda base: [str(gather), "fetch", "-q", str(requests), "--base-url", base, "--retries", "10",
                          "--no-server-limits", "-o", str(WORK / "flood.jsonl")],
        "cookbook pacing, reimplemented (5 attempts)":
            lambda base: [str(py), str(ROOT / "scripts" / "cookbook_pacing.py"), str(requests),
                          str(WORK / "cookbook.jsonl"), base, str(RPM), str(TPM)],
        "curl --parallel --json (config file)":
            lambda base: curl_command(base),
    }

    def curl_command(base):
        out_dir = WORK / "curl"
        shutil.rmtree(out_dir, ignore_errors=True)
        out_dir.mkdir()
        config = WORK / "curl.config"
        curl_config(config, base, requests, out_dir)
        return ["curl", "-s", "--parallel", "--parallel-max", "64", "--config", str(config)]

    results = {name: [] for name in tools}
    for round_ in range(RUNS):
        for name, command in tools.items():
            p, base = start_server(server)
            try:
                secs, peak_kb, _ = bench_cli.timed(command(base), timeout=600)
                s = stats(base)
            finally:
                p.terminate()
                p.wait()
            results[name].append((secs, peak_kb, s))
            print(f"round {round_ + 1} {name}: {secs:.1f} s, {s}", file=sys.stderr, flush=True)

    # The target's own size: 2,000 requests, gather alone, once.
    big_n = 500 if QUICK else 2_000
    big = WORK / "requests-big.jsonl"
    requests_file(big, big_n)
    big_best = optimum(big)
    p, base = start_server(server)
    try:
        big_secs, big_peak, _ = bench_cli.timed(
            [str(gather), "fetch", "-q", str(big), "--base-url", base, "--retries", "10",
             "-o", str(WORK / "gather-big.jsonl")], timeout=900)
        big_stats = stats(base)
    finally:
        p.terminate()
        p.wait()
    print(f"{big_n} requests: {big_secs:.1f} s, {big_stats}", file=sys.stderr, flush=True)

    # Without limits that bind: POSTs with ids against plain GETs.
    p, base = start_server(server, rpm=10**9, tpm=10**12)
    try:
        n = 5_000 if QUICK else 20_000
        gets = WORK / "gets.txt"
        posts = WORK / "posts.jsonl"
        gets.write_text("".join(f"{base}/echo\n" for _ in range(n)))
        with open(posts, "w") as f:
            for i in range(n):
                f.write(json.dumps({"id": i, "url": f"{base}/echo", "body": {"q": i}}) + "\n")
        rates = {"GET": [], "POST": []}
        for _ in range(RUNS):
            for kind, path in [("GET", gets), ("POST", posts)]:
                secs, _, _ = bench_cli.timed([str(gather), "fetch", "-q", str(path), "-o", "/dev/null"])
                rates[kind].append(n / secs)
    finally:
        p.terminate()
        p.wait()

    say(START)
    say(f"### Calling a rate-limited API ({time.strftime('%Y-%m-%d')}, `scripts/bench_api.py`)")
    say("")
    say(f"{N} chat requests (OpenAI Batch API shape, max_tokens {MAX_TOKENS}) against the page server's API on "
        f"127.0.0.1: {RPM} requests and {TPM:,} tokens a minute, enforced per second (a second's worth of burst), "
        f"OpenAI's `x-ratelimit-*` fields. The fastest the limits allow: **{best:.1f} s**. "
        f"Medians of {RUNS} interleaved rounds, a fresh server each.")
    say("")
    say("| tool | completed | time | x optimum | 429s | 429s per request | processed twice | peak RSS |")
    say("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, runs in results.items():
        secs = statistics.median(r[0] for r in runs)
        peak = statistics.median(r[1] for r in runs)
        done = statistics.median(r[2]["processed"] for r in runs)
        limited = statistics.median(r[2]["limited"] for r in runs)
        dup = max(r[2]["duplicates"] for r in runs)
        # Time against the optimum only for a tool that completed them all.
        ratio = f"{secs / best:.2f}x" if done == N else "(incomplete)"
        say(f"| {name} | {done:.0f} of {N} | {secs:.1f} s | {ratio} | {limited:.0f} | "
            f"{limited / N:.2f} | {dup} | {peak / 1024:.0f} MiB |")
    say("")
    say(f"The issue's target, at its size: {big_n:,} requests in **{big_secs:.1f} s against an optimum of "
        f"{big_best:.1f} s ({big_secs / big_best:.2f}x**, target 1.2x), {big_stats['limited']} 429s "
        f"({big_stats['limited'] / big_n:.1%} of requests, target 2%), {big_stats['duplicates']} processed twice, "
        f"{big_stats['processed']} of {big_n} processed, peak RSS {big_peak / 1024:.0f} MiB (one run).")
    say("")
    g, q = statistics.median(rates["GET"]), statistics.median(rates["POST"])
    say(f"Without limits that bind, {n:,} requests to `/echo`: GETs from a URL list {g:,.0f} req/s, POSTs from a "
        f"request file (JSON bodies, ids echoed) {q:,.0f} req/s: **{q / g:.2f}x**.")
    say(END)
    if "--write" in sys.argv:
        bench_cli.write_section(OUT, START, END)
    shutil.rmtree(WORK, ignore_errors=True)


if __name__ == "__main__":
    main()
