"""The keyword arguments every call takes, as types a checker reads.

``Options`` is a ``TypedDict``: the calls take ``**options:
Unpack[Options]`` (PEP 692), so ``mypy --strict`` and pyright check each
option's name and type at the call (``fetch(urls, limt=3)`` is an error
there, and a ``TypeError`` when it runs). Only the options given go to the
engine, which owns every default (``gather_http::FetchConfig``, shown as
``_engine.DEFAULTS``): nothing here repeats one.
"""

from __future__ import annotations

import os
import warnings
from typing import (
    Any, Dict, Iterable, Literal, Mapping, Optional, Sequence, Tuple, TypedDict, Union,
)

from ._engine import Request

HeadersLike = Union[Mapping[str, str], Iterable[Tuple[str, str]]]
ParamValue = Union[str, int, float, bool]
ParamsLike = Union[
    Mapping[str, Union[ParamValue, Sequence[ParamValue]]],
    Sequence[Tuple[str, ParamValue]],
]
"""Query parameters (``params=``), as httpx, requests and aiohttp take
them: a mapping (a list or tuple value repeats its name) or ``(name,
value)`` pairs."""
RequestLike = Union[str, Mapping[str, Any], "Request"]
"""An item of ``requests``: a URL, a dict of a request's fields, or a
``Request``."""
PathLike = Union[str, "os.PathLike[str]"]


class Options(TypedDict, total=False):
    """The keyword arguments of ``fetch``, ``fetch_sync``, ``as_completed``
    and ``stream`` (documented on ``fetch``)."""

    limit: int
    per_host: Union[int, Literal["auto"], None]
    rate: Optional[float]
    rate_per_host: Optional[float]
    tokens_per_minute: Optional[float]
    server_limits: bool
    timeout: Optional[float]
    retries: int
    retry_delay: float
    headers: Optional[HeadersLike]
    user_agent: Optional[str]
    max_bytes: Optional[int]
    max_redirects: int
    http_version: Literal["auto", "1.1", "2"]
    proxy: Optional[str]
    no_proxy: Optional[str]
    trust_env: bool
    decompress: bool
    save_dir: Optional[PathLike]
    ca_file: Optional[PathLike]
    verify: bool
    cert: Union[PathLike, Tuple[PathLike, PathLike], None]
    raise_for_status: bool
    cookies: bool
    base_url: Optional[str]


class StreamOptions(Options, total=False):
    """``Options``, and the window of ``as_completed`` and ``stream``."""

    window: Optional[int]


_NAMES = StreamOptions.__optional_keys__


class InsecureRequestWarning(UserWarning):
    """``verify=False``: server certificates are not checked (as urllib3's
    warning of the same name says)."""


def checked(options: Mapping[str, Any], *, window: bool) -> Dict[str, Any]:
    """``options`` as the engine takes them: a ``TypeError`` for a name no
    call takes (as Python raises for an unexpected keyword argument), and
    for ``window`` where the call has none. ``verify=False`` is warned
    about (``InsecureRequestWarning``)."""
    for name in options:
        if name not in _NAMES or (name == "window" and not window):
            raise TypeError(f"unexpected keyword argument {name!r}")
    if options.get("verify") is False:
        warnings.warn(
            "verify=False: server certificates are not checked; anyone between here and the "
            "servers can read and change what is fetched",
            InsecureRequestWarning,
            stacklevel=3,
        )
    return dict(options)
