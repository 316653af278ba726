"""The worker pool: feed items through a bounded stream to N workers, pace, retry, emit.

One `Engine` runs one batch. It never configures logging nor installs signal
handlers (the command line does); `stop()` is how a caller interrupts it.
"""

from __future__ import annotations

import functools
import math
import random
import ssl
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import anyio
import structlog
from anyio.abc import TaskGroup

from batch._errors import BatchError
from batch._pacer import AsyncPacer, Pacer, RateChange
from batch._policy import Backoff, Verdict, classify_status, parse_retry_after
from batch._stats import Stats
from batch._transport import TLS_PREFIX, send
from batch._types import Failure, InvalidResponse, Job, Result

__all__ = ["Engine", "EngineOptions", "Item"]


@dataclass(frozen=True, slots=True)
class Item:
    """One key to process, and the input line it came from."""

    key: str
    line: int


@dataclass(frozen=True, slots=True)
class EngineOptions:
    base_url: str
    token: str
    rate: float = 5.0
    concurrency: int = 8
    max_attempts: int = 5
    timeout: float = 30.0
    backoff: Backoff = field(default_factory=Backoff)
    #: stop (exit 3) when nothing but transient failures came back for this long; 0 = never
    give_up_after: float = 60.0
    #: on stop(), in-flight requests get this long before they are cut off
    grace: float = 5.0
    user_agent: str = "batch"


