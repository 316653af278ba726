"""The pacer's waiting side: starts taken one at a time, in order, on the run's clock.

`batch.engine._pacer.Pacer` decides (a pure state machine, time passed in); `AsyncPacer`
waits for what it decides, through a FIFO lock, with the sleep it is given (so tests run
it on virtual time)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio

from batch.engine._pacer import Pacer, RateChange

__all__ = ["AsyncPacer"]


class AsyncPacer:
    """Serialises starts through a FIFO lock and sleeps on the given clock."""

    def __init__(
        self,
        pacer: Pacer,
        clock: Callable[[], float] = anyio.current_time,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        on_change: Callable[[RateChange], None] | None = None,
    ) -> None:
        self.pacer = pacer
        self._clock = clock
        self._sleep = sleep
        self._lock = anyio.Lock(fast_acquire=True)
        self._on_change = on_change

    def try_start(self) -> float | None:
        """Start now without waiting if nothing is queued and the window has room."""
        if self._lock.locked():
            return None
        now = self._clock()
        if self.pacer.wait_time(now) > 0:
            return None
        self.pacer.start(now)
        return now

    async def acquire(self) -> float:
        """Wait for a start slot; returns the start time (already recorded)."""
        async with self._lock:
            while (delay := self.pacer.wait_time(self._clock())) > 0:
                await self._sleep(delay)
            now = self._clock()
            self.pacer.start(now)
            return now

    def response(self, started: float, *, rate_limited: bool) -> None:
        change = self.pacer.response(started, self._clock(), rate_limited=rate_limited)
        if change is not None and self._on_change is not None:
            self._on_change(change)
