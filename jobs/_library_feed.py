"""The library's input: IDs from an iterable or async iterable, as the engine's items."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Iterator
from typing import Any, TypeVar

import anyio

from batch import Item, KeyFilter, Result, Stats
from jobs._worker_tokens import WORKER_TOKENS

__all__ = ["Feed"]

_T = TypeVar("_T")


class Feed:
    """The engine's items: each distinct valid ID once, after a free slot.

    Invalid IDs become ``invalid_input`` results here; duplicates are counted and dropped
    (the command line's rules). Each result-producing ID takes a slot that the consumer
    gives back when it reads a result, which bounds what is buffered.
    """

    def __init__(
        self,
        profile_ids: Iterable[str] | AsyncIterable[str],
        slots: anyio.Semaphore,
        deliver: Callable[[Result], None],
        stats: Stats,
        log: Any,
    ) -> None:
        self._sync: Iterator[str] | None = None
        self._async: AsyncIterator[str] | None = None
        if isinstance(profile_ids, AsyncIterable):
            self._async = aiter(profile_ids)
        else:
            self._sync = iter(profile_ids)
        self._slots = slots
        self._deliver = deliver
        self._stats = stats
        self._keys = KeyFilter(WORKER_TOKENS, stats, log)
        self._line = 0
        self._scope: anyio.CancelScope | None = None
        self._done = False
        self.stopped: Callable[[], bool] = lambda: False
        #: what the input iterable raised, if anything
        self.error: Exception | None = None

    def __aiter__(self) -> Feed:
        return self

    async def __anext__(self) -> Item:
        while True:
            raw = await self._wait(self._next_raw)
            self._line += 1
            if isinstance(raw, str):
                outcome = self._keys.check(self._line, raw)
            else:
                problem = f"expected a string, got {type(raw).__name__}"
                outcome = self._keys.check(self._line, repr(raw), problem)
            if outcome is None:
                continue
            await self._wait(self._slots.acquire)  # each result-producing ID takes a slot
            if isinstance(outcome, Result):
                self._deliver(outcome)
                continue
            return outcome

    def interrupt(self) -> None:
        """The run is stopping: end the feed now, even if it waits for a slot or an ID."""
        self._done = True
        if self._scope is not None:
            self._scope.cancel()

    async def _wait(self, step: Callable[[], Awaitable[_T]]) -> _T:
        if self._done or self.stopped():
            self._done = True
            raise StopAsyncIteration
        with anyio.CancelScope() as scope:
            self._scope = scope
            try:
                value = await step()
            finally:
                self._scope = None
        if scope.cancelled_caught:
            raise StopAsyncIteration
        return value

    async def _next_raw(self) -> str:
        try:
            if self._async is not None:
                return await anext(self._async)
            assert self._sync is not None
            return next(self._sync)
        except (StopIteration, StopAsyncIteration):
            pass
        except Exception as exc:
            self.error = exc
        self._done = True
        raise StopAsyncIteration
