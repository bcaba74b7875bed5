"""Fixtures: the project's page server (a real process on 127.0.0.1), and
a small asyncio server that holds every request open and counts them, for
the tests of cancellation."""

from __future__ import annotations

import asyncio
import os
import ssl
import pathlib
import subprocess
import time

import pytest
import pytest_asyncio

ROOT = pathlib.Path(__file__).resolve().parents[3]


def _pageserver_binary() -> pathlib.Path:
    named = os.environ.get("GATHER_PAGESERVER")
    candidates = [pathlib.Path(named)] if named else [
        ROOT / "target" / "release" / "gather-pageserver",
        ROOT / "target" / "debug" / "gather-pageserver",
    ]
    for path in candidates:
        if path.is_file():
            return path
    pytest.fail(
        "no gather-pageserver binary: build it with "
        "`cargo build --release -p gather-pageserver` (scripts/test.sh does), "
        "or name it in GATHER_PAGESERVER"
    )


class PageServer:
    """The page server's HTTP/1.1 and h2c addresses."""

    def __init__(self, http1: str, http2: str) -> None:
        self.base = http1
        self.h2c = http2

    def url(self, path: str) -> str:
        return self.base + path


@pytest.fixture(scope="session")
def server():
    proc = subprocess.Popen(
        [str(_pageserver_binary()), "--http2", "--for", "900"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    try:
        http1 = proc.stdout.readline().strip()
        http2 = proc.stdout.readline().strip()
        assert http1.startswith("http://127.0.0.1:"), http1
        assert http2.startswith("http://127.0.0.1:"), http2
        yield PageServer(http1, http2)
    finally:
        proc.kill()
        proc.wait(timeout=10)


class LoopbackServer:
    """An asyncio server on 127.0.0.1 (a random port) for a test, each
    connection served by `_serve`; `base` is its URL. Over TLS with
    `ssl_context`."""

    ssl_context: "ssl.SSLContext | None" = None

    def __init__(self) -> None:
        self._server: asyncio.AbstractServer | None = None
        self.base = ""

    async def start(self):
        self._server = await asyncio.start_server(
            self._serve, "127.0.0.1", 0, ssl=self.ssl_context)
        port = self._server.sockets[0].getsockname()[1]
        scheme = "https" if self.ssl_context is not None else "http"
        self.base = f"{scheme}://127.0.0.1:{port}"
        return self

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()


class AnsweringServer(LoopbackServer):
    """Answers each request of a connection (kept alive) with the bytes
    `answer(head)` gives: a whole HTTP/1.1 answer, written by the test."""

    def answer(self, head: bytes) -> bytes:
        raise NotImplementedError

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                writer.write(self.answer(await reader.readuntil(b"\r\n\r\n")))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


class HoldingServer(LoopbackServer):
    """Reads each request's head, counts it (with the time), and never
    answers; knows how many connections are open."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[float] = []
        self.open = 0

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.open += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                if not head:
                    break
                self.requests.append(time.monotonic())
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError,
                asyncio.CancelledError):
            # Closed by the client, or the test's loop is ending.
            pass
        finally:
            self.open -= 1
            writer.close()


@pytest_asyncio.fixture
async def holding():
    server = await HoldingServer().start()
    try:
        yield server
    finally:
        await server.stop()
