"""Many HTTP requests at once, results in input order, in one ``await``.

``gather_fetch`` is the engine of the ``gather`` project (Rust, on tokio)
for Python. The program ``asyncio.gather()`` is taught with::

    async with aiohttp.ClientSession() as session:
        pages = await asyncio.gather(*(fetch(session, u) for u in urls),
                                     return_exceptions=True)

becomes::

    pages = await gather_fetch.fetch(urls, return_exceptions=True)

The requests run on the engine's own threads, with the GIL released: the
event loop is never blocked. Results come back as ``asyncio.gather`` gives
them, in input order; HTTP error statuses are responses (as in aiohttp and
httpx); failures (connect, TLS, timeout, ...) are ``FetchError``
exceptions, raised (the first one, cancelling the rest) or returned in
place with ``return_exceptions=True``.

One difference from ``asyncio.gather``, on purpose: when a failure is
raised, the requests still running are cancelled. ``asyncio.gather``
leaves its other awaitables running unattended, which for requests means
traffic nobody will read.
"""

from __future__ import annotations

import asyncio
import os
from typing import (
    Any,
    AsyncIterator,
    Iterable,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    Union,
)

from . import _engine
from ._engine import Headers, Request, Response

__all__ = [
    "fetch",
    "fetch_sync",
    "as_completed",
    "stream",
    "Request",
    "Response",
    "Headers",
    "FetchError",
    "InvalidRequest",
    "InvalidURL",
    "ConnectError",
    "TLSError",
    "FetchTimeout",
    "ProtocolError",
    "BodyError",
    "BodyTooLarge",
    "RedirectError",
    "ProxyError",
    "StatusError",
    "SaveError",
    "EngineError",
]

__version__ = _engine.__version__

RequestLike = Union[str, Mapping[str, Any], Request]
HeadersLike = Union[Mapping[str, str], Iterable[Tuple[str, str]]]
PathLike = Union[str, "os.PathLike[str]"]