@dataclass(slots=True)
class _Attempt:
    verdict: Verdict
    data: dict[str, Any] | None = None
    failure: Failure | None = None
    retry_after: float | None = None


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
        clock: Callable[[], float] = anyio.current_time,
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
        self._clock = clock
        self._rand = rand
        self._pacer = AsyncPacer(Pacer(options.rate), clock=clock, on_change=self._rate_changed)
        self._stopping = False
        self._waits: set[anyio.CancelScope] = set()
        self._flights: set[anyio.CancelScope] = set()
        self._feeder: anyio.CancelScope | None = None
        self._tg: TaskGroup | None = None
        self._last_good = 0.0

    # -- control ------------------------------------------------------------
    @property
    def stopping(self) -> bool:
        return self._stopping

    def stop(self, reason: str, *, grace: float | None = None) -> None:
        """Stop taking items; waiting workers give up now, in-flight requests after ``grace``."""
        grace = self.options.grace if grace is None else grace
        first = not self._stopping
        self._stopping = True
        self.stop_reason = self.stop_reason or reason
        for scope in list(self._waits):
            scope.cancel()
        if grace <= 0:
            for scope in list(self._flights):
                scope.cancel()
        elif first and self._tg is not None:
            self._tg.start_soon(self._cut_off_after, grace)

    def _abort(self, reason: str) -> None:
        if self.abort_reason is None:
            self.abort_reason = reason
            self._log.error("run_aborted", reason=reason)
        self.stop("aborted", grace=self.options.timeout)

    async def _cut_off_after(self, grace: float) -> None:
        await anyio.sleep(grace)
        for scope in list(self._flights):
            scope.cancel()

    # -- the pool -----------------------------------------------------------
    async def run(self, items: AsyncIterator[Item]) -> Stats:
        self.stats.started_at = self._clock()
        self._last_good = self._clock()
        own_session = self._session is None
        session = self._session or aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                limit=self.options.concurrency,
                # A context made now honours SSL_CERT_FILE / SSL_CERT_DIR as they are
                # (aiohttp's default one is built once, at import). Verification is on.
                ssl=self._ssl or ssl.create_default_context(),
            ),
            headers={"User-Agent": self.options.user_agent},
        )
        try:
            send_items, receive_items = anyio.create_memory_object_stream[Item](
                self.options.concurrency
            )
            # The outer group only holds the cut-off timer of stop(); it is
            # cancelled once the workers are done, so a pending timer never
            # keeps a finished run alive.
            async with anyio.create_task_group() as outer:
                self._tg = outer
                async with anyio.create_task_group() as workers:
                    for _ in range(self.options.concurrency):
                        workers.start_soon(self._worker, session, receive_items.clone())
                    receive_items.close()
                    await self._feed(items, send_items)
                outer.cancel_scope.cancel()
        finally:
            self._tg = None
            if own_session:
                await session.close()
        self.stats.elapsed_s = self._clock() - self.stats.started_at
        return self.stats

    async def _feed(self, items: AsyncIterator[Item], send_items: Any) -> None:
        """Send items to the workers until the input ends or the run stops.

        On a stop, the rest of ``items`` is left unread (the caller may count
        it). An input that breaks mid-way (a truncated gzip) stops the run like
        an abort: what is in flight finishes, ``input_error`` says why.
        """
        async with send_items:
            try:
                async for item in items:
                    if self._stopping:
                        self.stats.not_attempted += 1
                        break
                    with anyio.CancelScope() as scope:
                        self._waits.add(scope)
                        try:
                            await send_items.send(item)
                        finally:
                            self._waits.discard(scope)
                    if scope.cancelled_caught:
                        self.stats.not_attempted += 1
            except BatchError as exc:
                self.input_error = exc
                self._abort(str(exc))

    async def _worker(self, session: aiohttp.ClientSession, receive: Any) -> None:
        async with receive:
            async for item in receive:
                if self._stopping:
                    self.stats.not_attempted += 1
                    continue
                result = await self._process(session, item)
                if result is None:
                    self.stats.not_attempted += 1
                    continue
                if result.ok:
                    self.stats.ok += 1
                else:
                    self.stats.failed += 1
                self._emit(result)

    # -- one item -----------------------------------------------------------
    async def _wait(self, awaitable_factory: Callable[[], Any]) -> tuple[bool, Any]:
        """Run a wait that stop() may cut short; (finished, value)."""
        if self._stopping:
            return False, None
        value = None
        with anyio.CancelScope() as scope:
            self._waits.add(scope)
            try:
                value = await awaitable_factory()
            finally:
                self._waits.discard(scope)
        return not scope.cancelled_caught, value

    async def _process(self, session: aiohttp.ClientSession, item: Item) -> Result | None:
        opts = self.options
        last: _Attempt | None = None
        attempts = 0
        for attempt in range(1, opts.max_attempts + 1):
            if attempt > 1 and last is not None:
                delay = opts.backoff.delay(attempt - 1, last.retry_after, self._rand)
                finished, _ = await self._wait(functools.partial(anyio.sleep, delay))
                if not finished:
                    break
            finished, started = await self._wait(self._pacer.acquire)
            if not finished:
                break
            attempts = attempt
            if attempt > 1:
                self.stats.retries += 1
            last = await self._attempt(session, item, started)
            if last.verdict is Verdict.OK:
                return Result(item.key, item.line, "ok", attempts, data=last.data or {})
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
                    kind=last.failure.kind,
                    http_status=last.failure.http_status,
                    message=last.failure.message,
                )
        if last is None or last.failure is None:
            return None
        failure = last.failure
        if last.verdict is Verdict.RETRY and attempts < opts.max_attempts and self._stopping:
            # Stopped between attempts: not a final failure of the API's making.
            status = f" HTTP {failure.http_status}" if failure.http_status else ""
            failure = Failure(
                "aborted",
                f"the run stopped before attempt {attempts + 1}; last attempt: "
                f"{failure.kind}{status}: {failure.message}",
                http_status=failure.http_status,
                api_req_id=failure.api_req_id,
            )
        self._log.warning(
            "record_failed", key=item.key, line=item.line, attempts=attempts, **failure.as_dict()
        )
        return Result(item.key, item.line, "error", attempts, error=failure)

    async def _attempt(
        self, session: aiohttp.ClientSession, item: Item, started: float
    ) -> _Attempt:
        request = self.job.build_request(item.key, self.options.token)
        self.stats.requests += 1
        with anyio.CancelScope() as scope:
            self._flights.add(scope)
            try:
                outcome = await send(session, self.options.base_url, request, self.options.timeout)
            finally:
                self._flights.discard(scope)
        now = self._clock()
        if scope.cancelled_caught:
            failure = Failure("aborted", "request cut off by the shutdown; --resume redoes it")
            return _Attempt(Verdict.PERMANENT, failure=failure)
        self.stats.latency.add(now - started)
        if isinstance(outcome, Failure):
            self._pacer.response(started, rate_limited=False)
            if outcome.kind == "network" and outcome.message.startswith(TLS_PREFIX):
                self._abort(outcome.message)
                return _Attempt(Verdict.FATAL, failure=outcome)
            self._transient(outcome, now)
            return _Attempt(Verdict.RETRY, failure=outcome)
        limited = outcome.status == 429
        self._pacer.response(started, rate_limited=limited)
        self._log.debug(
            "response",
            key=item.key,
            status=outcome.status,
            elapsed_ms=round((now - started) * 1000, 1),
        )
        verdict = classify_status(outcome.status)
        if verdict is Verdict.OK:
            try:
                data = self.job.parse_success(outcome)
            except InvalidResponse as exc:
                failure = Failure("invalid_response", str(exc), http_status=outcome.status)
                self._transient(failure, now)
                return _Attempt(Verdict.RETRY, failure=failure)
            self._last_good = now
            self.stats.last_success_unix = time.time()
            return _Attempt(Verdict.OK, data=data)
        failure = self.job.describe_error(outcome)
        retry_after = parse_retry_after(outcome.headers.get("Retry-After"))
        if limited:
            self.stats.rate_limited += 1
        elif verdict is Verdict.RETRY:
            self._transient(failure, now)
        elif verdict is Verdict.FATAL:
            hint = getattr(self.job, "auth_hint", "")
            self._abort(
                f"the API refused the token (HTTP {outcome.status}: {failure.message}); "
                f"check {self.job.token_env} or --token-file{hint}"
            )
        else:
            self._last_good = now
        return _Attempt(verdict, failure=failure, retry_after=retry_after)

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
