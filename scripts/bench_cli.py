#!/usr/bin/env python3
"""`gather fetch` against wrk (the ceiling), curl --parallel and the seed's
aiohttp + asyncio.gather code (with and without uvloop), all fetching static
pages from nginx on 127.0.0.1 with 64 connections, in one run; then over
HTTP/2 (nginx with TLS and HTTP/2) against h2load (the HTTP/2 ceiling, one
connection with 64 streams) and curl --http2 --parallel, with gather's own
HTTP/1.1 run over the same TLS beside it. Also runs
gather's HTTP client alone (crates/gather-http/examples/bare_client.rs: the client `gather
fetch` uses, nothing else), the floor under `gather fetch`, to show how
much of the gap to wrk is the client's and how much the tool's (ordering,
output, retries, timeouts). Each figure is the median of 5 runs
(1 with --quick), with their range beside it: on a shared 2-core machine
one run says little, and gather's ratio to wrk is also given round by
round (each round runs every tool once, one after the other). Prints a
table of req/s and peak memory; with --write, records it in
docs/benchmarks.md (its own section; the rest of the file is
kept).

    python3 scripts/bench_cli.py [--quick] [--write]

Installs nginx, wrk and h2load (nghttp2-client) from Debian if missing
(apt-get update once), and aiohttp and uvloop with pip into scripts/.venv.
The HTTP/1.1 rows give gather `--per-host 64`: its default of 8
connections per host would otherwise hold it to 8 where wrk has 64.
"""
import gzip
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUICK = "--quick" in sys.argv
SIZES = [2_000] if QUICK else [20_000, 100_000]
RUNS = 1 if QUICK else 5
GATHER = "gather fetch --limit 64 --per-host 64"
NO_PER_HOST = "gather fetch --limit 64 --per-host 0 (no per-host permits)"
BARE = "its HTTP client alone (bare_client, no output)"
WORK = Path(os.environ.get("TMPDIR", "/tmp")) / f"gather-bench-cli-{os.getpid()}"
START, END = "<!-- bench_cli:start -->", "<!-- bench_cli:end -->"
OUT = []


def say(line=""):
    print(line, flush=True)
    OUT.append(line)


def ensure_tools():
    missing = [p for p, b in [("nginx", "nginx"), ("wrk", "wrk"), ("time", "time"), ("nghttp2-client", "h2load"),
                              ("openssl", "openssl")]
               if shutil.which(b) is None and not Path(f"/usr/sbin/{b}").exists() and not Path(f"/usr/bin/{b}").exists()]
    if missing:
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=True, env=env)
    venv = ROOT / "scripts" / ".venv"
    py = venv / "bin" / "python3"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    if subprocess.run([str(py), "-c", "import aiohttp, uvloop"], capture_output=True).returncode != 0:
        subprocess.run([str(py), "-m", "pip", "install", "-q", "aiohttp", "uvloop"], check=True)
    return py


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def nginx_version():
    out = subprocess.run([shutil.which("nginx") or "/usr/sbin/nginx", "-v"], capture_output=True, text=True).stderr
    return tuple(int(p) for p in re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", out).groups())


def make_certificate():
    """A self-signed certificate for 127.0.0.1 that rustls accepts as its
    own trust anchor (CA:FALSE; see the CLI's hint for CA:TRUE ones)."""
    cert, key = WORK / "cert.pem", WORK / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert),
                    "-addext", "basicConstraints=critical,CA:FALSE", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    return cert, key


def start_nginx(port, gzip_port, h2_port, paragraphs=100):
    www = WORK / "www"
    www.mkdir(parents=True)
    for i in range(1000):
        page = f"<!doctype html><title>page {i}</title>" + "<p>lorem ipsum</p>" * paragraphs
        (www / f"page-{i}.html").write_text(page)
        # Compressed once, here: nginx's gzip_static sends these as they
        # are, so the gzip'd rows measure the client's decoding, not
        # nginx compressing each answer on the cores the client shares.
        (www / f"page-{i}.html.gz").write_bytes(gzip.compress(page.encode(), mtime=0))
    cert, key = make_certificate()
    # `http2 on` came in nginx 1.25.1; before, HTTP/2 is a flag of listen.
    h2_listen, h2_on = ("ssl", "http2 on;") if nginx_version() >= (1, 25, 1) else ("ssl http2", "")
    conf = WORK / "nginx.conf"
    conf.write_text(f"""
daemon off;
worker_processes 2;
pid {WORK}/nginx.pid;
error_log {WORK}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    server {{ listen 127.0.0.1:{port}; root {www}; }}
    server {{ listen 127.0.0.1:{gzip_port}; root {www}; gzip_static on; gzip_vary on; }}
    server {{
        listen 127.0.0.1:{h2_port} {h2_listen};
        {h2_on}
        http2_max_concurrent_streams 128;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        root {www};
    }}
}}
""")
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    # In a process group of its own, so that stopping it stops its workers
    # too: killing the master alone left them running, still holding this
    # script's stdout (a pipe to `tail` then never ended).
    p = subprocess.Popen([nginx, "-c", str(conf), "-p", str(WORK)], start_new_session=True)
    for _ in range(100):  # bounded wait until it answers
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return p
        except OSError:
            time.sleep(0.05)
    stop_nginx(p)
    sys.exit("bench_cli.py: nginx did not start")


