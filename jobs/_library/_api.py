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

import uuid
from collections.abc import AsyncGenerator, Iterable
from contextlib import AbstractAsyncContextManager
from typing import Unpack

from batch import Job
from jobs._library._options import AsyncRunOptions, Checked, RunOptions, checked, checked_async
from jobs._library._run import ProfileIds, collect_sync, opened
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

_JOB: Job = WORKER_TOKENS


def open_worker_tokens(
    profile_ids: ProfileIds, **options: Unpack[AsyncRunOptions]
) -> AbstractAsyncContextManager[WorkerTokenResults]:
    """Create a worker access token for each profile ID; iterate the block's value for results.

    ``options`` are keyword arguments, ``token`` required: each and its default in
    `RunOptions` and `AsyncRunOptions` (``session``). A script's own calls draw from the
    same shared quota with ``organization_quota(token=...).slot()``. The ``logger``
    receives the engine's events (retrying, record_failed, run_aborted, rate_changed,
    invalid_row, duplicate_id); without one, nothing is logged.

    Per-ID failures never raise: they are `Failed` results. Wrong argument types raise
    TypeError and bad values ValueError, here, before any call. Leaving the block early
    cancels the requests in flight; IDs not yet taken from ``profile_ids`` are not read.

    A slow consumer slows the run: about ``4 * concurrency`` IDs at most are taken from the
    input ahead of the results read so far. A plain iterable is read on the event loop: pass an
    async iterable if producing the next ID blocks.
    """
    run = checked_async(_JOB, profile_ids, options, call="open_worker_tokens")
    return _open(profile_ids, run)


def create_worker_tokens(
    profile_ids: ProfileIds, **options: Unpack[AsyncRunOptions]
) -> AsyncGenerator[WorkerToken, None]:
    """The contract's form: an async generator yielding one `WorkerToken` per distinct ID.

    ``async for result in create_worker_tokens(ids, token=t): ... break`` is safe: the
    engine runs in a task of its own, which closing the generator cancels (a ``break``
    drops it, and asyncio closes it at once; ``contextlib.aclosing`` or ``aclose()`` close
    it in place). Options and argument checks as for `open_worker_tokens`.
    """
    run = checked_async(_JOB, profile_ids, options, call="create_worker_tokens")
    return stream(_open(profile_ids, run))


def create_worker_tokens_sync(
    profile_ids: Iterable[str | uuid.UUID], **options: Unpack[RunOptions]
) -> list[WorkerToken]:
    """`open_worker_tokens` for scripts that are not async: all results, in input order.
    The options are `RunOptions` (no ``session``: it runs its own event loop).

    Runs its own event loop (do not call it from async code). On an abort it raises
    `RunAborted`, whose ``results`` holds the results obtained before it. On Ctrl-C
    (SIGINT, in the main thread) it takes no more IDs, gives requests in flight ``grace``
    seconds, and raises `RunInterrupted` (a KeyboardInterrupt) whose ``results`` holds
    every result obtained; a second Ctrl-C cuts the requests in flight off at once.
    """
    run = checked(_JOB, profile_ids, options, call="create_worker_tokens_sync")
    return collect_sync(
        lambda: _open(profile_ids, run), _line, aborted=RunAborted, interrupted=RunInterrupted
    )


# -- internals ----------------------------------------------------------------


def _open(profile_ids: ProfileIds, run: Checked) -> AbstractAsyncContextManager[WorkerTokenResults]:
    return opened(_JOB, WorkerTokenResults, profile_ids, run)


def _line(result: WorkerToken) -> int:
    return result.line
