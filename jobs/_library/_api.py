"""The library API: create worker access tokens from a script, without the command line.

    async with open_worker_tokens(profile_ids, token=org_token) as results:
        async for result in results:  # one WorkerToken per distinct ID, as each completes
            ...

    async for result in create_worker_tokens(profile_ids, token=org_token):
        ...  # the contract's async generator form; a `break` is safe

    tokens = create_worker_tokens_sync(profile_ids, token=org_token)  # for non-async scripts

All three check their arguments when called: TypeError for a wrong type (a single ``str``
where an iterable of IDs is expected, a logger without logging methods), ValueError for a
bad value (rate, concurrency, base URL, ...), before any call to the API.

Why `open_worker_tokens` is a context manager: the engine runs its workers in a task group,
whose scope must be the caller's (PEP 789): the ``async with`` block is it, and leaving the
block, normally or early, cancels whatever is still running. `create_worker_tokens` keeps
the contract's generator form safe by running the engine in a task of its own
(jobs/_library/_stream.py).

The async forms never configure logging nor install signal handlers. Engine events go to
the ``logger`` passed in (a `logging.Logger`, a structlog logger), and nowhere by default.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeAlias

import aiohttp
import anyio

from batch import Engine, EngineOptions, Job, Logger, Stats, as_logger, user_agent
from jobs._library._feed import Feed
from jobs._library._interrupt import SigintHandler
from jobs._library._stream import stream
from jobs._library._types import (
    Failed,
    Failure,
    Issued,
    RunAborted,
    RunInterrupted,
    WorkerToken,
    WorkerTokenResults,
)
from jobs._worker_tokens import WORKER_TOKENS

__all__ = [
    "Failed",
    "Failure",
    "Issued",
    "RunAborted",
    "RunInterrupted",
    "WorkerToken",
    "WorkerTokenResults",
    "create_worker_tokens",
    "create_worker_tokens_sync",
    "open_worker_tokens",
]

# WorkerTokens declares `fields` as a fixed-size tuple, which mypy finds narrower than Job's.
_JOB: Job = WORKER_TOKENS
#: What `logger=` accepts (None: log nothing).
AnyLogger: TypeAlias = "Logger | logging.Logger | logging.LoggerAdapter[Any] | None"
#: What `profile_ids` accepts: str IDs, or `uuid.UUID`s as database drivers return them.
ProfileIds = Iterable[str | uuid.UUID] | AsyncIterable[str | uuid.UUID]


@dataclass(frozen=True, slots=True)
class _Run:
    """One call's arguments, checked: what `_open` needs to start the engine."""

    profile_ids: ProfileIds
    options: EngineOptions
    session: aiohttp.ClientSession | None
    log: Logger


def open_worker_tokens(
    profile_ids: ProfileIds,
    *,
    token: str,
    base_url: str = WORKER_TOKENS.default_base_url,
    rate: float = 5.0,
    concurrency: int = 8,
    max_attempts: int = 5,
    timeout: float = 30.0,
    session: aiohttp.ClientSession | None = None,
    logger: AnyLogger = None,
    grace: float = 5.0,
    proxy: str | None = None,
    quota: str = "local",
) -> AbstractAsyncContextManager[WorkerTokenResults]:
    """Create a worker access token for each profile ID; iterate the block's value for results.

    ``rate`` caps requests per rolling second, ``concurrency`` the requests in flight,
    ``max_attempts`` the attempts per ID (retries included), ``timeout`` each attempt in
    seconds, ``grace`` how long requests in flight may finish after `WorkerTokenResults.stop`
    or an abort. ``session``, if given, is used and left open (its connector then bounds
    connections). ``proxy``: a forward proxy URL (``''`` direct); by default HTTPS_PROXY
    and NO_PROXY are honoured as curl does. ``quota``: where the organization's rolling
    window is shared with other runs, as --quota-store ("local": every run on this host with
    the same token and base URL; "redis://HOST:PORT/DB"; "none"); a script's own calls draw
    from it with ``organization_quota(token=...).slot()``. ``logger`` (a `logging.Logger`, a `logging.LoggerAdapter` or a
    structlog-style logger) receives the engine's events (retrying, record_failed,
    run_aborted, rate_changed, invalid_row, duplicate_id); without one, nothing is logged.

    Per-ID failures never raise: they are `Failed` results. Wrong argument types raise
    TypeError and bad values ValueError, here, before any call. Leaving the block early
    cancels the requests in flight; IDs not yet taken from ``profile_ids`` are not read.

    A slow consumer slows the run: about ``4 * concurrency`` IDs at most are taken from the
    input ahead of the results read so far. A plain iterable is read on the event loop: pass an
    async iterable if producing the next ID blocks.
    """
    run = _checked(
        profile_ids,
        token=token,
        base_url=base_url,
        rate=rate,
        concurrency=concurrency,
        max_attempts=max_attempts,
        timeout=timeout,
        session=session,
        logger=logger,
        grace=grace,
        proxy=proxy,
        quota=quota,
    )
    return _open(run)


