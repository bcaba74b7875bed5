"""Scripts with no event loop (``fetch_sync`` and its Ctrl-C), a run far
larger than memory would hold, each in a Python process of its own; and a
``Client`` used across ``asyncio.run()`` calls."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import textwrap
import time

import pytest

import gather_fetch


def run_script(code: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
        timeout=120, **kwargs,
    )


def test_fetch_sync_in_a_script_without_a_loop(server):
    done = run_script(f"""
        import gather_fetch
        pages = gather_fetch.fetch_sync(["{server.url('/page/1')}", "{server.url('/reset')}"],
                                        return_exceptions=True)
        print(pages[0].status, pages[1].kind)
    """)
    assert done.stdout.split() == ["200", "connect"], done.stderr


def test_ctrl_c_stops_fetch_sync_cleanly(holding_process):
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import gather_fetch, signal, sys
            # As at a terminal: a process started in the background by a
            # shell without job control (CI) inherits SIGINT ignored.
            signal.signal(signal.SIGINT, signal.default_int_handler)
            print("started", flush=True)
            try:
                gather_fetch.fetch_sync(["{holding_process}/"] * 100, timeout=60)
            except KeyboardInterrupt:
                print("interrupted", flush=True)
                sys.exit(3)
        """)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "started"
    time.sleep(0.5)
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 3, err
    assert out.strip() == "interrupted"
    assert time.monotonic() - sent < 1


@pytest.fixture
def holding_process():
    """A server that never answers, in a process of its own (the script
    under test has no loop to run one)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent("""
            import socket, time
            s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(512)
            print(s.getsockname()[1], flush=True)
            conns = []
            while True:
                c, _ = s.accept(); conns.append(c)
        """)],
        stdout=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    try:
        yield f"http://127.0.0.1:{proc.stdout.readline().strip()}"
    finally:
        proc.kill()
        proc.wait(timeout=10)


def test_two_hundred_thousand_urls_from_a_generator_in_bounded_memory(server):
    """Peak memory does not grow with the input: 200,000 URLs from a
    generator through ``stream`` peak within a few MB of 20,000."""
    script = f"""
        import asyncio, resource, sys, gather_fetch
        async def main(n):
            count = 0
            urls = ("{server.url('/page/')}" + str(i) for i in range(n))
            # 64 at once: with the default limit, how far the engine runs
            # ahead of Python (up to the 32 MiB of results it may hold)
            # varies from run to run by tens of MB, and would hide the
            # growth with the input this looks for.
            async for index, page in gather_fetch.stream(urls, per_host=0, limit=64):
                assert index == count and page.status == 200
                count += 1
            return count
        n = int(sys.argv[1])
        assert asyncio.run(main(n)) == n
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    """
    peaks = {}
    for n in (20_000, 200_000):
        done = subprocess.run([sys.executable, "-c", textwrap.dedent(script), str(n)],
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        peaks[n] = int(done.stdout) / 1024
    print(f"peak RSS: {peaks}")
    assert peaks[200_000] < peaks[20_000] + 16, peaks


def test_a_forked_child_makes_its_own_engine(server):
    """multiprocessing's fork after a call: the child inherits the
    runtime's memory but not its threads, and must not wait on them."""
    done = run_script(f"""
        import multiprocessing, gather_fetch
        url = "{server.url('/page/1')}"
        assert gather_fetch.fetch_sync([url])[0].status == 200
        def child(q):
            q.put(gather_fetch.fetch_sync([url])[0].status)
        ctx = multiprocessing.get_context("fork")
        q = ctx.Queue()
        p = ctx.Process(target=child, args=(q,))
        p.start()
        print(q.get(timeout=30))
        p.join(30)
        print(p.exitcode)
    """)
    assert done.stdout.split() == ["200", "0"], done.stderr


def test_a_client_made_before_a_fork_is_refused_in_the_child(server):
    """A Client's connections and threads are its process's: a forked
    child that uses its parent's Client gets a RuntimeError saying so (not
    a wait on threads the child does not have), and a Client of its own
    works there."""
    done = run_script(f"""
        import asyncio, multiprocessing, gather_fetch
        url = "{server.url('/page/1')}"
        client = gather_fetch.Client()
        print(asyncio.run(client.get(url)).status)
        def child(q):
            try:
                asyncio.run(client.fetch([url]))
                q.put("no error")
            except RuntimeError as e:
                q.put("refused" if "another process" in str(e) else str(e))
            async def own():
                async with gather_fetch.Client() as mine:
                    return (await mine.get(url)).status
            q.put(asyncio.run(own()))
        ctx = multiprocessing.get_context("fork")
        q = ctx.Queue()
        p = ctx.Process(target=child, args=(q,))
        p.start()
        print(q.get(timeout=30), q.get(timeout=30))
        p.join(30)
        print(p.exitcode)
    """)
    assert done.stdout.split() == ["200", "refused", "200", "0"], (done.stdout, done.stderr)


def test_pages_read_as_text_are_held_once(server):
    """20,000 bodies of 5.4 KB read as text: the peak after `.text` stays
    near the peak after the fetch (each page's bytes give way to its str).
    Bodies kept in the engine's own buffers (allocated in its threads'
    malloc arenas, which Python's str cannot reuse) peaked 1.7x higher."""
    done = run_script(f"""
        import asyncio, resource, gather_fetch
        def peak():
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        async def main():
            urls = ["{server.url('/big?bytes=5400')}&i=" + str(i) for i in range(20_000)]
            pages = await gather_fetch.fetch(urls, per_host=64)
            fetched = peak()
            texts = [p.text for p in pages]
            assert all(len(t) == 5400 for t in texts)
            print(fetched, peak())
        asyncio.run(main())
    """)
    assert done.returncode == 0, done.stderr
    fetched, read = map(float, done.stdout.split())
    print(f"peak after fetch {fetched:.0f} MB, after text {read:.0f} MB")
    assert read < fetched * 1.3, (fetched, read)


def test_a_client_belongs_to_the_loop_it_was_first_used_in(server):
    client = gather_fetch.Client()
    url = server.url("/page/1")
    assert asyncio.run(client.get(url)).status == 200
    with pytest.raises(RuntimeError, match="another event loop"):
        asyncio.run(client.get(url))


def test_a_run_beyond_the_open_file_limit_loses_no_page(server):
    # Each request holds a socket and the pool keeps as many idle: with 100
    # files the run's limit is lowered to what they hold. The package
    # leaves the process's limits as they are; a limit given and lowered is
    # warned about, the default lowered is not.
    done = run_script(f"""
        import asyncio, resource, warnings
        import gather_fetch
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (100, hard))
        urls = ["{server.url('/page/')}%d?delay_ms=50" % i for i in range(400)]
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            pages = asyncio.run(gather_fetch.fetch(urls, per_host=0))
            print(sum(p.status == 200 for p in pages), len(seen))
            pages = asyncio.run(gather_fetch.fetch(urls, per_host=0, limit=300))
            print(sum(p.status == 200 for p in pages), len(seen))
        print(seen[0].category.__name__, seen[0].message)
        print(resource.getrlimit(resource.RLIMIT_NOFILE)[0])
    """)
    lines = done.stdout.splitlines()
    assert lines[:2] == ["400 0", "400 1"], done.stdout + done.stderr
    assert lines[2].startswith("RuntimeWarning limit=300 requests at once lowered to"), lines[2]
    assert "ulimit -n" in lines[2]
    assert lines[3] == "100", "the package changed its process's open-file limit"
