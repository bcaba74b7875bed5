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

from typing import TYPE_CHECKING, Any, Iterable, List, Literal, Tuple, Union, cast, overload

from . import _engine
from ._engine import Headers, Redirect, Request, Response
from ._errors import (
    BodyError,
    BodyTooLarge,
    ConnectError,
    EngineError,
    FetchError,
    FetchTimeout,
    InvalidRequest,
    InvalidURL,
    ProtocolError,
    ProxyError,
    RedirectError,
    SaveError,
    StatusError,
    TLSError,
)
from ._client import Client
from ._options import (
    HeadersLike,
    InsecureRequestWarning,
    Options,
    ParamsLike,
    PathLike,
    RequestLike,
    StreamOptions,
    checked,
)
from ._results import (
    Results,
    check_return_exceptions,
    collect,
    collect_blocking,
    refuse_running_loop,
)

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "fetch",
    "fetch_sync",
    "as_completed",
    "stream",
    "Client",
    "Results",
    "Options",
    "StreamOptions",
    "Request",
    "RequestLike",
    "Response",
    "Redirect",
    "Headers",
    "HeadersLike",
    "ParamsLike",
    "PathLike",
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
    "InsecureRequestWarning",
]

__version__: str = _engine.__version__



@overload
async def fetch(
    requests: Iterable[RequestLike],
    *,
    return_exceptions: Literal[False] = False,
    **options: Unpack[Options],
) -> List[Response]: ...


@overload
async def fetch(
    requests: Iterable[RequestLike],
    *,
    return_exceptions: bool,
    **options: Unpack[Options],
) -> List[Union[Response, FetchError]]: ...


async def fetch(
    requests: Iterable[RequestLike],
    *,
    return_exceptions: bool = False,
    **options: Unpack[Options],
) -> List[Any]:
    """Fetch every request at once (``limit`` at a time); return their
    results in input order, as ``asyncio.gather`` does.

    Args:
        requests: any iterable (a generator of a million included, read as
            requests start) of URLs (``str``), dicts or ``Request``. A dict
            has the fields of a ``gather fetch`` JSON Lines request:
            ``url``, ``params`` (query parameters added to it, as httpx's
            ``params=``), ``id`` (or ``custom_id``), ``method`` (GET, or POST
            when a body is given), ``headers`` (its own, over the run's),
            one body: ``json`` or ``body`` (sent as JSON; ``bytes`` as
            they are), ``body_text`` or ``body_base64``; and ``tokens``,
            its weight for a token budget (default: the body's
            ``max_tokens``, ``max_completion_tokens`` or
            ``max_output_tokens`` plus a token per 4 bytes of body);
            ``timeout``, its own seconds over the call's. A POST whose
            connection is lost after it was sent is not sent again (it may
            have been processed) unless it has an ``Idempotency-Key``.
        limit: requests on the wire at once, over all hosts; requests
            waiting for a host's turn hold none. Default ``{limit}``. Lowered
            to what the process's open-file limit (``ulimit -n``) holds: each
            request needs a socket, and a connection kept for the next; a
            ``limit`` given and lowered is warned about (``RuntimeWarning``).
        per_host: requests in flight at once per host: connections over
            HTTP/1.1, streams over HTTP/2. ``"auto"`` (or ``None``): a
            window per host that starts at {per_host_start} and adapts to the latency the
            host shows, growing while it stays near the least seen (the
            host has room), shrinking when it rises (a queue forms at the
            server), halving on 429, 503, refused or reset connections and
            timeouts (the default), to {per_host_most} at most (and ``limit``). An int:
            that many at most, always.
            ``0``: no limit but ``limit``.
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
            for a turn is not counted), default ``{timeout:g}``; ``None``
            for none. Use
            ``asyncio.timeout()`` around the call for an overall deadline.
        retries: retries of a request after a connection failure, a 429 or
            a 5xx (waiting as ``Retry-After`` says, else ``retry_delay``,
            default ``{retry_delay:g}`` seconds, doubled each time, with
            jitter). Default ``0``. A 429 or 503 with
            ``Retry-After`` pauses every request to that host.
        headers: sent with every request (a mapping, or pairs for a name
            given twice); ``User-Agent`` and ``Accept`` have defaults.
        max_bytes: a body over this is a ``BodyTooLarge`` failure, found
            while it streams (a decompressed body is counted decompressed).
            Default: ``{max_bytes}`` (10 MiB) for a body kept in memory, no
            limit for one written to ``save_dir``; ``None``: no limit.
        max_redirects: redirects followed (credentials are not sent to
            another host), default ``{max_redirects}``.
        http_version: ``"auto"`` (HTTP/2 where TLS agrees on it),
            ``"1.1"``, or ``"2"`` (also without TLS, "prior knowledge").
        proxy, no_proxy: as curl's ``--proxy`` and ``--noproxy``.
        trust_env: read ``http_proxy``, ``https_proxy``, ``all_proxy`` and
            ``no_proxy`` from the environment (as curl and httpx do).
        decompress: ask for and decode gzip, deflate, br and zstd bodies.
        save_dir: write each body to ``save_dir/INDEX.body`` instead of
            keeping it (``Response.saved``); memory stays small, and a body
            has no size limit unless ``max_bytes`` gives one.
        ca_file: certificates trusted besides the system's store (PEM): a
            private CA, or a server's own self-signed certificate (accepted
            as curl, requests and httpx accept it). The system's store is
            read as OpenSSL reads it: ``SSL_CERT_FILE`` and ``SSL_CERT_DIR``
            when set, else the distribution's bundle (the web's roots built
            in where the system has none).
        verify: ``False`` accepts any server certificate, for a test server
            only; an ``InsecureRequestWarning`` says so.
        cert: a client certificate for a server that asks for one: a PEM
            file holding the certificate and its key, or a ``(certificate,
            key)`` pair of paths, as httpx takes it.
        raise_for_status: a status of 400 or more is a ``StatusError``
            failure instead of a response.
        cookies: keep the cookies servers set and send them back to the
            host that set each, for the rest of the call (a ``Client``'s:
            for its life), redirects included. A cookie's ``Domain`` is not
            honoured, so no site sets cookies for another. Default
            ``False``.
        base_url: what relative URLs (``/v1/chat/completions``, as in an
            OpenAI Batch API file) are relative to.
        return_exceptions: ``False`` (as ``asyncio.gather``): the first
            failure is raised, and the requests still running are
            cancelled; the result is a ``list[Response]``. ``True``:
            failures are returned in place, a ``list[Response |
            FetchError]``.

    Raises:
        TypeError, ValueError: a bad argument (naming it), before anything
            is sent. (A type checker finds most first: each option is typed,
            see ``Options``.)
        FetchError: the first failure, unless ``return_exceptions``.

    Cancelling the task that awaits this (or an ``asyncio.timeout``)
    stops the engine: no request starts after it, and those in flight are
    dropped with their connections.
    """
    return_exceptions = check_return_exceptions(return_exceptions)
    return await collect(_engine.Run(requests, False, checked(options, window=False)),
                         return_exceptions)


