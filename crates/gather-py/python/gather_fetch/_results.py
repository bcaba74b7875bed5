"""A run's results on the event loop: taken from the engine in batches
as its pipe says they are ready (``batches``), put in input order
(``place``, for ``fetch``), or iterated (``Results``, for
``as_completed`` and ``stream``). Shared by the module's calls and a
``Client``'s.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any, AsyncGenerator, Generic, List, Tuple, TypeVar, cast

from . import _engine
from ._errors import from_failure

_T = TypeVar("_T")


async def batches(run: Any) -> AsyncGenerator[List[Tuple[int, Any]], None]:
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
    waiting: List[asyncio.Future[None]] = []

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
                # The loop's other callbacks run between two batches: a
                # burst of results is handed over a batch per turn of the
                # loop, not all in one (a 1 ms ticker was 24 ms late).
                await asyncio.sleep(0)
                continue
            ready: asyncio.Future[None] = loop.create_future()
            waiting.append(ready)
            await ready
    finally:
        loop.remove_reader(fd)
        run.cancel()


def place(batch: List[Tuple[int, Any]], results: List[Any], return_exceptions: bool) -> None:
    """Puts each result of `batch` at its index in `results`; the first
    failure is raised unless `return_exceptions`."""
    for index, value in batch:
        if type(value) is _engine.Failure:
            value = from_failure(value)
            if not return_exceptions:
                raise value
        if index >= len(results):
            results.extend([None] * (index + 1 - len(results)))
        results[index] = value


def check_return_exceptions(value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"return_exceptions must be True or False, not {type(value).__name__}")
    return value


class Results(Generic[_T]):
    """An async iterator of ``(index, result)`` over a run, from
    ``as_completed`` or ``stream``: ``Results[Response]``, or
    ``Results[Response | FetchError]`` with ``return_exceptions=True``."""

    def __init__(self, run: Any, return_exceptions: bool) -> None:
        self._return_exceptions = return_exceptions
        self._run = run
        self._batches = batches(run)
        self._batch: List[Tuple[int, Any]] = []
        self._at = 0

    def __aiter__(self) -> Results[_T]:
        return self

    async def __anext__(self) -> Tuple[int, _T]:
        while self._at >= len(self._batch):
            self._batch = await self._batches.__anext__()
            self._at = 0
        index, value = self._batch[self._at]
        self._at += 1
        if type(value) is _engine.Failure:
            value = from_failure(value)
            if not self._return_exceptions:
                await self.aclose()
                raise value
        return index, cast(_T, value)

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

    async def __aenter__(self) -> Results[_T]:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()




async def collect(run: Any, return_exceptions: bool) -> List[Any]:
    """Every result of `run`, in input order (``fetch``)."""
    results: List[Any] = []
    async for batch in batches(run):
        place(batch, results, return_exceptions)
    return results


def collect_blocking(run: Any, return_exceptions: bool) -> List[Any]:
    """``collect`` with no event loop (``fetch_sync``), waiting on the
    engine with the GIL released."""
    results: List[Any] = []
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
            place(batch, results, return_exceptions)
    finally:
        run.cancel()


def refuse_running_loop(call: str, instead: str) -> None:
    """Raises ``RuntimeError`` in a running event loop, which `call`
    would block (as ``asyncio.run()`` does there)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise RuntimeError(
        f"{call} cannot be called from a running event loop "
        f"(it would block it): use `{instead}` there"
    )
