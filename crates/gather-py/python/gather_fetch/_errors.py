"""The exceptions of ``gather_fetch``: one ``FetchError`` per request that
got no response, a subclass per kind of failure, each also the builtin a
Python user catches (``ConnectionError``, ``TimeoutError``, ``ValueError``).

Each carries its request's ``index``, ``url`` and ``id``, says its URL in
its ``str`` and ``repr`` (a list of results printed shows whose failure is
whose), and pickles with everything it holds (``multiprocessing``,
``concurrent.futures``).
"""

from __future__ import annotations

import datetime
from typing import Any, Optional

from ._engine import Response

__all__ = [
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


class FetchError(Exception):
    """A request that got no response.

    Attributes:
        kind: what went wrong, as the ``gather fetch`` records name it:
            ``"connect"``, ``"timeout"``, ``"tls"``, ``"protocol"``,
            ``"body"``, ``"body_too_large"``, ``"redirect"``, ``"proxy"``,
            ``"status"``, ``"save"``, ``"invalid_url"``,
            ``"unsupported_scheme"``, ``"invalid_request"``, ``"internal"``.
        message: what happened, without the URL (``str()`` adds it).
        index: the request's position in ``requests``.
        url: the URL as given.
        id: the request's ``id``, if it had one.
        elapsed: the time it took, a ``datetime.timedelta`` (as
            ``Response.elapsed``).
        retries: retries it took.
        response: the answer, when the failure is one (``StatusError``).
    """

    kind: str
    message: str
    index: int
    url: str
    id: Any
    elapsed: datetime.timedelta
    retries: int
    response: Optional[Response]

    def __init__(
        self,
        message: str,
        *,
        kind: str = "",
        index: int = -1,
        url: str = "",
        id: Any = None,
        elapsed: Optional[datetime.timedelta] = None,
        retries: int = 0,
        response: Optional[Response] = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.index = index
        self.url = url
        self.id = id
        self.elapsed = datetime.timedelta(0) if elapsed is None else elapsed
        self.retries = retries
        self.response = response

    def __str__(self) -> str:
        return f"{self.url}: {self.message}" if self.url else self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


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
    from ``Response.raise_for_status()``, as httpx's ``HTTPStatusError``:
    ``status`` is the status, and ``response`` the answer, its body
    readable (an API's error JSON: ``e.response.json()``)."""

    @property
    def status(self) -> int:
        """The HTTP status (``e.response.status``)."""
        return self.response.status if self.response is not None else 0


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


def from_failure(failure: Any) -> FetchError:
    """The exception for the engine's ``Failure``."""
    cls = _ERRORS.get(failure.kind, FetchError)
    return cls(
        failure.message,
        kind=failure.kind,
        index=failure.index,
        url=failure.url,
        id=failure.id,
        elapsed=datetime.timedelta(seconds=failure.elapsed),
        retries=failure.retries,
        response=failure.response,
    )
