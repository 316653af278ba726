"""The pool: N lanes pull items, pace and retry their requests, hand out results.

One `Engine` runs one batch (see `Engine.results`). It never configures
logging nor installs signal handlers (the command line does); `stop()` is how
a caller interrupts it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import ssl
from collections.abc import AsyncIterator, Callable

import aiohttp
import anyio
from anyio.abc import TaskGroup

from batch.engine._api_watch import ApiWatch
from batch.engine._async_pacer import AsyncPacer
from batch.engine._errors import BatchError
from batch.engine._log import Logger, QuietLogger
from batch.engine._options import EngineOptions
from batch.engine._pacer import Pacer, RateChange
from batch.engine._proxy import ProxyChoice, choose_proxy
from batch.engine._quota import SharedQuota
from batch.engine._results import Abort, Cause, Results, Sender
from batch.engine._retry_loop import RetryLoop
from batch.engine._session import open_session
from batch.engine._stats import Stats
from batch.engine._transport import Endpoint
from batch.engine._types import (
    Item,
    Job,
    Result,
)
from batch.engine._work import Phase, Work, cut_short

__all__ = ["Engine"]


class Engine:
    """Runs one batch: takes items, paces and sends their requests, hands out results.

    The one way to run it is the `results` context manager, whose value is the
    stream of results as they complete::

        engine = Engine(job, options, logger=log)
        async with engine.results(items) as results:
            async for result in results:
                ...  # write it, yield it, count it

    ``items`` yields `Item`s to process and ready-made `Result`s (the input's
    invalid rows), which pass through in order. Lanes pull from ``items``
    directly and wait while the consumer is behind (the stream holds at most
    ``concurrency`` results), so nothing is read far ahead of what is kept.

    The engine counts what it hands out (``ok``, ``failed``, ``invalid``), the
    requests, retries and 429s; `stop()` is how a caller interrupts it. It
    never configures logging, installs signal handlers or touches a file.
    """

    def __init__(  # noqa: PLR0913 - keyword-only seams a caller may inject, each optional
        self,
        job: Job,
        options: EngineOptions,
        *,
        stats: Stats | None = None,
        session: aiohttp.ClientSession | None = None,
        logger: Logger | None = None,
        ssl_context: ssl.SSLContext | None = None,
        clock: Callable[[], float] | None = None,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.job = job
        self.options = options
        self.stats = stats or Stats()
        #: why the run stopped before its end, if it did (the first reason only)
        self.abort: Abort | None = None
        self._session = session
        self._ssl = ssl_context
        self._log: Logger = logger if logger is not None else QuietLogger()
        # The one clock of the run: the event loop's (what sleeps and timeouts use),
        # read directly: anyio.current_time() looks the backend up on every call.
        self._clock = clock or _loop_clock()
        limit = getattr(job, "documented_rate", None)
        pacer = Pacer(options.rate, limit=limit, reserve=options.reserve)
        self._pacer = AsyncPacer(pacer, clock=self._clock, on_change=self._rate_changed)
        self._quota = (
            None
            if options.quota == "none"
            else SharedQuota(
                options.quota,
                base_url=options.base_url,
                token=options.token,
                rate=options.rate,
                logger=self._log,
                pacer=pacer,
            )
        )
        self.stats.quota_store = "none" if self._quota is None else self._quota.name
        self._stopping = False
        self._active: set[Work] = set()
        self._pull = anyio.Lock(fast_acquire=True)
        self._items: AsyncIterator[Item | Result] | None = None
        self._exhausted = False
        self._tg: TaskGroup | None = None
        #: the proxy of the run (or direct) and why; ConfigError for a malformed variable
        self.route: ProxyChoice = choose_proxy(
            options.base_url, options.proxy, os.environ, options.proxy_source
        )
        self._endpoint = Endpoint(options.base_url, options.timeout, self.route)
        #: what the answers say about the API: up, failing, refusing; its version
        api = ApiWatch(job, options, self._endpoint, self.stats, self._log)
        self._retries = RetryLoop(
            job,
            options,
            stats=self.stats,
            log=self._log,
            clock=self._clock,
            rand=rand,
            pacer=self._pacer,
            quota=self._quota,
            endpoint=self._endpoint,
            api=api,
            stopping=lambda: self._stopping,
            fail=self.fail,
        )

    # -- control ------------------------------------------------------------
    @property
    def stopping(self) -> bool:
        return self._stopping

    @property
    def abort_reason(self) -> str | None:
        return None if self.abort is None else self.abort.message

    def stop(self, reason: str, *, grace: float | None = None) -> None:
        """Stop taking items: waits end now, requests in flight are cut off after ``grace``.

        ``reason`` is the caller's words for why; the engine keeps only an abort's
        (`abort`), which is what the caller reports."""
        grace = self.options.grace if grace is None else grace
        first = not self._stopping
        self._stopping = True
        for work in list(self._active):
            if grace <= 0 or work.phase is Phase.WAIT:
                work.scope.cancel()
        if grace > 0 and first and self._tg is not None:
            self._tg.start_soon(self._cut_off_after, grace)

    def fail(self, abort: Abort) -> None:
        """Stop the run for good (exit 3 on the command line): requests in flight get the grace."""
        if self.abort is None:
            self.abort = abort
            self._log.error("run_aborted", reason=abort.message, cause=abort.cause.value)
        self.stop("aborted")

    def not_kept(self, result: Result) -> None:
        """The consumer could not keep ``result`` (a full disk, a closed pipe): it counts
        as not attempted, not as done. The consumer decides whether to stop the run."""
        self.stats.not_kept(result)

    async def _cut_off_after(self, grace: float) -> None:
        await anyio.sleep(grace)
        for work in list(self._active):
            work.scope.cancel()

    # -- the stream of results ----------------------------------------------
    @contextlib.asynccontextmanager
    async def results(self, items: AsyncIterator[Item | Result]) -> AsyncIterator[Results]:
        """Run the batch over ``items``; the block's value yields each result as it completes.

        The stream ends when every item is done, or after a stop (what is in
        flight finishes or gets an ``aborted`` result first); the rest of
        ``items`` is left unread for the caller to count. Leaving the block
        early cancels whatever is still running. An exception raised in the
        block comes out as itself, not wrapped in an exception group.
        """
        send, receive = anyio.create_memory_object_stream[Result](self.options.concurrency)
        raised: BaseException | None = None
        with receive:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._run, items, send)
                try:
                    yield Results(receive)
                except BaseException as exc:  # re-raised below, unwrapped
                    raised = exc
                finally:
                    tg.cancel_scope.cancel()
        if raised is not None:
            raise raised

    async def _run(self, items: AsyncIterator[Item | Result], send: Sender) -> None:
        self.stats.started_at = self._clock()
        self._items = items
        async with self._open_session() as session:
            try:
                async with send:
                    # The outer group only holds the cut-off timer of stop(); it is
                    # cancelled once the lanes are done, so a pending timer never
                    # keeps a finished run alive.
                    async with anyio.create_task_group() as outer:
                        self._tg = outer
                        async with anyio.create_task_group() as lanes:
                            for _ in range(self.options.concurrency):
                                lanes.start_soon(self._lane, session, send)
                        outer.cancel_scope.cancel()
                    self.stats.elapsed_s = self._clock() - self.stats.started_at
            finally:
                self._tg = None
                if self._quota is not None:
                    await self._quota.aclose()

    def _open_session(self) -> contextlib.AbstractAsyncContextManager[aiohttp.ClientSession]:
        """The caller's session as it is (the caller closes it), or one of the run's own."""
        if self._session is not None:
            return contextlib.nullcontext(self._session)
        return open_session(self.options, self._ssl, self._sent)

    def _sent(self, slot: float) -> None:
        """A request went on the wire: the pacer's window holds its start from now."""
        self._pacer.pacer.sent(slot, self._clock())

    async def _lane(self, session: aiohttp.ClientSession, send: Sender) -> None:
        while not (self._stopping or self._exhausted):
            # One cancel scope per item covers pulling it, waiting for a start
            # slot or a retry, and the requests: stop() cancels it at once
            # while it waits, after the grace period while it pulls or flies.
            # Handing the result out is outside it: a stop never loses a result.
            work = Work(anyio.CancelScope())
            result: Result | None = None
            self._active.add(work)
            try:
                with work.scope:
                    got = await self._next_item()
                    if isinstance(got, Result):
                        result = got  # an invalid input row: passed through as it is
                    elif got is not None:
                        work.item = got
                        work.result = await self._retries.process(session, work)
            finally:
                self._active.discard(work)
            if work.item is not None:
                result = work.result if not work.scope.cancelled_caught else cut_short(work)
                if result is None:
                    self.stats.not_attempted += 1
            if result is not None and not await self._hand_out(result, send):
                return  # the consumer left: nobody wants more

    async def _hand_out(self, result: Result, send: Sender) -> bool:
        """Count ``result`` and pass it on; False if the consumer has gone."""
        self.stats.count(result)
        try:
            try:
                send.send_nowait(result)  # no checkpoint when there is room: cheaper
            except anyio.WouldBlock:
                await send.send(result)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            return False
        return True

    async def _next_item(self) -> Item | Result | None:
        assert self._items is not None
        async with self._pull:
            if self._stopping or self._exhausted:
                return None
            try:
                return await anext(self._items)
            except StopAsyncIteration:
                self._exhausted = True
            except BatchError as exc:  # the input broke mid-way (a truncated gzip)
                self._exhausted = True
                self.fail(Abort(Cause.INPUT, str(exc), exit_code=exc.exit_code))
            return None

    def _rate_changed(self, change: RateChange) -> None:
        self._log.info(
            "rate_changed",
            old=round(change.old, 2),
            new=round(change.new, 2),
            reason=change.reason,
        )


def _loop_clock() -> Callable[[], float]:
    try:
        return asyncio.get_running_loop().time
    except RuntimeError:  # not on asyncio (or not running yet): ask anyio each time
        return anyio.current_time
