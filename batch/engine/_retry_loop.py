"""The retry loop of one item: wait for a turn, send, judge, and again, until an answer
settles the item.

`Engine`'s lanes (`batch.engine._engine`) hand each item's `Work` to `RetryLoop.process`;
the loop takes its turns from the run's pacer and shared quota, sends through the
transport, judges each outcome (`batch.engine._judge`), tells the `ApiWatch` what it says
about the API, and gives back the item's result, or None when the item is left for
--resume. It stops taking turns once the run is stopping, and stops the run through
``fail`` when an answer calls for it.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import aiohttp
import anyio

from batch.engine._api_watch import ApiWatch
from batch.engine._async_pacer import AsyncPacer
from batch.engine._judge import judge
from batch.engine._log import Logger
from batch.engine._options import EngineOptions
from batch.engine._policy import Verdict
from batch.engine._quota import SharedQuota
from batch.engine._results import Abort
from batch.engine._stats import Stats
from batch.engine._transport import Endpoint, send
from batch.engine._types import Call, Job, Response, Result
from batch.engine._work import Attempt, Phase, Work, stopped_between_attempts

__all__ = ["IN_PROGRESS_PATIENCE", "RetryLoop"]

#: How long an item waits, in all, on answers saying its operation is still in progress
#: before they count against max_attempts (an API may hold a key minutes after its client
#: left: two, says one): until then they cost an attempt no more than a 429 of the rate limit does.
IN_PROGRESS_PATIENCE = 300.0
#: The wait after such an answer that gave no Retry-After.
IN_PROGRESS_DEFAULT_WAIT = 1.0


class RetryLoop:
    """Attempts one item until an answer settles it (see the module)."""

    def __init__(  # noqa: PLR0913 - the run's parts this loop uses, each named at its one call
        self,
        job: Job,
        options: EngineOptions,
        *,
        stats: Stats,
        log: Logger,
        clock: Callable[[], float],
        rand: Callable[[], float] = random.random,
        pacer: AsyncPacer,
        quota: SharedQuota | None,
        endpoint: Endpoint,
        api: ApiWatch,
        stopping: Callable[[], bool],
        fail: Callable[[Abort], None],
    ) -> None:
        self.job = job
        self.options = options
        self.stats = stats
        self._log = log
        self._clock = clock
        self._rand = rand
        self._pacer = pacer
        self._quota = quota
        self._endpoint = endpoint
        self._api = api
        self._stopping = stopping
        self._fail = fail

    async def process(self, session: aiohttp.ClientSession, work: Work) -> Result | None:
        """Attempt ``work``'s item until an answer settles it: its result, or None when
        it is left for --resume (a fatal answer, or a stop before any request)."""
        item = work.item
        assert item is not None
        # max_attempts counts answers other than 429: a 429 under the rolling window says
        # "nothing was done, try later", nothing about this ID. `attempts` (the record's)
        # counts every request sent; the give-up clock ends a run that gets only 429s.
        counted = 0
        while counted < self.options.max_attempts and not self._stopping():
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
            if counted < self.options.max_attempts and not self._stopping():
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
            if self._stopping():
                return None
        started = self._pacer.try_start()
        if started is None:
            work.phase = Phase.WAIT
            started = await self._pacer.acquire()
        slot = started  # as the pacer's window holds it, until the request leaves
        if self._quota is not None and not self._stopping():
            # The API's window, shared with the other runs: claimed last, just before
            # the request starts, so the shared log holds real start times.
            work.phase = Phase.WAIT
            await self._quota.start(*self._pacer.pacer.limits)
            self.stats.waited_on_others = self._quota.waited_on_others
            started = self._clock()
        if self._stopping():
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
        attempt = judge(self.job, outcome, api_seen=self._api.api_seen)
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
        self._api.answered(outcome, attempt)
        abort = self._api.heed(attempt, now, request)
        if abort is not None:
            self._fail(abort)
        return attempt

    def _call(self, work: Work) -> Call:
        """What the job builds this item's request with: the token, the item's idempotency
        key (the same on every attempt), the API version."""
        version = self.options.api_version or self.job.api_version or None
        return Call(self.options.token, work.idempotency_key, version)

    async def _paced(self, started: float, now: float, *, rate_limited: bool) -> None:
        """Tell the pacer how the request started at ``started`` was answered."""
        paused_until = self._pacer.pacer.paused_until
        self._pacer.response(started, rate_limited=rate_limited)
        self.stats.settled_rate = self._pacer.pacer.rate
        if self._quota is not None and self._pacer.pacer.paused_until > paused_until:
            # A fresh 429 pauses every run that shares the quota, not only this one.
            await self._quota.pause(self._pacer.pacer.paused_until - now)
