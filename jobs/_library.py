"""The library API: create worker access tokens from a script, without the command line.

    async with open_worker_tokens(profile_ids, token=org_token) as results:
        async for result in results:  # one WorkerToken per distinct ID, as each completes
            ...

    tokens = create_worker_tokens_sync(profile_ids, token=org_token)  # for non-async scripts

Why a context manager and not a bare async generator: the engine runs its workers in a
task group, and an async generator that yields from inside a task group is unsafe when the
caller stops early (``break``): the generator is then closed later, by the garbage collector,
in another task, which corrupts the caller's cancel scopes and leaves the workers running
(PEP 789; anyio and trio document the same limitation). The ``async with`` block gives the
workers a scope: leaving it, normally or early, cancels whatever is still running.

The library never configures logging and never installs signal handlers: engine events
go to the ``logger`` passed in (a structlog-style bound logger), and nowhere by default.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Iterable
from typing import Any, TypeVar

import aiohttp
import anyio

from batch import Engine, EngineOptions, Job, QuietLogger, Stats, user_agent
from jobs._library_feed import Feed
from jobs._library_types import RunAborted, WorkerToken, WorkerTokenResults
from jobs._worker_tokens import WORKER_TOKENS

__all__ = [
    "RunAborted",
    "WorkerToken",
    "WorkerTokenResults",
    "create_worker_tokens",
    "create_worker_tokens_sync",
    "open_worker_tokens",
]

_T = TypeVar("_T")
# WorkerTokens declares `fields` as a fixed-size tuple, which mypy finds narrower than Job's.
_JOB: Job = WORKER_TOKENS


@contextlib.asynccontextmanager
async def open_worker_tokens(
    profile_ids: Iterable[str] | AsyncIterable[str],
    *,
    token: str,
    base_url: str = WORKER_TOKENS.default_base_url,
    rate: float = 5.0,
    concurrency: int = 8,
    max_attempts: int = 5,
    timeout: float = 30.0,
    session: aiohttp.ClientSession | None = None,
    logger: Any = None,
    proxy: str | None = None,
) -> AsyncIterator[WorkerTokenResults]:
    """Create a worker access token for each profile ID; iterate the block's value for results.

    ``rate`` caps requests per rolling second, ``concurrency`` the requests in flight,
    ``max_attempts`` the attempts per ID (retries included), ``timeout`` each attempt in
    seconds. ``session``, if given, is used and left open (its connector then bounds
    connections). ``proxy``: a forward proxy URL (``''`` direct); by default HTTPS_PROXY
    and NO_PROXY are honoured as curl does. ``logger``, a structlog-style logger (``log.info(event, **fields)``),
    receives the engine's events (retrying, record_failed, run_aborted, rate_changed);
    without one, nothing is logged.

    Per-ID failures never raise: they are results with ``error`` set. Bad options raise
    ValueError before any call. Leaving the block early cancels the requests in flight;
    IDs not yet taken from ``profile_ids`` are not read.

    A slow consumer slows the run: about ``2 * concurrency`` IDs at most are taken from the
    input ahead of the results read so far. A plain iterable is read on the event loop: pass an
    async iterable if producing the next ID blocks.
    """
    options = _options(
        token=token,
        base_url=base_url,
        rate=rate,
        concurrency=concurrency,
        max_attempts=max_attempts,
        timeout=timeout,
        proxy=proxy,
    )
    stats = Stats()
    quiet = logger if logger is not None else QuietLogger()
    engine = Engine(_JOB, options, stats=stats, session=session, logger=quiet)
    feed = Feed(profile_ids, stats, quiet)
    async with engine.results(feed) as results:
        yield WorkerTokenResults(results, engine, feed)


async def create_worker_tokens(
    profile_ids: Iterable[str] | AsyncIterable[str],
    *,
    token: str,
    base_url: str = WORKER_TOKENS.default_base_url,
    rate: float = 5.0,
    concurrency: int = 8,
    max_attempts: int = 5,
    timeout: float = 30.0,
    session: aiohttp.ClientSession | None = None,
    logger: Any = None,
    proxy: str | None = None,
) -> AsyncGenerator[WorkerToken, None]:
    """The contract's form: an async generator yielding one `WorkerToken` per distinct ID.

    Iterate it to the end, or close it where you stop, in the same task::

        async with contextlib.aclosing(create_worker_tokens(ids, token=t)) as results:
            async for result in results:
                ...  # a break here is safe: aclosing closes the generator right away

    (A generator that runs tasks and is left half-read is closed later by the
    garbage collector, in another task, which anyio cannot allow: PEP 789.
    `open_worker_tokens` has no such pitfall.) Options as for `open_worker_tokens`.
    """
    async with open_worker_tokens(
        profile_ids,
        token=token,
        base_url=base_url,
        rate=rate,
        concurrency=concurrency,
        max_attempts=max_attempts,
        timeout=timeout,
        session=session,
        logger=logger,
        proxy=proxy,
    ) as results:
        async for result in results:
            try:
                yield result
            except GeneratorExit:  # closed early (aclosing): leaving the block cancels the run
                break


def create_worker_tokens_sync(
    profile_ids: Iterable[str],
    *,
    token: str,
    base_url: str = WORKER_TOKENS.default_base_url,
    rate: float = 5.0,
    concurrency: int = 8,
    max_attempts: int = 5,
    timeout: float = 30.0,
    logger: Any = None,
    proxy: str | None = None,
) -> list[WorkerToken]:
    """`open_worker_tokens` for scripts that are not async: all results, in input order.

    Runs its own event loop (do not call it from async code). On an abort it raises
    `RunAborted` whose ``results`` holds the results obtained before it.
    """
    _options(
        token=token,
        base_url=base_url,
        rate=rate,
        concurrency=concurrency,
        max_attempts=max_attempts,
        timeout=timeout,
        proxy=proxy,
    )
    collected: list[WorkerToken] = []

    async def main() -> None:
        async with open_worker_tokens(
            profile_ids,
            token=token,
            base_url=base_url,
            rate=rate,
            concurrency=concurrency,
            max_attempts=max_attempts,
            timeout=timeout,
            logger=logger,
            proxy=proxy,
        ) as results:
            async for result in results:
                collected.append(result)

    try:
        anyio.run(main, backend="asyncio")
    except RunAborted as exc:
        exc.results = sorted(collected, key=_line)
        raise
    return sorted(collected, key=_line)


# -- internals ----------------------------------------------------------------


def _options(
    *,
    token: str,
    base_url: str,
    rate: float,
    concurrency: int,
    max_attempts: int,
    timeout: float,
    proxy: str | None,
) -> EngineOptions:
    """The engine's options; EngineOptions refuses bad ones with a ValueError."""
    return EngineOptions(
        base_url=base_url,
        token=token.strip() if isinstance(token, str) else token,
        rate=rate,
        concurrency=concurrency,
        max_attempts=max_attempts,
        timeout=timeout,
        user_agent=user_agent("library"),
        token_source="the token argument",  # noqa: S106 - words for a message
        base_url_source="the base_url argument",
        proxy=proxy,
        proxy_source="the proxy argument",
    )


def _line(result: WorkerToken) -> int:
    return result.line
