"""Pacing: a strict rolling-window limit, a shared cool-down after 429s, and AIMD.

The promise (README "Rate limiting"): never more than ``rate`` requests
*started* in any rolling window of one second, from the first second on and
after any pause. ``aiolimiter.AsyncLimiter(5, 1)`` is a leaky bucket that
starts full and admits about nine in the first second, so it cannot keep that
promise; a sliding log of the last ``capacity`` start times can, exactly.

Everything here is pure: time comes in as arguments, so the tests drive it on
virtual time with exact assertions. `AsyncPacer` is the thin async wrapper the
engine uses; it reads the one clock it is given.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import anyio

__all__ = ["AsyncPacer", "Pacer", "RateChange", "window_for_rate"]

#: The provider's window, and a small guard added to it: a request that the
#: client starts exactly one second after another may reach the server a
#: little sooner than that (scheduling jitter), and the server counts arrivals.
WINDOW = 1.0
GUARD = 0.01
#: Below this, a wait is no wait (see Pacer.wait_time).
EPSILON = 1e-9
#: A period's share of 429s is judged on at least this many answers (or a full window).
MIN_SAMPLE = 10
#: A period that sent at least this share of the rate was sent at the rate (the rest is the
#: guard and timing noise); below it, something else held the pace back (concurrency,
#: latency, a slow input) and the measured rate is what the API saw.
AT_PACE = 0.9
#: Up to this share refused, a period is judged as noise; beyond it, as a measurement.
NOISE = 0.5


def window_for_rate(rate: float, guard: float = GUARD) -> tuple[int, float]:
    """(capacity, window seconds) such that no 1-second window holds more than ``rate``.

    At a rate of 1 or more, at most ``floor(rate)`` starts in any second is the
    best any schedule can do within the promise, so a fractional part is not
    used. Below 1, one request per ``1/rate`` seconds.
    """
    if rate <= 0 or math.isnan(rate):
        raise ValueError("rate must be > 0")
    if rate >= 1:
        return math.floor(rate), WINDOW + guard
    return 1, 1.0 / rate + guard


@dataclass(frozen=True, slots=True)
class RateChange:
    old: float
    new: float
    reason: str


class Pacer:
    """The pacing state machine. Times are seconds on one monotonic clock."""

    def __init__(
        self,
        rate: float,
        *,
        guard: float = GUARD,
        floor: float = 0.5,
        increase_fraction: float = 0.05,
        cooldown_requests: float = 1.0,
        cooldown_bounds: tuple[float, float] = (0.05, 1.0),
    ) -> None:
        window_for_rate(rate, guard)  # validates
        self.max_rate = rate
        self.rate = rate
        self._reported = rate
        self._guard = guard
        # Not a share of --rate: told 1000/s against an API that has 5/s left, a floor
        # of a tenth would still send 100/s, nearly all refused.
        self._min_rate = min(rate, floor)
        self._increase = increase_fraction
        self._cooldown_requests = cooldown_requests
        self._cooldown_bounds = cooldown_bounds
        self._capacity, self._window = window_for_rate(rate, guard)
        self._starts: deque[float] = deque(maxlen=self._capacity)
        self.paused_until = -math.inf
        self._schedule = -math.inf  # when the next start is due on the even spread
        self._cooldown_free_at = -math.inf
        self._period_start: float | None = None
        self._period_sent = 0
        self._period_limited = 0

    # -- the window ---------------------------------------------------------
    @property
    def limits(self) -> tuple[int, float]:
        """(capacity, window seconds) at the current rate: at most capacity starts a window."""
        return self._capacity, self._window

    def wait_time(self, now: float) -> float:
        """Seconds from ``now`` until a request may start (0.0: start now).

        Two rules: at most ``capacity`` starts in any window (the promise), and
        starts spread evenly, ``window / capacity`` apart, a late one caught up
        by a burst of at most a twentieth of ``capacity``. The second does not lower
        the rate; it avoids firing a whole window's worth at once, which queues
        those requests on the client so that they reach the server with delays
        that vary more than the guard allows (measured: window 429s at --rate
        200), and it is kinder to the other users of the same quota.
        """
        # Spread (GCRA): each start moves the schedule one step on; a start may come
        # up to (burst - 1) steps ahead of it, so time lost while the event loop was
        # busy is caught up by a burst of at most `burst`, then the spread resumes.
        step = self._window / self._capacity
        burst = max(1, self._capacity // 20)
        earliest = max(self.paused_until, self._schedule - (burst - 1) * step)
        if len(self._starts) >= self._capacity:
            earliest = max(earliest, self._starts[-self._capacity] + self._window)
        remaining = earliest - now
        # A clock that rounds (virtual time, coarse timers) must not leave a waiter
        # sleeping for 1e-17 s forever; a nanosecond early is nothing beside the guard.
        return remaining if remaining > EPSILON else 0.0

    def start(self, now: float) -> None:
        """Record a request started at ``now`` (call only when `wait_time` is 0)."""
        self._starts.append(now)
        self._schedule = max(self._schedule, now) + self._window / self._capacity
        if self._period_start is None:
            self._period_start = now

    def sent(self, started: float, at: float) -> None:
        """The request started at ``started`` went on the wire at ``at``.

        The server counts arrivals, and a request on a new connection leaves late
        (a TCP and TLS handshake, a proxy's CONNECT: tens of milliseconds, a few
        round trips on a distant network), while the later ones of the same
        window go out at once on warm connections. Counted from its start, such a
        request would let one more in a second after it than the server allows;
        counted from when it left, it cannot. The log stays sorted.
        """
        if at <= started:
            return
        starts = self._starts
        for index in range(len(starts) - 1, -1, -1):
            if starts[index] == started:
                del starts[index]
                break
        else:
            return  # already out of the log
        position = len(starts)
        while position > 0 and starts[position - 1] > at:
            position -= 1
        starts.insert(position, at)

    # -- feedback -----------------------------------------------------------
    def cooldown_length(self) -> float:
        low, high = self._cooldown_bounds
        return min(max(self._cooldown_requests / self.rate, low), high)

    def response(self, started: float, now: float, *, rate_limited: bool) -> RateChange | None:
        """Feed back one response. Returns the rate change it caused, if any.

        A 429 starts a cool-down that pauses every start, unless the request
        was started before the last cool-down ended (it was in flight, so it
        says nothing new) or one already ran within the last window; it lasts
        one request's time (50 ms to 1 s).

        Once a period of at least a window and ten answers (to requests started
        within it), the rate is judged. Up to half refused, it is multiplied by
        the share not refused, as random 429s and other integrations' bursts
        call for. More than half refused is a measurement: a 429 under a
        rolling window means the window was full when it came, so what the API
        *accepted* per second is what is left of the quota, and the rate drops
        to it at once. "Per second" is measured over the period, except that a
        period sent at about the pace the window allows counts as sent at the
        rate itself (the measured figure is lower by the guard and the whole
        part). A burst (more than half of ten answers refused in less than a
        window) is judged at once, on the count accepted: told 1000/s against
        an API with 5/s, the rate is about 5 after the first dozen answers,
        not after a window of 429s nor by halves, window after window.

        Then an additive step: 5% of --rate, or of twice the (new) rate if that
        is smaller, so random 429s up to 5% leave the rate where it is, and
        against a hard limit it settles at the limit and probes above it now
        and then. It stays between 0.5/s (or ``max_rate`` if lower) and
        ``max_rate``.
        """
        if rate_limited and started >= self.paused_until and now >= self._cooldown_free_at:
            self.paused_until = now + self.cooldown_length()
            self._cooldown_free_at = self.paused_until + WINDOW
        if self._period_start is None or started < self._period_start:
            return None  # sent before this period, at an older rate: judged with its own
        self._period_sent += 1
        self._period_limited += rate_limited
        sent, limited = self._period_sent, self._period_limited
        elapsed = now - self._period_start
        # A burst: most of ten or more answers refused within less than a window. Every
        # request of the period started within one window, so what the API accepted of them
        # is at most what that window had left: judged now, not a window of 429s later.
        burst = elapsed < WINDOW and sent >= MIN_SAMPLE and limited > NOISE * sent
        if not burst and (elapsed < WINDOW or sent < MIN_SAMPLE):
            return None  # too few answers to judge a share by: one 429 of five is not 20%
        self._period_start, self._period_sent, self._period_limited = now, 0, 0
        refused = limited / sent
        if refused <= NOISE:
            # Spurious 429s, another integration's burst: down by the share refused, up by
            # the step, so random 429s up to 5% leave the rate where it is.
            new = self.rate * (1.0 - refused) + self._step(self.rate)
            return self._set_rate(new, "rate_limited" if refused else "recovering")
        # Most were refused: what was accepted is a measurement of what is left; the probe
        # steps up from there.
        if burst:
            accepted = (sent - limited) / WINDOW
        else:
            sent_rate = sent / elapsed
            pace = self._capacity / self._window  # what the window lets out: floor(rate)/1.01
            sent_at = sent_rate if sent_rate < AT_PACE * pace else max(sent_rate, self.rate)
            accepted = sent_at * (1.0 - refused)
        return self._set_rate(accepted + self._step(accepted), "rate_limited")

    def _step(self, rate: float) -> float:
        # 5% of --rate, or of twice the current rate if that is smaller: told 1000/s against
        # an API with 5/s left, the step is 0.5/s, not 50/s.
        return self._increase * min(self.max_rate, 2.0 * rate)

    def _set_rate(self, new: float, reason: str) -> RateChange | None:
        new = min(max(new, self._min_rate), self.max_rate)
        old = self.rate
        self.rate = new
        capacity, window = window_for_rate(new, self._guard)
        if (capacity, window) == (self._capacity, self._window):
            return None
        self._capacity, self._window = capacity, window
        # Whole requests per second change rarely; below 1/s the window changes with every
        # step, so only a change of a quarter since the last report is worth a log line.
        if capacity == 1 and abs(new - self._reported) < 0.25 * self._reported:
            return None
        self._reported = new
        return RateChange(old=old, new=new, reason=reason)


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