def stop_nginx(p):
    """Stops nginx's master and workers: a fast shutdown (SIGTERM to the
    group), then SIGKILL to whatever is left after 10 s."""
    try:
        os.killpg(p.pid, signal.SIGTERM)
        p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass
    except ProcessLookupError:
        return
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    p.wait()


def timed(args, timeout=900, **kw):
    """(seconds, peak RSS KiB, stdout) of a process.

    Peak memory comes from GNU time (`%M`), not from this script's wait4: a
    child forked from Python keeps Python's resident size as its high-water
    mark until it execs, which would put a floor of ~20 MiB under every tool.
    """
    start = time.time()
    p = subprocess.Popen(["/usr/bin/time", "-f", "%M", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)
    # Waiting on the process (a timer kills what runs too long): polling with a
    # sleep would add up to its period to every process-timed tool, against
    # wrk and bare_client, which report their own rates.
    killer = threading.Timer(timeout, p.kill)
    killer.start()
    try:
        out, err = p.communicate()
    finally:
        killer.cancel()
    secs = time.time() - start
    if secs >= timeout:
        sys.exit(f"bench_cli.py: {args[0]} ran past {timeout} s")
    if p.returncode != 0:
        sys.exit(f"bench_cli.py: {args[0]} exited {p.returncode}: {err[-2000:]}")
    peak_kb = int(err.strip().splitlines()[-1])
    return secs, peak_kb, out


def gzip_pages(gather_bin, gz_base, base):
    """The same pages gzip'd (nginx gzip_static: compressed once, sent as
    they are): what decoding costs `gather fetch`, against wrk and curl
    asking for gzip too, and against gather's own run on the plain pages."""
    n = SIZES[0]
    urls = WORK / f"urls-gz-{n}.txt"
    urls.write_text("".join(f"{gz_base}/page-{i % 1000}.html\n" for i in range(n)))
    plain = WORK / f"urls-plain-{n}.txt"
    plain.write_text("".join(f"{base}/page-{i % 1000}.html\n" for i in range(n)))
    curl_cfg = WORK / f"curl-gz-{n}.cfg"
    curl_cfg.write_text("".join(f'url = "{gz_base}/page-{i % 1000}.html"\noutput = "/dev/null"\n' for i in range(n)))
    probe = subprocess.run([str(gather_bin), "fetch", "-q"], input=f"{gz_base}/page-1.html\n",
                           capture_output=True, text=True, check=True).stdout
    assert '"encoding":"gzip"' in probe, f"nginx did not send gzip: {probe}"
    runs = {}
    for _ in range(RUNS):
        secs, rss, _ = timed([str(gather_bin), "fetch", "-q", "--limit", "64", "--per-host", "64", str(urls),
                              "-o", "/dev/null"])
        runs.setdefault("gather fetch (gzip'd, decoded)", []).append((n / secs, rss))
        secs, rss, _ = timed([str(gather_bin), "fetch", "-q", "--limit", "64", "--per-host", "64", str(plain),
                              "-o", "/dev/null"])
        runs.setdefault("gather fetch (the same pages, plain)", []).append((n / secs, rss))
        secs, rss, _ = timed(["curl", "--compressed", "--parallel", "--parallel-max", "64", "-s", "-K", str(curl_cfg)])
        runs.setdefault("curl --compressed --parallel --parallel-max 64", []).append((n / secs, rss))
        duration = max(2, min(10, n // 10_000))
        _, rss, out = timed(["wrk", "-t2", "-c64", f"-d{duration}s", "-H", "Accept-Encoding: gzip", f"{gz_base}/page-1.html"])
        rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
        runs.setdefault(f"wrk -t2 -c64 -H 'Accept-Encoding: gzip' ({duration} s, one URL)", []).append((rate, rss))
    rows = {tool: (statistics.median(r for r, _ in rs), statistics.median(m for _, m in rs)) for tool, rs in runs.items()}
    g_rate, g_rss = rows["gather fetch (gzip'd, decoded)"]
    say(f"\n### gzip'd pages ({n:,} GETs)\n")
    say("The same pages, compressed once and served by nginx's `gzip_static` (so the server does no per-request work "
        "beyond the plain case): `gather fetch` asks for gzip, deflate, br and zstd and decodes each body.\n")
    say("| tool | req/s (median) | range of the runs | peak memory | gather's req/s / tool's | gather's memory / tool's |")
    say("|---|---|---|---|---|---|")
    for tool, (rate, rss) in rows.items():
        ratio = "" if tool.startswith("gather fetch (gzip") else f"**{g_rate / rate:.2f}x**"
        mem = "" if tool.startswith("gather fetch (gzip") else f"{g_rss / rss:.2f}x"
        spread = f"{min(r for r, _ in runs[tool]):,.0f}-{max(r for r, _ in runs[tool]):,.0f}"
        say(f"| {tool} | {rate:,.0f} | {spread} | {rss / 1024:.0f} MiB | {ratio} | {mem} |")
    p_rate = rows["gather fetch (the same pages, plain)"][0]
    cost_us = (1 / g_rate - 1 / p_rate) * 1e6
    plain_size = (WORK / "www" / "page-1.html").stat().st_size
    gz_size = (WORK / "www" / "page-1.html.gz").stat().st_size
    wrk_rate = next(r for t, (r, _) in rows.items() if t.startswith("wrk"))
    say(f"\nDecoding costs `gather fetch` about **{cost_us:.1f} µs per request** of wall time here "
        f"(1/rate gzip'd - 1/rate plain, medians; a page is {plain_size:,} bytes plain, {gz_size:,} gzip'd); "
        f"gzip'd it reaches {g_rate / wrk_rate:.2f}x wrk's rate on the same gzip'd page.")


def http2(gather_bin, base):
    """The same pages over TLS from nginx with HTTP/2: gather (one
    connection, up to 64 streams) against h2load, the HTTP/2 ceiling, with
    the same one connection and 64 streams, and curl --http2 --parallel;
    and gather's own HTTP/1.1 run over the same TLS (64 connections)."""
    cert = WORK / "cert.pem"
    probe = subprocess.run([str(gather_bin), "fetch", "-q", "--cacert", str(cert)], input=f"{base}/page-1.html\n",
                           capture_output=True, text=True, check=True).stdout
    assert '"http_version":"2"' in probe, f"nginx did not speak HTTP/2: {probe}"
    gather_h2 = "gather fetch --limit 64 (HTTP/2, one connection)"
    h2load = "h2load -c 1 -m 64 (one connection, 64 streams)"
    curl = "curl --http2 --parallel --parallel-max 64"
    gather_h1 = "gather fetch --limit 64 --per-host 64 --http1.1 (64 TLS connections)"
    say("\n### HTTP/2 over TLS\n")
    say("The same pages from nginx over TLS with HTTP/2 (`http2_max_concurrent_streams 128`): `gather fetch` "
        "negotiates h2 by ALPN and sends every request on one connection, as h2load does with `-c 1`.\n")
    say("| GETs | tool | req/s (median) | range of the runs | peak memory | gather's req/s / tool's | gather's memory / tool's |")
    say("|---|---|---|---|---|---|---|")
    summary = []
    for n in SIZES:
        urls = WORK / f"urls-h2-{n}.txt"
        urls.write_text("".join(f"{base}/page-{i % 1000}.html\n" for i in range(n)))
        h2load_urls = WORK / "urls-h2load.txt"
        h2load_urls.write_text("".join(f"{base}/page-{i}.html\n" for i in range(1000)))
        curl_cfg = WORK / f"curl-h2-{n}.cfg"
        curl_cfg.write_text("".join(f'url = "{base}/page-{i % 1000}.html"\noutput = "/dev/null"\n' for i in range(n)))
        runs = {}
        for _ in range(RUNS):
            secs, rss, _ = timed([str(gather_bin), "fetch", "-q", "--limit", "64", "--cacert", str(cert), str(urls),
                                  "-o", "/dev/null"])
            runs.setdefault(gather_h2, []).append((n / secs, rss))
            _, rss, out = timed(["h2load", "-n", str(n), "-c", "1", "-m", "64", "-t", "1", "-i", str(h2load_urls)])
            assert f"{n} succeeded" in out, out[-1500:]
            rate = float(re.search(r"finished in [\d.]+\w*, ([\d.]+) req/s", out).group(1))
            runs.setdefault(h2load, []).append((rate, rss))
            secs, rss, _ = timed(["curl", "--http2", "--parallel", "--parallel-max", "64", "--cacert", str(cert),
                                  "-s", "-K", str(curl_cfg)])
            runs.setdefault(curl, []).append((n / secs, rss))
            secs, rss, _ = timed([str(gather_bin), "fetch", "-q", "--limit", "64", "--per-host", "64", "--http1.1",
                                  "--cacert", str(cert), str(urls), "-o", "/dev/null"])
            runs.setdefault(gather_h1, []).append((n / secs, rss))
        rows = {tool: (statistics.median(r for r, _ in rs), statistics.median(m for _, m in rs)) for tool, rs in runs.items()}
        g_rate, g_rss = rows[gather_h2]
        for tool, (rate, rss) in rows.items():
            ratio = "" if tool == gather_h2 else f"**{g_rate / rate:.2f}x**"
            mem = "" if tool == gather_h2 else f"{g_rss / rss:.2f}x"
            spread = f"{min(r for r, _ in runs[tool]):,.0f}-{max(r for r, _ in runs[tool]):,.0f}"
            say(f"| {n:,} | {tool} | {rate:,.0f} | {spread} | {rss / 1024:.0f} MiB | {ratio} | {mem} |")
        rounds = ", ".join(f"{g / h:.2f}x" for (g, _), (h, _) in zip(runs[gather_h2], runs[h2load]))
        met = lambda ok: "met" if ok else "not met"
        summary.append(
            f"At {n:,} GETs: **{g_rate / rows[h2load][0]:.2f}x h2load** (target 0.8x: {met(g_rate / rows[h2load][0] >= 0.8)}; "
            f"round by round {rounds}), **{g_rate / rows[curl][0]:.2f}x curl** (target 2x: {met(g_rate / rows[curl][0] >= 2)}), "
            f"memory {g_rss / rows[curl][1]:.2f}x curl's (target at most 2x: {met(g_rss <= 2 * rows[curl][1])}); "
            f"HTTP/2 against gather's own HTTP/1.1 over TLS: {g_rate / rows[gather_h1][0]:.2f}x the rate.")
    say("")
    for line in summary:
        say(line + "\n")


def main():
    WORK.mkdir(parents=True, exist_ok=True)
    py = ensure_tools()
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "gather-cli", "-p", "gather-http", "--bins", "--example", "bare_client"],
                   cwd=ROOT, check=True)
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    gather_bin = target / "release" / "gather"
    bare_bin = target / "release" / "examples" / "bare_client"
    port, gzip_port, h2_port = free_port(), free_port(), free_port()
    nginx = start_nginx(port, gzip_port, h2_port)
    try:
        base = f"http://127.0.0.1:{port}"
        say(START)
        say("## The `gather` command against wrk, curl and aiohttp\n")
        say(f"Recorded {time.strftime('%Y-%m-%d')} by `python3 scripts/bench_cli.py{' --quick' if QUICK else ''}`: "
            f"static pages (2 KiB) from nginx on 127.0.0.1, 64 connections, {os.cpu_count()} cores shared by client "
            f"and server. Ratios are gather's figure over the peer's, from this same run (median of {RUNS} run{'s' if RUNS > 1 else ''} per tool and size).\n")
        per_size = []
        say("| GETs | tool | req/s (median) | range of the runs | peak memory | gather's req/s / tool's | gather's memory / tool's |")
        say("|---|---|---|---|---|---|---|")
        for n in SIZES:
            urls = WORK / f"urls-{n}.txt"
            urls.write_text("".join(f"{base}/page-{i % 1000}.html\n" for i in range(n)))
            curl_cfg = WORK / f"curl-{n}.cfg"
            curl_cfg.write_text("".join(f'url = "{base}/page-{i % 1000}.html"\noutput = "/dev/null"\n' for i in range(n)))
            runs = {}

            def record(tool, rate, rss):
                runs.setdefault(tool, []).append((rate, rss))

            # Tools take turns within each round, so that a slow spell of
            # the shared machine falls on all of them.
            for _ in range(RUNS):
                secs, rss, _ = timed([str(gather_bin), "fetch", "-q", "--limit", "64", "--per-host", "64", str(urls),
                                      "-o", "/dev/null"])
                record(GATHER, n / secs, rss)
                secs, rss, _ = timed([str(gather_bin), "fetch", "-q", "--limit", "64", "--per-host", "0", str(urls),
                                      "-o", "/dev/null"])
                record(NO_PER_HOST, n / secs, rss)
                _, rss, out = timed([str(bare_bin), str(urls), "64"])
                rate = float(re.search(r"([\d.]+) req/s", out).group(1))
                record(BARE, rate, rss)
                secs, rss, _ = timed(["curl", "--parallel", "--parallel-max", "64", "-s", "-K", str(curl_cfg)])
                record("curl --parallel --parallel-max 64", n / secs, rss)
                for loop in ["asyncio", "uvloop"]:
                    args = [str(py), str(ROOT / "scripts" / "fetch_aiohttp.py"), str(urls)] + (["uvloop"] if loop == "uvloop" else [])
                    secs, rss, out = timed(args)
                    assert out.strip() == str(n), out
                    record(f"aiohttp + asyncio.gather ({loop})", n / secs, rss)
                duration = max(2, min(10, n // 10_000))
                _, rss, out = timed(["wrk", "-t2", "-c64", f"-d{duration}s", f"{base}/page-1.html"])
                rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
                record(f"wrk -t2 -c64 ({duration} s, one URL)", rate, rss)
            rows = {tool: (statistics.median(r for r, _ in rs), statistics.median(m for _, m in rs))
                    for tool, rs in runs.items()}
            per_size.append((n, rows, runs))
            g_rate, g_rss = rows[GATHER]
            for tool, (rate, rss) in rows.items():
                ratio = "" if tool.startswith("gather") else f"**{g_rate / rate:.2f}x**"
                mem = "" if tool.startswith("gather") else f"{g_rss / rss:.2f}x"
                spread = f"{min(r for r, _ in runs[tool]):,.0f}-{max(r for r, _ in runs[tool]):,.0f}"
                say(f"| {n:,} | {tool} | {rate:,.0f} | {spread} | {rss / 1024:.0f} MiB | {ratio} | {mem} |")
        say("\nTargets: at least 0.8x wrk, 1.2x curl and 5x aiohttp in req/s; at most 2x curl's memory. "
            "gather runs with `--per-host 64` here: its default of 8 HTTP/1.1 connections per host would hold it "
            "to 8 where wrk has 64. The row with `--per-host 0` takes no per-host permit at all: the two side by side "
            "are what the per-host limit costs when it does not limit.")
        for n, rows, runs in per_size:
            g = rows[GATHER][0]
            bare = rows[BARE][0]
            wrk_tool = next(tool for tool in rows if tool.startswith("wrk"))
            wrk = rows[wrk_tool][0]
            met = "met" if g / wrk >= 0.8 else "not met"
            rounds = ", ".join(f"{gr / wr:.2f}x" for (gr, _), (wr, _) in zip(runs[GATHER], runs[wrk_tool]))
            say(f"\nAt {n:,} GETs `gather fetch` reaches **{g / wrk:.2f}x wrk's rate** (target 0.8x: {met}); "
                f"round by round: {rounds}. "
                f"Its HTTP client alone (no ordering, output, retries or timeouts) reaches {bare / wrk:.2f}x, "
                f"and `gather fetch` keeps {g / bare:.2f}x of the bare client's rate. "
                f"`--per-host 64` against `--per-host 0`: {g / rows[NO_PER_HOST][0]:.2f}x the rate.")
        gzip_pages(gather_bin, f"http://127.0.0.1:{gzip_port}", base)
        http2(gather_bin, f"https://127.0.0.1:{h2_port}")
        say(END)
    finally:
        stop_nginx(nginx)
        shutil.rmtree(WORK, ignore_errors=True)
    if "--write" in sys.argv:
        write_section(OUT, START, END)


def write_section(lines, start, end):
    """Puts `lines` (between the markers `start` and `end`) in
    docs/benchmarks.md, in place of the section they replace; the rest of
    the file is kept."""
    doc = ROOT / "docs" / "benchmarks.md"
    text = doc.read_text() if doc.exists() else ""
    section = "\n".join(lines) + "\n"
    if start in text and end in text:
        text = text[: text.index(start)] + section + text[text.index(end) + len(end) + 1 :]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    doc.write_text(text)
    print("written to docs/benchmarks.md", file=sys.stderr)


if __name__ == "__main__":
    main()
