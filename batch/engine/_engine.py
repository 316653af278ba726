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
from datetime import datetime

import aiohttp
import anyio
from anyio.abc import TaskGroup

from batch.engine._errors import BatchError
from batch.engine._give_up import GiveUpClock
from batch.engine._judge import UNRESOLVED_LIMIT, fatal_abort, judge
from batch.engine._log import Logger, QuietLogger
from batch.engine._options import EngineOptions
from batch.engine._pacer import AsyncPacer, Pacer, RateChange
from batch.engine._policy import Verdict
from batch.engine._proxy import ProxyChoice, choose_proxy
from batch.engine._quota import SharedQuota
from batch.engine._refusals import RefusalWatch
from batch.engine._results import Abort, Cause, Results, Sender
from batch.engine._session import open_session
from batch.engine._stats import Stats
from batch.engine._transport import Endpoint, HostUnresolved, send
from batch.engine._types import (
    Answer,
    ApiVersion,
    Call,
    Item,
    Job,
    Request,
    Response,
    Result,
)
from batch.engine._work import Attempt, Phase, Work, cut_short, stopped_between_attempts

__all__ = ["IN_PROGRESS_PATIENCE", "Engine"]

#: How long an item waits, in all, on answers saying its operation is still in progress
#: before they count against max_attempts (an API may hold a key minutes after its client
#: left: two, says one): until then they cost an attempt no more than a 429 of the rate limit does.
IN_PROGRESS_PATIENCE = 300.0
#: The wait after such an answer that gave no Retry-After.
IN_PROGRESS_DEFAULT_WAIT = 1.0


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
        self._rand = rand
        self._pacer = AsyncPacer(
            Pacer(options.rate), clock=self._clock, on_change=self._rate_changed
        )
        self._quota = (
            None
            if options.quota == "none"
            else SharedQuota(
                options.quota,
                base_url=options.base_url,
                token=options.token,
                rate=options.rate,
                logger=self._log,
            )
        )
        self.stats.quota_store = "none" if self._quota is None else self._quota.name
        self._stopping = False
        self._active: set[Work] = set()
        self._pull = anyio.Lock(fast_acquire=True)
        self._items: AsyncIterator[Item | Result] | None = None
        self._exhausted = False
        self._tg: TaskGroup | None = None
        #: how long nothing but transient failures came back (give_up_after)
        self._give_up = GiveUpClock(options.give_up_after)
        #: whether the first answers all refuse alike: the requests, not the keys
        self._refusals = RefusalWatch(
            f"check that the IDs belong to this API and account ({options.base_url_source}, "
            f"{options.token_source}), or whether the API changed"
        )
        #: whether the API itself has answered yet (see judge's api_seen)
        self._api_seen = False
        #: attempts whose host name did not resolve while the API had not answered yet
        self._unresolved = 0
        #: the proxy of the run (or direct) and why; ConfigError for a malformed variable
        self.route: ProxyChoice = choose_proxy(
            options.base_url, options.proxy, os.environ, options.proxy_source
        )
        self._endpoint = Endpoint(options.base_url, options.timeout, self.route)

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
                        work.result = await self._process(session, work)
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

    # -- one item: the retry loop -------------------------------------------
    async def _process(self, session: aiohttp.ClientSession, work: Work) -> Result | None:
        """Attempt ``work``'s item until an answer settles it: its result, or None when
        it is left for --resume (a fatal answer, or a stop before any request)."""
        item = work.item
        assert item is not None
        # max_attempts counts answers other than 429: a 429 under the rolling window says
        # "nothing was done, try later", nothing about this ID. `attempts` (the record's)
        # counts every request sent; the give-up clock ends a run that gets only 429s.
        counted = 0
        while counted < self.options.max_attempts and not self._stopping:
            slots = await self._start_slot(work, counted)
            if slots is None:
                break
            last = await self._fly(session, work, *slots)
            limited = last.rate_limited
            waiting = last.in_progress and work.waited_in_progress < IN_PROGRESS_PATIENCE
            counted += not (limited or waiting)
            if last.verdict is Verdict.OK:
                return work.succeeded(last.data or {})
            if last.verdict is not Verdict.RETRY or last.failure is None:
                break
            if counted < self.options.max_attempts and not self._stopping:
                # 429s are counted and drive rate_changed, answers "still in progress" come
                # once a second: one line each would drown a terminal.
                level = self._log.debug if limited or last.in_progress else self._log.info
                level(
                    "retrying",
                    key=item.key,
                    line=item.line,
                    attempt=work.attempts,
                    **last.failure.as_dict(self.job.request_id_field),
                )
        return self._settled(work, counted)

    async def _start_slot(self, work: Work, counted: int) -> tuple[float, float] | None:
        """Wait for the next attempt's turn: the retry delay, the pacer, the shared quota.
        Its start time and its slot in the pacer's window; None if the run stopped."""
        if work.last is not None:
            work.phase = Phase.WAIT
            await anyio.sleep(self._retry_delay(work, counted))
            if self._stopping:
                return None
        started = self._pacer.try_start()
        if started is None:
            work.phase = Phase.WAIT
            started = await self._pacer.acquire()
        slot = started  # as the pacer's window holds it, until the request leaves
        if self._quota is not None and not self._stopping:
            # The API's window, shared with the other runs: claimed last, just before
            # the request starts, so the shared log holds real start times.
            work.phase = Phase.WAIT
            await self._quota.start(*self._pacer.pacer.limits)
            self.stats.waited_on_others = self._quota.waited_on_others
            started = self._clock()
        if self._stopping:
            return None
        return started, slot

    async def _fly(
        self, session: aiohttp.ClientSession, work: Work, started: float, slot: float
    ) -> Attempt:
        """One request for ``work``'s item, counted on ``work``."""
        assert work.item is not None
        work.attempts += 1
        if work.attempts > 1:
            self.stats.retries += 1
        work.phase = Phase.FLY
        work.last = last = await self._attempt(session, work, started, slot)
        work.phase = Phase.WAIT
        work.rate_limited += last.rate_limited
        if last.failure is not None and last.failure.kind == "invalid_response":
            # The answer was whole, and broken as the API sent it: its idempotency cache
            # would replay it as it is. A new key asks for a new answer (what was minted
            # under the old one cannot be read anyway).
            work.renew_key()
        return last

    def _settled(self, work: Work, counted: int) -> Result | None:
        """The error record of an item the retry loop left without success, or None."""
        item, last = work.item, work.last
        assert item is not None
        if last is None or last.failure is None or last.verdict is Verdict.FATAL:
            return None  # a fatal answer says nothing about this key: --resume redoes it
        if last.verdict is Verdict.RETRY and counted < self.options.max_attempts:
            return work.failed(stopped_between_attempts(work))  # not of the API's making
        permanent = last.verdict is Verdict.PERMANENT
        self._log.warning(
            "record_failed",
            key=item.key,
            line=item.line,
            attempts=work.attempts,
            rate_limited=work.rate_limited,
            permanent=permanent,
            **last.failure.as_dict(self.job.request_id_field),
        )
        return work.failed(last.failure, permanent=permanent)

    def _retry_delay(self, work: Work, counted: int) -> float:
        """After a 429: none (the pacer's cool-down and window pace the retry) unless the
        server asks for one; after "still in progress": the server's Retry-After (1 s
        without one); after any other failure: the backoff of that attempt."""
        last = work.last
        assert last is not None
        cap = self.options.backoff.retry_after_cap
        if last.rate_limited:
            return min(last.retry_after or 0.0, cap)
        if last.in_progress:
            wait = min(max(last.retry_after or IN_PROGRESS_DEFAULT_WAIT, 0.0), cap)
            work.waited_in_progress += wait
            return wait
        return self.options.backoff.delay(max(counted, 1), last.retry_after, self._rand)

    # -- one request --------------------------------------------------------
    async def _attempt(
        self, session: aiohttp.ClientSession, work: Work, started: float, slot: float
    ) -> Attempt:
        """Send one request, judge the outcome, and act on what it says about the API."""
        item = work.item
        assert item is not None
        request = self.job.build_request(item.key, self._call(work))
        self.stats.note_start(started)
        outcome = await send(session, self._endpoint, request, trace_ctx=slot)
        now = self._clock()
        self.stats.latency.add(now - started)
        attempt = judge(self.job, outcome, api_seen=self._api_seen)
        # Only the API's rate limit paces the run down: an answer saying this key is still
        # in progress says nothing about the organization's quota.
        await self._paced(started, now, rate_limited=attempt.rate_limited)
        if isinstance(outcome, Response):
            self._log.debug(
                "response",
                key=item.key,
                status=outcome.status,
                elapsed_ms=round((now - started) * 1000, 1),
            )
            if attempt.verdict is Verdict.OK or self.job.speaks_api(outcome):
                self._api_seen = True
        if attempt.answer is not None:
            self._watch(attempt.answer)
        self._heed(attempt, now, request)
        return attempt

    def _call(self, work: Work) -> Call:
        """What the job builds this item's request with: the token, the item's idempotency
        key (the same on every attempt), the API version."""
        version = self.options.api_version or self.job.api_version or None
        return Call(self.options.token, work.idempotency_key, version)

    def _watch(self, answer: Answer) -> None:
        """Note what an answer says besides its body: a replay, and the API version that
        answered; the first that announces the version's end is warned about, once."""
        self.stats.replayed += answer.replayed
        version = answer.version
        if version is None:
            return
        self.stats.api_version = version
        if version.deprecated and self.stats.deprecation is None:
            self.stats.deprecation = version
            self._log.warning("api_version_deprecated", **_deprecation_event(version, self.options))

    async def _paced(self, started: float, now: float, *, rate_limited: bool) -> None:
        """Tell the pacer how the request started at ``started`` was answered."""
        paused_until = self._pacer.pacer.paused_until
        self._pacer.response(started, rate_limited=rate_limited)
        self.stats.settled_rate = self._pacer.pacer.rate
        if self._quota is not None and self._pacer.pacer.paused_until > paused_until:
            # A fresh 429 pauses every run that shares the quota, not only this one.
            await self._quota.pause(self._pacer.pacer.paused_until - now)

    def _heed(self, attempt: Attempt, now: float, request: Request) -> None:
        """Act on what an attempt says about the API: up, failing, or refusing the run."""
        failure = attempt.failure
        if attempt.verdict is Verdict.OK or failure is None:
            self._give_up.answered()
            self._refusals.succeeded()
        elif attempt.verdict is Verdict.FATAL:
            url = self._endpoint.url(request)
            self.fail(fatal_abort(failure, self.job, self.options, url))
        elif attempt.in_progress:
            # The API is up and at work on this key: neither failing nor refusing the run.
            # It may hold a key minutes after its client left; that time is no failing time.
            self.stats.in_progress += 1
            self._give_up.answered()
        elif attempt.verdict is Verdict.RETRY:
            if attempt.rate_limited:
                # Busy, not down; but a run that gets nothing else for give_up_after (the
                # quota taken by another run or integration) stops as for a failing API.
                self.stats.rate_limited += 1
            abort = self._give_up.failed(failure, now)
            if isinstance(failure, HostUnresolved) and not self._api_seen:
                # A name that never resolved is a wrong base URL (or no DNS), not a blip.
                self._unresolved += 1
                if self._unresolved >= UNRESOLVED_LIMIT:
                    abort = fatal_abort(
                        failure, self.job, self.options, self._endpoint.url(request)
                    )
            if abort is not None and self.abort is None:
                self.fail(abort)
        else:
            self._give_up.answered()  # a permanent answer is still an answer
            abort = self._refusals.refused(failure)
            if abort is not None and self.abort is None:
                self.fail(abort)

    def _rate_changed(self, change: RateChange) -> None:
        self._log.info(
            "rate_changed",
            old=round(change.old, 2),
            new=round(change.new, 2),
            reason=change.reason,
        )


def _deprecation_event(version: ApiVersion, options: EngineOptions) -> dict[str, object]:
    """The ``api_version_deprecated`` event: the version, its dates, and what to do."""
    since = _day(version.deprecated_since)
    sunset = _day(version.sunset)
    name = version.name or "asked for"
    when = f" since {since}" if since else ""
    end = f"; it stops working on {sunset}" if sunset else ""
    return {
        "api_version": version.name or None,
        "deprecated_since": since,
        "sunset": sunset,
        "message": f"the API version {name} is deprecated{when}{end}: test a newer "
        f"version and set it with {options.api_version_source}",
    }


def _day(when: datetime | None) -> str | None:
    """A date as people read it (``2028-01-01``); None for none, or for a date unsaid."""
    if when is None or when.year <= 1:
        return None
    return when.date().isoformat()


def _loop_clock() -> Callable[[], float]:
    try:
        return asyncio.get_running_loop().time
    except RuntimeError:  # not on asyncio (or not running yet): ask anyio each time
        return anyio.current_time