class FetchError(Exception):
    """A request that got no response.

    Attributes:
        kind: what went wrong, as the ``gather fetch`` records name it:
            ``"connect"``, ``"timeout"``, ``"tls"``, ``"protocol"``,
            ``"body"``, ``"body_too_large"``, ``"redirect"``, ``"proxy"``,
            ``"status"``, ``"save"``, ``"invalid_url"``,
            ``"unsupported_scheme"``, ``"invalid_request"``, ``"internal"``.
        index: the request's position in ``requests``.
        url: the URL as given.
        id: the request's ``id``, if it had one.
        elapsed: seconds it took.
        retries: retries it took.
    """

    kind: str
    index: int
    url: str
    id: Any
    elapsed: float
    retries: int

    def __init__(
        self,
        message: str,
        *,
        kind: str = "",
        index: int = -1,
        url: str = "",
        id: Any = None,
        elapsed: float = 0.0,
        retries: int = 0,
        response: Optional[Response] = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.index = index
        self.url = url
        self.id = id
        self.elapsed = elapsed
        self.retries = retries
        self.response = response

    def __str__(self) -> str:
        return f"{self.url}: {self.message}" if self.url else self.message


class InvalidRequest(FetchError, ValueError, TypeError):
    """An item of ``requests`` that is not a request: not a ``str``, dict or
    ``Request``, or a dict with no ``url`` or a field not sent."""


class InvalidURL(InvalidRequest):
    """A URL that cannot be fetched: not a URL, or not http/https."""


class ConnectError(FetchError, ConnectionError):
    """No connection, or it was lost before the answer began."""


class TLSError(FetchError):
    """The TLS handshake failed (an untrusted certificate, ...)."""


class FetchTimeout(FetchError, TimeoutError):
    """No complete answer within ``timeout`` (also a builtin
    ``TimeoutError``, so ``except TimeoutError`` catches it)."""


class ProtocolError(FetchError):
    """The answer is not HTTP this client can read."""


class BodyError(FetchError):
    """The body was cut short, broke its framing, or did not decompress."""


class BodyTooLarge(BodyError):
    """The body is over ``max_bytes``."""


class RedirectError(FetchError):
    """Too many redirects, or one that cannot be followed."""


class ProxyError(FetchError):
    """The proxy refused the tunnel."""


class StatusError(FetchError):
    """An HTTP error status (400 or more), with ``raise_for_status=True`` or
    from ``Response.raise_for_status()``; ``response`` is the answer when
    it is known."""


class SaveError(FetchError):
    """The body could not be written under ``save_dir``."""


class EngineError(FetchError):
    """A bug in gather-fetch itself (a panic): please report it."""


_ERRORS = {
    "invalid_request": InvalidRequest,
    "invalid_url": InvalidURL,
    "unsupported_scheme": InvalidURL,
    "connect": ConnectError,
    "tls": TLSError,
    "timeout": FetchTimeout,
    "protocol": ProtocolError,
    "body": BodyError,
    "body_too_large": BodyTooLarge,
    "redirect": RedirectError,
    "proxy": ProxyError,
    "status": StatusError,
    "save": SaveError,
    "internal": EngineError,
}


def _error(failure: Any) -> FetchError:
    cls = _ERRORS.get(failure.kind, FetchError)
    return cls(
        failure.message,
        kind=failure.kind,
        index=failure.index,
        url=failure.url,
        id=failure.id,
        elapsed=failure.elapsed,
        retries=failure.retries,
    )


def _options(**options: Any) -> dict:
    return options


async def _batches(run: Any) -> AsyncIterator[list]:
    """The run's results, a batch at a time, waiting without blocking the
    loop; the run is cancelled however this ends.

    The engine's threads never call into Python: they write a byte to a
    pipe whose other end the loop watches, as asyncio's own self-pipe is
    watched, and the loop's thread feeds the requests and takes the
    results.
    """
    loop = asyncio.get_running_loop()
    fd = run.fileno()
    os.set_blocking(fd, False)
    waiting: list = []

    def readable() -> None:
        try:
            os.read(fd, 4096)
        except (BlockingIOError, InterruptedError):
            pass
        run.ack()
        while waiting:
            future = waiting.pop()
            if not future.done():
                future.set_result(None)

    loop.add_reader(fd, readable)
    try:
        while True:
            run.pump()
            batch = run.take()
            if batch is None:
                return
            if batch:
                yield batch
                continue
            ready = loop.create_future()
            waiting.append(ready)
            await ready
    finally:
        loop.remove_reader(fd)
        run.cancel()


# The engine's defaults (one place for the command line and Python alike:
# gather_http's FetchConfig), in seconds and bytes.
_ENGINE: Mapping[str, Any] = _engine.DEFAULTS

# The keyword arguments every form takes, with their defaults; documented
# once, on ``fetch``.
_DEFAULTS: dict = dict(
    limit=_ENGINE["limit"],
    per_host=_ENGINE["per_host"],
    rate=None,
    rate_per_host=None,
    tokens_per_minute=None,
    server_limits=True,
    timeout=_ENGINE["timeout"],
    retries=0,
    retry_delay=_ENGINE["retry_delay"],
    headers=None,
    user_agent=None,
    max_bytes=_ENGINE["max_bytes"],
    max_redirects=_ENGINE["max_redirects"],
    http_version="auto",
    proxy=None,
    no_proxy=None,
    trust_env=True,
    decompress=True,
    save_dir=None,
    ca_file=None,
    raise_for_status=False,
    base_url=None,
    window=None,
)


async def fetch(
    requests: Iterable[RequestLike],
    *,
    limit: int = _ENGINE["limit"],
    per_host: Union[int, str, None] = _ENGINE["per_host"],
    rate: Optional[float] = None,
    rate_per_host: Optional[float] = None,
    tokens_per_minute: Optional[float] = None,
    server_limits: bool = True,
    timeout: Optional[float] = _ENGINE["timeout"],
    retries: int = 0,
    retry_delay: float = _ENGINE["retry_delay"],
    headers: Optional[HeadersLike] = None,
    user_agent: Optional[str] = None,
    max_bytes: int = _ENGINE["max_bytes"],
    max_redirects: int = _ENGINE["max_redirects"],
    http_version: str = "auto",
    proxy: Optional[str] = None,
    no_proxy: Optional[str] = None,
    trust_env: bool = True,
    decompress: bool = True,
    save_dir: Optional[PathLike] = None,
    ca_file: Optional[PathLike] = None,
    raise_for_status: bool = False,
    base_url: Optional[str] = None,
    return_exceptions: bool = False,
) -> List[Union[Response, FetchError]]:
    """Fetch every request at once (``limit`` at a time); return their
    results in input order, as ``asyncio.gather`` does.

    Args:
        requests: any iterable (a generator of a million included, read as
            requests start) of URLs (``str``), dicts or ``Request``. A dict
            has the fields of a ``gather fetch`` JSON Lines request:
            ``url``, ``id`` (or ``custom_id``), ``method`` (GET, or POST
            when a body is given), ``headers`` (its own, over the run's),
            one body: ``json`` or ``body`` (sent as JSON; ``bytes`` as
            they are), ``body_text`` or ``body_base64``; and ``tokens``,
            its weight for a token budget (default: the body's
            ``max_tokens``, ``max_completion_tokens`` or
            ``max_output_tokens`` plus a token per 4 bytes of body). A POST whose
            connection is lost after it was sent is not sent again (it may
            have been processed) unless it has an ``Idempotency-Key``.
        limit: requests on the wire at once, over all hosts (the most any
            one host's window grows to); requests waiting for a host's turn
            hold none.
        per_host: requests in flight at once per host: connections over
            HTTP/1.1, streams over HTTP/2. ``"auto"`` (or ``None``): a
            window per host that starts at 8 and adapts to the latency the
            host shows, growing while it stays near the least seen (the
            host has room), shrinking when it rises (a queue forms at the
            server), halving on 429, 503, refused or reset connections and
            timeouts. An int: that many at most, always. ``0``: no limit
            but ``limit``.
        rate: at most this many requests per second, overall.
        rate_per_host: at most this many requests per second per host.
        tokens_per_minute: at most this many tokens a minute per host
            (each request weighs its ``tokens``), for an API that limits
            tokens without saying so in its answers.
        server_limits: pace each host by the limits its answers announce
            (OpenAI's ``x-ratelimit-*``, Anthropic's
            ``anthropic-ratelimit-*``, the IETF ``RateLimit`` fields), so
            a rate-limited API is used at its limit without a storm of
            429s. ``False`` ignores them.
        timeout: seconds for each request's complete answer (time queued
            for a turn is not counted); ``None`` for none. Use
            ``asyncio.timeout()`` around the call for an overall deadline.
        retries: retries of a request after a connection failure, a 429 or
            a 5xx (waiting as ``Retry-After`` says, else ``retry_delay``
            doubled each time, with jitter). A 429 or 503 with
            ``Retry-After`` pauses every request to that host.
        headers: sent with every request (a mapping, or pairs for a name
            given twice); ``User-Agent`` and ``Accept`` have defaults.
        max_bytes: a body over this is a ``BodyTooLarge`` failure, found
            while it streams (a decompressed body is counted decompressed).
        max_redirects: redirects followed (credentials are not sent to
            another host).
        http_version: ``"auto"`` (HTTP/2 where TLS agrees on it),
            ``"1.1"``, or ``"2"`` (also without TLS, "prior knowledge").
        proxy, no_proxy: as curl's ``--proxy`` and ``--noproxy``.
        trust_env: read ``http_proxy``, ``https_proxy``, ``all_proxy`` and
            ``no_proxy`` from the environment (as curl and httpx do).
        decompress: ask for and decode gzip, deflate, br and zstd bodies.
        save_dir: write each body to ``save_dir/INDEX.body`` instead of
            keeping it (``Response.saved``); memory stays small.
        ca_file: extra trusted certificates (PEM).
        raise_for_status: a status of 400 or more is a ``StatusError``
            failure instead of a response.
        base_url: what relative URLs (``/v1/chat/completions``, as in an
            OpenAI Batch API file) are relative to.
        return_exceptions: ``False`` (as ``asyncio.gather``): the first
            failure is raised, and the requests still running are
            cancelled. ``True``: failures are returned in place.

    Raises:
        TypeError, ValueError: a bad argument (naming it), before anything
            is sent.
        FetchError: the first failure, unless ``return_exceptions``.

    Cancelling the task that awaits this (or an ``asyncio.timeout``)
    stops the engine: no request starts after it, and those in flight are
    dropped with their connections.
    """
    return_exceptions = _check_return_exceptions(return_exceptions)
    run = _engine.Run(
        requests,
        False,
        _options(
            limit=limit, per_host=per_host, rate=rate, rate_per_host=rate_per_host,
            tokens_per_minute=tokens_per_minute, server_limits=server_limits,
            timeout=timeout, retries=retries, retry_delay=retry_delay, headers=headers,
            user_agent=user_agent, max_bytes=max_bytes, max_redirects=max_redirects,
            http_version=http_version, proxy=proxy, no_proxy=no_proxy, trust_env=trust_env,
            decompress=decompress, save_dir=save_dir, ca_file=ca_file,
            raise_for_status=raise_for_status, base_url=base_url,
        ),
    )
    results: list = []
    async for batch in _batches(run):
        _place(batch, results, return_exceptions)
    return results


def _place(batch: list, results: list, return_exceptions: bool) -> None:
    """Puts each result of `batch` at its index in `results`; the first
    failure is raised unless `return_exceptions`."""
    for index, value in batch:
        if type(value) is _engine.Failure:
            value = _error(value)
            if not return_exceptions:
                raise value
        if index >= len(results):
            results.extend([None] * (index + 1 - len(results)))
        results[index] = value


def _check_return_exceptions(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"return_exceptions must be True or False, not {type(value).__name__}")
    return value


class _Results:
    """An async iterator of ``(index, result)`` over a run."""

    def __init__(self, requests: Iterable[RequestLike], ordered: bool,
                 return_exceptions: bool, options: dict) -> None:
        self._return_exceptions = _check_return_exceptions(return_exceptions)
        self._run = _engine.Run(requests, ordered, options)
        self._batches = _batches(self._run)
        self._batch: list = []
        self._at = 0

    def __aiter__(self) -> "_Results":
        return self

    async def __anext__(self) -> Tuple[int, Union[Response, FetchError]]:
        while self._at >= len(self._batch):
            self._batch = await self._batches.__anext__()
            self._at = 0
        index, value = self._batch[self._at]
        self._at += 1
        if type(value) is _engine.Failure:
            value = _error(value)
            if not self._return_exceptions:
                await self.aclose()
                raise value
        return index, value

    async def aclose(self) -> None:
        """Stops the run (as ``cancel()`` on a task): no request starts
        after it, those in flight are dropped."""
        self._run.cancel()
        try:
            await self._batches.aclose()
        except RuntimeError:
            # A `__anext__` is still waiting (its task was cancelled and has
            # not run yet): the cancel above woke it, and it ends there.
            pass

    async def __aenter__(self) -> "_Results":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()


def as_completed(requests: Iterable[RequestLike], *, return_exceptions: bool = False,
                 **options: Any) -> "_Results":
    """``async for index, result in as_completed(requests, ...)``: each
    result as soon as it is ready, with its position in ``requests``.

    Takes ``fetch``'s keyword arguments. A failure is raised (ending the
    run) unless ``return_exceptions=True``, which yields it in place.
    Memory stays bounded however many requests there are: a request
    starts only within ``window`` (default ``4 * limit``) of the results
    taken, so a slow loop body slows the requests rather than piling up
    their results. Leaving the loop early (``break``) or ``aclose()``
    stops the run; ``async with`` does so on exit.
    """
    return _Results(requests, False, return_exceptions, _merge(options))


def stream(requests: Iterable[RequestLike], *, return_exceptions: bool = False,
           **options: Any) -> "_Results":
    """``async for index, result in stream(requests, ...)``: every result
    in input order, each as soon as it and those before it are ready.

    As ``as_completed``, but in order: a million results need not be held
    at once, as ``fetch``'s list would. One slow request holds back those
    after it only up to ``window`` (default ``4 * limit``) requests ahead.
    """
    return _Results(requests, True, return_exceptions, _merge(options))


def _merge(options: dict) -> dict:
    unknown = sorted(set(options) - set(_DEFAULTS))
    if unknown:
        raise TypeError(f"unexpected keyword argument {unknown[0]!r}")
    return {**_DEFAULTS, **options}


def fetch_sync(requests: Iterable[RequestLike], *, return_exceptions: bool = False,
               **options: Any) -> List[Union[Response, FetchError]]:
    """``fetch`` for a program without an event loop (a script, a REPL):
    blocks until every result is in, and returns them in input order.

    Takes ``fetch``'s keyword arguments. Ctrl-C stops it cleanly (the
    engine is cancelled, then ``KeyboardInterrupt`` is raised). From inside
    a running event loop, ``await fetch(...)`` instead.
    """
    return_exceptions = _check_return_exceptions(return_exceptions)
    run = _engine.Run(requests, False, _merge(options))
    results: list = []
    events = 0
    try:
        while True:
            run.pump()
            batch = run.take()
            if batch is None:
                return results
            if not batch:
                # Back to Python every 100 ms, so that Ctrl-C is seen.
                events = run.wait(events, 0.1)
                continue
            _place(batch, results, return_exceptions)
    finally:
        run.cancel()


try:  # Headers reads as a Mapping to isinstance() and typing.
    from collections.abc import Mapping as _Mapping

    _Mapping.register(Headers)
except Exception:  # pragma: no cover
    pass
