"""The worker pool: feed items through a bounded stream to N workers, pace, retry, emit.

One `Engine` runs one batch. It never configures logging nor installs signal
handlers (the command line does); `stop()` is how a caller interrupts it.
"""

from __future__ import annotations

import asyncio
import math
import random
import ssl
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import anyio
import structlog
from anyio.abc import TaskGroup

from batch.engine._errors import BatchError
from batch.engine._judge import fatal_reason, judge
from batch.engine._options import EngineOptions
from batch.engine._pacer import AsyncPacer, Pacer, RateChange
from batch.engine._policy import Verdict
from batch.engine._stats import Stats
from batch.engine._transport import send
from batch.engine._types import Failure, Item, Job, Result
from batch.engine._work import Attempt, Phase, Work, cut_short, stopped_between_attempts

__all__ = ["Engine", "EngineOptions"]


class Engine:
    def __init__(
        self,
        job: Job,
        options: EngineOptions,
        *,
        emit: Callable[[Result], None],
        stats: Stats | None = None,
        session: aiohttp.ClientSession | None = None,
        logger: Any = None,
        ssl_context: ssl.SSLContext | None = None,
        clock: Callable[[], float] | None = None,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.job = job
        self.options = options
        self.stats = stats or Stats()
        self.abort_reason: str | None = None
        self.input_error: BatchError | None = None
        self.stop_reason: str | None = None
        self._emit = emit
        self._session = session
        self._ssl = ssl_context
        self._log = logger or structlog.get_logger("batch")
        # The one clock of the run: the event loop's (what sleeps and timeouts use),
        # read directly: anyio.current_time() looks the backend up on every call.
        self._clock = clock or _loop_clock()
        self._rand = rand
        self._pacer = AsyncPacer(
            Pacer(options.rate), clock=self._clock, on_change=self._rate_changed
        )
        self._stopping = False
        self._active: set[Work] = set()
        self._pull = anyio.Lock(fast_acquire=True)
        self._items: AsyncIterator[Item] | None = None
        self._exhausted = False
        self._tg: TaskGroup | None = None
        self._last_good = 0.0

    # -- control ------------------------------------------------------------
    @property
    def stopping(self) -> bool:
        return self._stopping

    def stop(self, reason: str, *, grace: float | None = None) -> None:
        """Stop taking items: waits end now, requests in flight are cut off after ``grace``."""
        grace = self.options.grace if grace is None else grace
        first = not self._stopping
        self._stopping = True
        self.stop_reason = self.stop_reason or reason
        for work in list(self._active):
            if grace <= 0 or work.phase is Phase.WAIT:
                work.scope.cancel()
        if grace > 0 and first and self._tg is not None:
            self._tg.start_soon(self._cut_off_after, grace)

    def _abort(self, reason: str) -> None:
        if self.abort_reason is None:
            self.abort_reason = reason
            self._log.error("run_aborted", reason=reason)
        self.stop("aborted")  # in-flight requests get the grace period, then are cut off

    async def _cut_off_after(self, grace: float) -> None:
        await anyio.sleep(grace)
        for work in list(self._active):
            work.scope.cancel()

    # -- the pool -----------------------------------------------------------
    async def run(self, items: AsyncIterator[Item]) -> Stats:
        """Process every item of ``items``; workers pull from it directly (back-pressure).

        On a stop, the rest of ``items`` is left unread (the caller may count
        it). An input that breaks mid-way (a truncated gzip) stops the run like
        an abort: what is in flight finishes, ``input_error`` says why.
        """
        self.stats.started_at = self._clock()
        self._last_good = self._clock()
        self._items = items
        own_session = self._session is None
        session = self._session or aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                limit=self.options.concurrency,
                # A context made now honours SSL_CERT_FILE / SSL_CERT_DIR as they are
                # (aiohttp's default one is built once, at import). Verification is on.
                ssl=self._ssl_context(),
            ),
            headers={"User-Agent": self.options.user_agent},
        )
        try:
            # The outer group only holds the cut-off timer of stop(); it is
            # cancelled once the workers are done, so a pending timer never
            # keeps a finished run alive.
            async with anyio.create_task_group() as outer:
                self._tg = outer
                async with anyio.create_task_group() as workers:
                    for _ in range(self.options.concurrency):
                        workers.start_soon(self._worker, session)
                outer.cancel_scope.cancel()
        finally:
            self._tg = None
            if own_session:
                with anyio.CancelScope(shield=True):  # closed even when the run is cancelled
                    await session.close()
        self.stats.elapsed_s = self._clock() - self.stats.started_at
        return self.stats

    def _ssl_context(self) -> ssl.SSLContext | bool:
        if self._ssl is not None:
            return self._ssl
        if self.options.base_url.startswith("https:"):
            return ssl.create_default_context()
        return True  # plain http on loopback: no context to build (20 ms)

    async def _worker(self, session: aiohttp.ClientSession) -> None:
        while not (self._stopping or self._exhausted):
            # One cancel scope per item covers pulling it, waiting for a start
            # slot or a retry, and the requests: stop() cancels it at once
            # while it waits, after the grace period while it pulls or flies.
            work = Work(anyio.CancelScope())
            self._active.add(work)
            try:
                with work.scope:
                    work.item = await self._next_item()
                    if work.item is not None:
                        work.result = await self._process(session, work)
            finally:
                self._active.discard(work)
            if work.item is None:
                continue
            result = work.result if not work.scope.cancelled_caught else cut_short(work)
            if result is None:
                self.stats.not_attempted += 1
                continue
            try:
                self._emit(result)
            except OSError as exc:  # disk full, file system gone: nothing more can be kept
                self.stats.not_attempted += 1  # not on disk: --resume redoes it
                self._output_failed(exc)
                continue
            if result.ok:
                self.stats.ok += 1
            else:
                self.stats.failed += 1

    async def _next_item(self) -> Item | None:
        assert self._items is not None
        async with self._pull:
            if self._stopping or self._exhausted:
                return None
            try:
                return await anext(self._items)
            except StopAsyncIteration:
                self._exhausted = True
            except BatchError as exc:
                self._exhausted = True
                self.input_error = exc
                self._abort(str(exc))
            except OSError as exc:  # the source's own records (invalid rows) could not be written
                self._exhausted = True
                self._output_failed(exc)
            return None

    def _output_failed(self, exc: OSError) -> None:
        if self.abort_reason is None:
            self._abort(
                f"cannot write the results ({exc.strerror or exc}); what was written is kept, "
                "free some space and finish with --resume"
            )

    # -- one item -----------------------------------------------------------
    async def _process(self, session: aiohttp.ClientSession, work: Work) -> Result | None:
        opts, item = self.options, work.item
        assert item is not None
        for attempt in range(1, opts.max_attempts + 1):
            if self._stopping:
                break
            if work.last is not None:
                work.phase = Phase.WAIT
                await anyio.sleep(
                    opts.backoff.delay(attempt - 1, work.last.retry_after, self._rand)
                )
                if self._stopping:
                    break
            started = self._pacer.try_start()
            if started is None:
                work.phase = Phase.WAIT
                started = await self._pacer.acquire()
            if self._stopping:
                break
            work.attempts = attempt
            if attempt > 1:
                self.stats.retries += 1
            work.phase = Phase.FLY
            work.last = last = await self._attempt(session, item, started)
            work.phase = Phase.WAIT
            if last.verdict is Verdict.OK:
                return Result(item.key, item.line, "ok", attempt, data=last.data or {})
            if last.verdict is not Verdict.RETRY or last.failure is None:
                break
            if attempt < opts.max_attempts and not self._stopping:
                # 429s are counted and drive rate_changed; one line each would drown a terminal.
                level = self._log.debug if last.failure.http_status == 429 else self._log.info
                level(
                    "retrying",
                    key=item.key,
                    line=item.line,
                    attempt=attempt,
                    **last.failure.as_dict(),
                )
        if work.last is None or work.last.failure is None:
            return None
        if work.last.verdict is Verdict.RETRY and work.attempts < opts.max_attempts:
            failure = stopped_between_attempts(work)  # not a failure of the API's making
        else:
            failure = work.last.failure
            self._log.warning(
                "record_failed",
                key=item.key,
                line=item.line,
                attempts=work.attempts,
                **failure.as_dict(),
            )
        return Result(item.key, item.line, "error", work.attempts, error=failure)

    async def _attempt(self, session: aiohttp.ClientSession, item: Item, started: float) -> Attempt:
        """Send one request, judge the outcome, and act on what it says about the API."""
        request = self.job.build_request(item.key, self.options.token)
        self.stats.requests += 1
        if self.stats.first_start is None:
            self.stats.first_start = started
        self.stats.last_start = started
        outcome = await send(session, self.options.base_url, request, self.options.timeout)
        now = self._clock()
        self.stats.latency.add(now - started)
        status = None if isinstance(outcome, Failure) else outcome.status
        self._pacer.response(started, rate_limited=status == 429)
        if status is not None:
            self._log.debug(
                "response", key=item.key, status=status, elapsed_ms=round((now - started) * 1000, 1)
            )
        attempt = judge(self.job, outcome)
        if attempt.verdict is Verdict.OK:
            self._last_good = now
            self.stats.last_success_unix = time.time()
        elif status == 429:
            self.stats.rate_limited += 1
            self._last_good = now  # the API answers: busy, not down
        elif attempt.verdict is Verdict.RETRY and attempt.failure is not None:
            self._transient(attempt.failure, now)
        elif attempt.verdict is Verdict.FATAL and attempt.failure is not None:
            self._abort(fatal_reason(self.job, attempt.failure))
        else:
            self._last_good = now  # a permanent answer is still an answer
        return attempt

    def _transient(self, failure: Failure, now: float) -> None:
        limit = self.options.give_up_after
        if limit > 0 and now - self._last_good >= limit and self.abort_reason is None:
            self._abort(
                f"the API kept failing for {math.floor(now - self._last_good)}s "
                f"(last: {failure.kind}"
                + (f" HTTP {failure.http_status}" if failure.http_status else "")
                + f": {failure.message}); try again later"
            )

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
