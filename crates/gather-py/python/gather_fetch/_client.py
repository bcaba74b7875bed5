"""``gather_fetch.Client``: one engine held across calls, as an
``aiohttp.ClientSession`` or an ``httpx.AsyncClient`` is.

The habit it serves::

    async with gather_fetch.Client(limit=64) as client:
        pages = await asyncio.gather(*(client.get(u) for u in urls))

Every call on a client (``fetch``, ``as_completed``, ``stream``, and the
single requests ``get`` and ``request``) shares its connections, its TLS
roots and each host's window and pacing: the second call opens no
connection the first left open, and two calls at once to one host are paced
together, as one client should be. A call cancelled stops that call only.
"""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING, Any, Dict, Iterable, List, Literal, Optional, Union, overload

from . import _engine
from ._engine import Request, Response
from ._errors import FetchError, from_failure
from ._options import HeadersLike, ParamsLike, checked
from ._results import Results, check_return_exceptions, collect

if TYPE_CHECKING:
    from typing_extensions import Self, Unpack

    from ._options import RequestLike, StreamOptions

__all__ = ["Client"]


class Client:
    """A client: ``Client(**options)`` takes ``fetch``'s keyword
    arguments (and ``window``), fixed for every call on it. Use it as
    ``async with Client(...) as client:``, or call ``await
    client.aclose()`` when done.

    A client belongs to the event loop it is first used in (as aiohttp's
    and httpx's do), and to the process that made it.
    """

    def __init__(self, **options: Unpack[StreamOptions]) -> None:
        self._engine = _engine.Client(checked(options, window=True))
        self._waiting: Dict[int, asyncio.Future[Response]] = {}
        self._loop: Optional[asyncio.AbstractEventLoop] = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    @property
    def closed(self) -> bool:
        """``True`` once ``aclose()`` was called."""
        return self._engine.closed

    async def aclose(self) -> None:
        """Closes the client: its single requests in flight are cancelled,
        no call starts after it, and its connections close once the calls
        still running end. Calling it again does nothing."""
        self._engine.close()
        if self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(self._engine.fileno())
        waiting, self._waiting = self._waiting, {}
        for future in waiting.values():
            if not future.done():
                future.cancel()

    # Calls over many requests ------------------------------------------

    @overload
    async def fetch(
        self, requests: Iterable[RequestLike], *, return_exceptions: Literal[False] = False,
    ) -> List[Response]: ...

    @overload
    async def fetch(
        self, requests: Iterable[RequestLike], *, return_exceptions: bool,
    ) -> List[Union[Response, FetchError]]: ...

    async def fetch(
        self, requests: Iterable[RequestLike], *, return_exceptions: bool = False,
    ) -> List[Any]:
        """``gather_fetch.fetch`` on this client's connections and
        configuration: every result, in input order."""
        return_exceptions = check_return_exceptions(return_exceptions)
        return await collect(self._run(requests, False, None), return_exceptions)

    @overload
    def as_completed(
        self, requests: Iterable[RequestLike], *, return_exceptions: Literal[False] = False,
        window: Optional[int] = None,
    ) -> Results[Response]: ...

    @overload
    def as_completed(
        self, requests: Iterable[RequestLike], *, return_exceptions: bool,
        window: Optional[int] = None,
    ) -> Results[Union[Response, FetchError]]: ...

    def as_completed(
        self, requests: Iterable[RequestLike], *, return_exceptions: bool = False,
        window: Optional[int] = None,
    ) -> Results[Any]:
        """``gather_fetch.as_completed`` on this client."""
        return_exceptions = check_return_exceptions(return_exceptions)
        return Results(self._run(requests, False, window), return_exceptions)

    @overload
    def stream(
        self, requests: Iterable[RequestLike], *, return_exceptions: Literal[False] = False,
        window: Optional[int] = None,
    ) -> Results[Response]: ...

    @overload
    def stream(
        self, requests: Iterable[RequestLike], *, return_exceptions: bool,
        window: Optional[int] = None,
    ) -> Results[Union[Response, FetchError]]: ...

    def stream(
        self, requests: Iterable[RequestLike], *, return_exceptions: bool = False,
        window: Optional[int] = None,
    ) -> Results[Any]:
        """``gather_fetch.stream`` on this client."""
        return_exceptions = check_return_exceptions(return_exceptions)
        return Results(self._run(requests, True, window), return_exceptions)

    def _run(self, requests: Iterable[RequestLike], ordered: bool, window: Optional[int]) -> Any:
        options = {} if window is None else {"window": window}
        return _engine.Run(requests, ordered, options, self._engine)

    # Single requests ---------------------------------------------------

    async def get(
        self, url: str, *, params: Optional[ParamsLike] = None,
        headers: Optional[HeadersLike] = None, timeout: Optional[float] = None, id: Any = None,
    ) -> Response:
        """One GET: its ``Response`` (any status, unless the client has
        ``raise_for_status=True``), or its ``FetchError`` raised.

        Many at once under ``asyncio.gather`` share the client's
        connections and per-host windows, as one ``fetch`` of them would.
        Cancelling the awaiting task drops the request and its connection.
        ``params`` are added to the URL's query, form-encoded, as httpx's
        (``{"q": "a b", "tag": ["x", "y"]}``: ``?q=a+b&tag=x&tag=y``; a
        ``bool`` reads ``true`` or ``false``). ``timeout`` is this
        request's time for a complete answer, over the client's.
        """
        return await self.request("GET", url, params=params, headers=headers, timeout=timeout,
                                  id=id)

    async def request(
        self,
        method: str,
        url: str,
        *,
        params: Optional[ParamsLike] = None,
        headers: Optional[HeadersLike] = None,
        json: Any = None,
        body: Any = None,
        body_text: Optional[str] = None,
        body_base64: Optional[str] = None,
        tokens: Optional[int] = None,
        timeout: Optional[float] = None,
        id: Any = None,
    ) -> Response:
        """One request with ``method`` (and a body: ``json``, ``body``,
        ``body_text`` or ``body_base64``, as a ``Request``'s), as ``get``.

        A POST is never sent twice by accident: a connection lost after it
        was written is its ``ConnectError``, unless it has an
        ``Idempotency-Key`` field."""
        loop = self._attach()
        item: Any
        if (method == "GET" and type(url) is str and params is None and headers is None
                and json is None and body is None and body_text is None
                and body_base64 is None and tokens is None and timeout is None and id is None):
            # A plain GET goes as its URL, as in a `fetch` list: a
            # `Request` made and read back for each was 7% of the CPU of
            # a `get` under `asyncio.gather`.
            item = url
        else:
            fields: Any = dict(headers) if headers is not None else None
            item = Request(url, method=method, params=params, headers=fields, json=json,
                           body=body, body_text=body_text, body_base64=body_base64,
                           tokens=tokens, timeout=timeout, id=id)
        ticket = self._engine.send(item)
        future: asyncio.Future[Response] = loop.create_future()
        self._waiting[ticket] = future
        try:
            return await future
        except asyncio.CancelledError:
            self._engine.cancel(ticket)
            raise
        finally:
            self._waiting.pop(ticket, None)

    async def post(
        self, url: str, *, params: Optional[ParamsLike] = None,
        headers: Optional[HeadersLike] = None, json: Any = None, body: Any = None,
        body_text: Optional[str] = None, body_base64: Optional[str] = None,
        tokens: Optional[int] = None, timeout: Optional[float] = None, id: Any = None,
    ) -> Response:
        """``request("POST", url, ...)``, as httpx's and aiohttp's ``post``."""
        return await self.request("POST", url, params=params, headers=headers, json=json,
                                  body=body, body_text=body_text, body_base64=body_base64,
                                  tokens=tokens, timeout=timeout, id=id)

    async def put(
        self, url: str, *, params: Optional[ParamsLike] = None,
        headers: Optional[HeadersLike] = None, json: Any = None, body: Any = None,
        body_text: Optional[str] = None, body_base64: Optional[str] = None,
        tokens: Optional[int] = None, timeout: Optional[float] = None, id: Any = None,
    ) -> Response:
        """``request("PUT", url, ...)``, as httpx's and aiohttp's ``put``."""
        return await self.request("PUT", url, params=params, headers=headers, json=json,
                                  body=body, body_text=body_text, body_base64=body_base64,
                                  tokens=tokens, timeout=timeout, id=id)

    async def patch(
        self, url: str, *, params: Optional[ParamsLike] = None,
        headers: Optional[HeadersLike] = None, json: Any = None, body: Any = None,
        body_text: Optional[str] = None, body_base64: Optional[str] = None,
        tokens: Optional[int] = None, timeout: Optional[float] = None, id: Any = None,
    ) -> Response:
        """``request("PATCH", url, ...)``, as httpx's and aiohttp's ``patch``."""
        return await self.request("PATCH", url, params=params, headers=headers, json=json,
                                  body=body, body_text=body_text, body_base64=body_base64,
                                  tokens=tokens, timeout=timeout, id=id)

    async def delete(
        self, url: str, *, params: Optional[ParamsLike] = None,
        headers: Optional[HeadersLike] = None, timeout: Optional[float] = None, id: Any = None,
    ) -> Response:
        """``request("DELETE", url, ...)``, as httpx's and aiohttp's ``delete``."""
        return await self.request("DELETE", url, params=params, headers=headers, timeout=timeout,
                                  id=id)

    async def head(
        self, url: str, *, params: Optional[ParamsLike] = None,
        headers: Optional[HeadersLike] = None, timeout: Optional[float] = None, id: Any = None,
    ) -> Response:
        """``request("HEAD", url, ...)``, as httpx's and aiohttp's ``head``."""
        return await self.request("HEAD", url, params=params, headers=headers, timeout=timeout,
                                  id=id)

    async def options(
        self, url: str, *, params: Optional[ParamsLike] = None,
        headers: Optional[HeadersLike] = None, timeout: Optional[float] = None, id: Any = None,
    ) -> Response:
        """``request("OPTIONS", url, ...)``, as httpx's and aiohttp's ``options``."""
        return await self.request("OPTIONS", url, params=params, headers=headers, timeout=timeout,
                                  id=id)

    def _attach(self) -> asyncio.AbstractEventLoop:
        """The running loop, which from the first single request on
        watches the client's pipe."""
        loop = asyncio.get_running_loop()
        if self._loop is None:
            if self._engine.closed:
                raise RuntimeError("the Client is closed")
            os.set_blocking(self._engine.fileno(), False)
            loop.add_reader(self._engine.fileno(), self._readable)
            self._loop = loop
        elif loop is not self._loop:
            raise RuntimeError(
                "this Client is used in another event loop than the one it was first used "
                "in: make a Client in each loop"
            )
        return loop

    def _readable(self) -> None:
        """The pipe said results are ready: each goes to its request."""
        try:
            os.read(self._engine.fileno(), 4096)
        except (BlockingIOError, InterruptedError):
            pass
        self._engine.ack()
        for ticket, value in self._engine.take():
            future = self._waiting.get(ticket)
            if future is None or future.done():
                continue
            if type(value) is _engine.Failure:
                future.set_exception(from_failure(value))
            else:
                future.set_result(value)

    def __repr__(self) -> str:
        return f"<gather_fetch.Client{' closed' if self.closed else ''}>"
