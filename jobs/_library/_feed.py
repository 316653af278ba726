"""The library's input: IDs from an iterable or async iterable, as the engine's items."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator

from batch import Item, KeyFilter, Logger, Result, Stats
from jobs._worker_tokens import WORKER_TOKENS

__all__ = ["Feed"]


class Feed:
    """The engine's items: each distinct valid ID once, and a result for each invalid one.

    The command line's input rules (`KeyFilter`): duplicates are counted and dropped.
    A `uuid.UUID` is taken as its string; anything else that is not a `str` (None, a
    number, bytes) is an ``invalid_input`` result with the reason, and an empty ID.
    ``error`` holds what the caller's iterable raised, if anything; the feed then ends.
    """

    def __init__(
        self,
        profile_ids: Iterable[str | uuid.UUID] | AsyncIterable[str | uuid.UUID],
        stats: Stats,
        log: Logger,
    ) -> None:
        self._sync: Iterator[object] | None = None
        self._async: AsyncIterator[object] | None = None
        if isinstance(profile_ids, AsyncIterable):
            self._async = aiter(profile_ids)
        else:
            self._sync = iter(profile_ids)
        self._keys = KeyFilter(WORKER_TOKENS, stats, log)
        self._line = 0
        self._done = False
        #: what the input iterable raised, if anything
        self.error: Exception | None = None

    def __aiter__(self) -> Feed:
        return self

    async def __anext__(self) -> Item | Result:
        while True:
            raw = await self._next_raw()
            self._line += 1
            if isinstance(raw, str):
                outcome = self._keys.check(self._line, raw)
            elif isinstance(raw, uuid.UUID):  # what database drivers return for a uuid column
                outcome = self._keys.check(self._line, str(raw))
            else:  # never str(raw): "None" would pass for an ID that someone typed
                kind = "None" if raw is None else type(raw).__name__
                problem = f"expected a profile ID string, got {kind}"
                outcome = self._keys.check(self._line, None, problem)
            if outcome is not None:
                return outcome

    async def _next_raw(self) -> object:
        if self._done:
            raise StopAsyncIteration
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