def create_worker_tokens(
    profile_ids: ProfileIds,
    *,
    token: str,
    base_url: str = WORKER_TOKENS.default_base_url,
    rate: float = 5.0,
    concurrency: int = 8,
    max_attempts: int = 5,
    timeout: float = 30.0,
    session: aiohttp.ClientSession | None = None,
    logger: AnyLogger = None,
    grace: float = 5.0,
    proxy: str | None = None,
    quota: str = "local",
) -> AsyncGenerator[WorkerToken, None]:
    """The contract's form: an async generator yielding one `WorkerToken` per distinct ID.

    ``async for result in create_worker_tokens(ids, token=t): ... break`` is safe: the
    engine runs in a task of its own, which closing the generator cancels (a ``break``
    drops it, and asyncio closes it at once; ``contextlib.aclosing`` or ``aclose()`` close
    it in place). Options and argument checks as for `open_worker_tokens`.
    """
    run = _checked(
        profile_ids,
        token=token,
        base_url=base_url,
        rate=rate,
        concurrency=concurrency,
        max_attempts=max_attempts,
        timeout=timeout,
        session=session,
        logger=logger,
        grace=grace,
        proxy=proxy,
        quota=quota,
    )
    return stream(_open(run))


def create_worker_tokens_sync(
    profile_ids: Iterable[str | uuid.UUID],
    *,
    token: str,
    base_url: str = WORKER_TOKENS.default_base_url,
    rate: float = 5.0,
    concurrency: int = 8,
    max_attempts: int = 5,
    timeout: float = 30.0,
    logger: AnyLogger = None,
    grace: float = 5.0,
    proxy: str | None = None,
    quota: str = "local",
) -> list[WorkerToken]:
    """`open_worker_tokens` for scripts that are not async: all results, in input order.

    Runs its own event loop (do not call it from async code). On an abort it raises
    `RunAborted`, whose ``results`` holds the results obtained before it. On Ctrl-C
    (SIGINT, in the main thread) it takes no more IDs, gives requests in flight ``grace``
    seconds, and raises `RunInterrupted` (a KeyboardInterrupt) whose ``results`` holds
    every result obtained; a second Ctrl-C cuts the requests in flight off at once.
    """
    run = _checked(
        profile_ids,
        token=token,
        base_url=base_url,
        rate=rate,
        concurrency=concurrency,
        max_attempts=max_attempts,
        timeout=timeout,
        session=None,
        logger=logger,
        grace=grace,
        proxy=proxy,
        quota=quota,
    )
    collected: list[WorkerToken] = []
    sigint = SigintHandler()
    stats = Stats()

    async def main() -> None:
        async with _open(run) as results:
            nonlocal stats
            stats = results.stats
            sigint.on_interrupt(results.stop)
            async for result in results:
                collected.append(result)

    try:
        with sigint:
            anyio.run(main, backend="asyncio")
    except RunAborted as exc:
        exc.results = sorted(collected, key=_line)
        raise
    except KeyboardInterrupt:  # a third Ctrl-C, or one that came before the run was set up
        raise RunInterrupted(sorted(collected, key=_line), stats) from None
    if sigint.count:
        raise RunInterrupted(sorted(collected, key=_line), stats)
    return sorted(collected, key=_line)


# -- internals ----------------------------------------------------------------


@asynccontextmanager
async def _open(run: _Run) -> AsyncIterator[WorkerTokenResults]:
    stats = Stats()
    engine = Engine(_JOB, run.options, stats=stats, session=run.session, logger=run.log)
    feed = Feed(run.profile_ids, stats, run.log)
    async with engine.results(feed) as results:
        yield WorkerTokenResults(results, engine, feed)


def _checked(
    profile_ids: object,
    *,
    token: object,
    base_url: str,
    rate: float,
    concurrency: int,
    max_attempts: int,
    timeout: float,
    session: aiohttp.ClientSession | None,
    logger: object,
    grace: float,
    proxy: str | None,
    quota: str,
) -> _Run:
    """The arguments of one call, checked now: TypeError for a wrong type, ValueError for a
    bad value (EngineOptions refuses those), so that a mistake shows at the call."""
    if isinstance(profile_ids, str | bytes | bytearray):
        raise TypeError(
            f"profile_ids must be an iterable of profile IDs, not a single {type(profile_ids).__name__}"
            " (for one ID, pass [profile_id])"
        )
    if not isinstance(profile_ids, Iterable | AsyncIterable):
        raise TypeError(
            "profile_ids must be an iterable or async iterable of profile IDs, "
            f"not {type(profile_ids).__name__}"
        )
    if not isinstance(token, str):
        raise TypeError(f"token must be a str, not {type(token).__name__}")
    if session is not None and not isinstance(session, aiohttp.ClientSession):
        raise TypeError(f"session must be an aiohttp.ClientSession, not {type(session).__name__}")
    log = as_logger(logger)
    if not (isinstance(grace, int | float) and grace >= 0):
        raise ValueError(f"grace must be a number of seconds >= 0, not {grace!r}")
    options = EngineOptions(
        base_url=base_url,
        token=token.strip(),
        rate=rate,
        concurrency=concurrency,
        max_attempts=max_attempts,
        timeout=timeout,
        grace=grace,
        user_agent=user_agent("library"),
        token_source="the token argument",  # noqa: S106 - words for a message
        base_url_source="the base_url argument",
        proxy=proxy,
        proxy_source="the proxy argument",
        quota=quota,
    )
    return _Run(profile_ids, options, session, log)


def _line(result: WorkerToken) -> int:
    return result.line
