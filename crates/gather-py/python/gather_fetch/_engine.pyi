# Type stubs for the native half of gather_fetch (src/*.rs).
from __future__ import annotations

import datetime
from typing import Any, Iterable, Iterator, List, Mapping, Optional, Tuple, Union

__version__: str
# The engine's defaults, in seconds and bytes (limit, timeout, retry_delay,
# max_bytes, max_redirects, per_host, window_per_limit).
DEFAULTS: Mapping[str, Any]

class Request:
    """One request: a URL, a method, fields and a body of its own, and an
    ``id`` handed back with its result."""

    @property
    def url(self) -> str: ...
    @property
    def id(self) -> Any: ...
    @property
    def method(self) -> str: ...
    def __init__(
        self,
        url: str,
        *,
        method: Optional[str] = None,
        headers: Optional[Mapping[str, str]] = None,
        json: Any = None,
        body: Any = None,
        body_text: Optional[str] = None,
        body_base64: Optional[str] = None,
        id: Any = None,
        tokens: Optional[int] = None,
    ) -> None: ...

class Headers(Mapping[str, str]):
    """A response's header fields; names looked up without regard to case.
    A name sent more than once reads as its values joined by ``", "``."""

    def __getitem__(self, name: str) -> str: ...
    def __contains__(self, name: object) -> bool: ...
    def __len__(self) -> int: ...
    def __iter__(self) -> Iterator[str]: ...
    def get(self, name: str, default: Any = None) -> Any: ...
    def get_all(self, name: str) -> List[str]: ...

class Response:
    """The answer to one request (any HTTP status)."""

    index: int
    id: Any
    status: int
    url: str
    retries: int
    @property
    def http_version(self) -> str: ...
    @property
    def elapsed(self) -> datetime.timedelta: ...
    @property
    def saved(self) -> Optional[str]: ...
    @property
    def ok(self) -> bool: ...
    @property
    def content(self) -> bytes: ...
    @property
    def encoding(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def headers(self) -> Headers: ...
    def json(self) -> Any: ...
    def raise_for_status(self) -> None: ...

class Failure:
    kind: str
    message: str
    index: int
    url: str
    id: Any
    elapsed: float
    retries: int

class Run:
    def __init__(self, requests: Iterable[Any], ordered: bool, options: dict) -> None: ...
    def pump(self) -> None: ...
    def take(self) -> Optional[List[Tuple[int, Union[Response, Failure]]]]: ...
    def fileno(self) -> int: ...
    def ack(self) -> None: ...
    def wait(self, seen: int, timeout: float) -> int: ...
    def cancel(self) -> None: ...