if fetch.__doc__:  # not under python -OO
    fetch.__doc__ = fetch.__doc__.format(**_engine.DEFAULTS)


@overload
def as_completed(
    requests: Iterable[RequestLike],
    *,
    return_exceptions: Literal[False] = False,
    **options: Unpack[StreamOptions],
) -> Results[Response]: ...


@overload
def as_completed(
    requests: Iterable[RequestLike],
    *,
    return_exceptions: bool,
    **options: Unpack[StreamOptions],
) -> Results[Union[Response, FetchError]]: ...


def as_completed(
    requests: Iterable[RequestLike],
    *,
    return_exceptions: bool = False,
    **options: Unpack[StreamOptions],
) -> Results[Any]:
    """``async for index, result in as_completed(requests, ...)``: each
    result as soon as it is ready, with its position in ``requests``.

    Takes ``fetch``'s keyword arguments. A failure is raised (ending the
    run) unless ``return_exceptions=True``, which yields it in place.
    Memory stays bounded however many requests there are: a request
    starts only within ``window`` (default ``64 * limit``) of the results
    taken, and while the results not yet taken hold under 32 MiB, so a
    slow loop body slows the requests rather than piling up their
    results. Leaving the loop early (``break``) or ``aclose()``
    stops the run; ``async with`` does so on exit.
    """
    return_exceptions = check_return_exceptions(return_exceptions)
    return Results(_engine.Run(requests, False, checked(options, window=True)), return_exceptions)


@overload
def stream(
    requests: Iterable[RequestLike],
    *,
    return_exceptions: Literal[False] = False,
    **options: Unpack[StreamOptions],
) -> Results[Response]: ...


@overload
def stream(
    requests: Iterable[RequestLike],
    *,
    return_exceptions: bool,
    **options: Unpack[StreamOptions],
) -> Results[Union[Response, FetchError]]: ...


def stream(
    requests: Iterable[RequestLike],
    *,
    return_exceptions: bool = False,
    **options: Unpack[StreamOptions],
) -> Results[Any]:
    """``async for index, result in stream(requests, ...)``: every result
    in input order, each as soon as it and those before it are ready.

    As ``as_completed``, but in order: a million results need not be held
    at once, as ``fetch``'s list would. One slow request holds back those
    after it only up to ``window`` (default ``64 * limit``) requests ahead,
    or 32 MiB of results: requests to other hosts go on meanwhile.
    """
    return_exceptions = check_return_exceptions(return_exceptions)
    return Results(_engine.Run(requests, True, checked(options, window=True)), return_exceptions)


@overload
def fetch_sync(
    requests: Iterable[RequestLike],
    *,
    return_exceptions: Literal[False] = False,
    **options: Unpack[Options],
) -> List[Response]: ...


@overload
def fetch_sync(
    requests: Iterable[RequestLike],
    *,
    return_exceptions: bool,
    **options: Unpack[Options],
) -> List[Union[Response, FetchError]]: ...


def fetch_sync(
    requests: Iterable[RequestLike],
    *,
    return_exceptions: bool = False,
    **options: Unpack[Options],
) -> List[Any]:
    """``fetch`` for a program without an event loop (a script, a REPL):
    blocks until every result is in, and returns them in input order.

    Takes ``fetch``'s keyword arguments. Ctrl-C stops it cleanly (the
    engine is cancelled, then ``KeyboardInterrupt`` is raised).

    Raises:
        RuntimeError: called from a running event loop (a coroutine, a
            notebook cell), which it would block, as ``asyncio.run()``
            does there: ``await fetch(...)`` instead.
    """
    refuse_running_loop("fetch_sync()", "await gather_fetch.fetch(...)")
    return_exceptions = check_return_exceptions(return_exceptions)
    return collect_blocking(_engine.Run(requests, False, checked(options, window=False)),
                            return_exceptions)


def _restore_response(state: Tuple[Any, ...]) -> Response:
    """A pickled ``Response`` (see ``Response.__reduce__``)."""
    return Response._from_state(state)


try:  # Headers reads as a Mapping to isinstance() and typing.
    from collections.abc import Mapping as _Mapping

    cast(Any, _Mapping).register(Headers)
except Exception:  # pragma: no cover
    pass
