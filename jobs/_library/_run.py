"""One library run of a job, as every entry point runs it: the engine over the caller's IDs,
its results converted as they come (`opened`), or all of them collected (`collect_sync`)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol, TypeVar

import anyio

from batch import Engine, Job, Results, Stats
from jobs._library._feed import Feed
from jobs._library._interrupt import SigintHandler
from jobs._library._options import Checked
from jobs._library._types import RunAborted, RunInterrupted

__all__ = ["ProfileIds", "collect_sync", "opened"]

#: What ``profile_ids`` accepts: str IDs, or `uuid.UUID`s as database drivers return them.
ProfileIds = Iterable[str | uuid.UUID] | AsyncIterable[str | uuid.UUID]

_R = TypeVar("_R")
_R_co = TypeVar("_R_co", covariant=True)
_Block = TypeVar("_Block")


class _Stream(Protocol[_R_co]):
    """What `opened` yields: the results as they come, their counts, and a way to stop."""

    stats: Stats

    def stop(self, *, grace: float | None = None) -> None: ...

    def __aiter__(self) -> AsyncIterator[_R_co]: ...


@asynccontextmanager
async def opened(
    job: Job,
    handed_out: Callable[[Results, Engine, Feed], _Block],
    profile_ids: ProfileIds,
    run: Checked,
) -> AsyncIterator[_Block]:
    """The engine running ``job`` over ``profile_ids``; the block's value is its results as
    ``handed_out`` makes them (`WorkerTokenResults`, `RevocationResults`)."""
    stats = Stats()
    engine = Engine(job, run.options, stats=stats, session=run.session, logger=run.log)
    feed = Feed(profile_ids, stats, run.log)
    async with engine.results(feed) as results:
        yield handed_out(results, engine, feed)


def collect_sync(
    block: Callable[[], AbstractAsyncContextManager[_Stream[_R]]],
    line: Callable[[_R], int],
    *,
    aborted: type[RunAborted[_R]],
    interrupted: type[RunInterrupted[_R]],
) -> list[_R]:
    """Every result of the run ``block`` opens, in input order (``line``), on an event loop
    of its own. On an abort ``aborted`` (what the run raises), on Ctrl-C ``interrupted``,
    each holding the results obtained."""
    collected: list[_R] = []
    sigint = SigintHandler()
    stats = Stats()

    async def main() -> None:
        nonlocal stats
        async with block() as results:
            stats = results.stats
            sigint.on_interrupt(results.stop)
            async for result in results:
                collected.append(result)

    try:
        with sigint:
            anyio.run(main, backend="asyncio")
    except aborted as exc:
        exc.results = sorted(collected, key=line)
        raise
    except KeyboardInterrupt:  # a third Ctrl-C, or one that came before the run was set up
        raise interrupted(sorted(collected, key=line), stats) from None
    if sigint.count:
        raise interrupted(sorted(collected, key=line), stats)
    return sorted(collected, key=line)
