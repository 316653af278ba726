"""Pacing: a strict rolling-window limit at an exact rate, a cool-down after 429s, and the
rate the window leaves room for (`batch.engine._controller`).

The promise: at a rate N, never more than ⌈N⌉ requests *started* in any window of ⌈N⌉/N
seconds (plus a small guard), from the first second on and after any pause: for a whole N, N
in any rolling second; for 2.9, 3 per 1.0445 s, 2.87 per second. ``aiolimiter.AsyncLimiter(5,
1)`` is a leaky bucket that starts full and admits about nine in the first second, so it
cannot keep that promise; a sliding log of the last starts can, exactly.

Everything here is pure: time comes in as arguments, so the tests drive it on virtual time
with exact assertions. `AsyncPacer` is the thin async wrapper the engine uses; it reads the
one clock it is given.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from dataclasses import dataclass

from batch.engine._controller import (
    DEFAULT,
    NOISE_SAMPLE,
    WINDOW,
    Controller,
    Tuning,
    ceiling_for,
)

__all__ = ["Pacer", "RateChange", "window_for_rate"]

#: A small guard added to the window: a request that the client starts exactly one window
#: after another may reach the server a little sooner than that (scheduling jitter), and the
#: server counts arrivals.
GUARD = 0.01
#: Below this, a wait is no wait (see Pacer.wait_time).
EPSILON = 1e-9


def window_for_rate(rate: float, guard: float = GUARD) -> tuple[int, float]:
    """(capacity, window seconds): at most ``capacity`` starts in any such window keeps the
    rate exactly, ``capacity`` being the whole requests it takes (⌈rate⌉, at least one)."""
    if not rate > 0 or math.isnan(rate):
        raise ValueError("rate must be > 0")
    capacity = max(1, math.ceil(rate - 1e-9))
    return capacity, capacity / rate + guard


@dataclass(frozen=True, slots=True)
class RateChange:
    old: float
    new: float
    reason: str


@dataclass(slots=True)
class _Start:
    """One start, as the controller needs it: when, whether it reclaimed a gap, its answer."""

    at: float
    reclaim: bool
    refused: bool = False


class Pacer:
    """The pacing state machine. Times are seconds on one monotonic clock.

    ``rate`` is the run's --rate; ``limit`` the API's documented limit (the run starts there
    and probes above it now and then); ``reserve`` requests per second kept free for other
    clients (see `ceiling_for`). A shared quota sets ``shared``: the store then runs the
    listening gaps and the controller for every run, and reads this run's answers from
    ``outbox``.
    """

    def __init__(  # noqa: PLR0913 - keyword-only: the rate's context and tuning
        self,
        rate: float,
        *,
        guard: float = GUARD,
        limit: float | None = None,
        reserve: float = 0.0,
        tuning: Tuning = DEFAULT,
        cooldown_requests: float = 1.0,
        cooldown_bounds: tuple[float, float] = (0.05, 1.0),
    ) -> None:
        window_for_rate(rate, guard)  # validates
        self.max_rate = rate
        self.controller = Controller(ceiling_for(rate, limit, reserve), limit=limit, tuning=tuning)
        self.shared = False
        #: (started, refused) of each answer while shared, for the store
        self.outbox: list[tuple[float, bool]] = []
        self._guard = guard
        self._cooldown_requests = cooldown_requests
        self._cooldown_bounds = cooldown_bounds
        self._now = 0.0
        self._reported = self.controller.rate(0.0)
        self._reported_at = -math.inf
        self._starts: deque[float] = deque()
        self._records: deque[_Start] = deque()
        self._reclaims: dict[float, _Start] = {}
        self._reclaimed = -math.inf  # when the gap period of the last reclaim began
        self.paused_until = -math.inf
        self._schedule = -math.inf  # when the next start is due on the even spread
        self._cooldown_free_at = -math.inf

    # -- the window ---------------------------------------------------------
    @property
    def rate(self) -> float:
        """The rate at the latest time the pacer was told (starts, waits, answers)."""
        return self.controller.rate(self._now)

    @property
    def ceiling(self) -> float:
        return self.controller.ceiling

    @property
    def limits(self) -> tuple[int, float]:
        """(capacity, window seconds) at the current rate: at most capacity starts a window."""
        return window_for_rate(self.rate, self._guard)

    def wait_time(self, now: float) -> float:
        """Seconds from ``now`` until a request may start (0.0: start now).

        Three rules: at most ``capacity`` starts in any window (the promise); starts spread
        evenly, ``window / capacity`` apart, a late one caught up by a burst of at most a
        twentieth of ``capacity`` (a burst queues on the client and reaches the server with
        delays that vary more than the guard allows, and is unkind to the other users of the
        quota); and, unless a store runs them, one start fewer during each listening gap.
        """
        self._now = now
        capacity, window = window_for_rate(self.controller.rate(now), self._guard)
        step = window / capacity
        burst = max(1, capacity // 20)
        earliest = max(self.paused_until, self._schedule - (burst - 1) * step)
        starts = self._starts
        full = starts[-capacity] + window if len(starts) >= capacity else -math.inf
        gap = None if self.shared or capacity < 2 else self.controller.gap(now, window)
        if gap is not None:
            began, inside = gap
            if inside:
                gap_end = began + window
                short = starts[1 - capacity] + window if len(starts) >= capacity - 1 else -math.inf
                full = min(short, max(full, gap_end))
        remaining = max(earliest, full) - now
        # A clock that rounds (virtual time, coarse timers) must not leave a waiter
        # sleeping for 1e-17 s forever; a nanosecond early is nothing beside the guard.
        return remaining if remaining > EPSILON else 0.0

    def start(self, now: float) -> None:
        """Record a request started at ``now`` (call only when `wait_time` is 0)."""
        self._now = now
        capacity, window = window_for_rate(self.controller.rate(now), self._guard)
        starts = self._starts
        while starts and starts[0] <= now - window - WINDOW:
            starts.popleft()
        starts.append(now)
        self._schedule = max(self._schedule, now) + window / capacity
        if self.shared:
            return
        # The reclaim: the first start after a gap that fills the window again (idle, or below
        # what this run may use, the gap said nothing).
        reclaim = False
        gap = self.controller.gap(now, window)
        if gap is not None and not gap[1] and gap[0] > self._reclaimed:
            filled = len(starts) - bisect.bisect_right(starts, now - window) >= capacity
            if filled and self._held_in(now - window) >= capacity - 1:
                reclaim, self._reclaimed = True, gap[0]
        record = _Start(now, reclaim)
        if reclaim:
            self._reclaims[now] = record
        records = self._records
        records.append(record)
        while len(records) > NOISE_SAMPLE and records[0].at <= now - 2 * WINDOW - window:
            self._reclaims.pop(records.popleft().at, None)

    def _held_in(self, since: float) -> int:
        """This run's starts after ``since`` that were not refused (or not answered yet)."""
        held = 0
        for record in reversed(self._records):
            if record.at <= since:
                break
            held += not record.refused
        return held

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
        """Feed back one answer. Returns the rate change it caused, if any.

        A 429 starts a cool-down that pauses every start, unless the request was started
        before the last cool-down ended (it was in flight, so it says nothing new) or one
        already ran within the last window; it lasts one request's time (50 ms to 1 s).
        The rate itself is the controller's: see `batch.engine._controller`.
        """
        self._now = now
        if rate_limited and started >= self.paused_until and now >= self._cooldown_free_at:
            self.paused_until = now + self.cooldown_length()
            self._cooldown_free_at = self.paused_until + WINDOW
        if self.shared:
            self.outbox.append((started, rate_limited))
            return self._change(now, None)
        record = self._reclaims.pop(started, None)
        if record is None and rate_limited:
            record = self._find(started)
        if record is None:
            return self._change(now, None)
        record.refused = rate_limited
        accepted, noise = self._window_before(record)
        reason = self.controller.answer(
            now,
            started=started,
            refused=rate_limited,
            accepted=accepted,
            noise=noise,
            reclaim=record.reclaim,
        )
        return self._change(now, reason)

    def _find(self, started: float) -> _Start | None:
        for record in reversed(self._records):
            if record.at == started:
                return record
        return None

    def _window_before(self, record: _Start) -> tuple[int, float]:
        """Starts accepted in the window before ``record``, and the refused share of the
        latest ones up to it (answers not in yet count as accepted)."""
        records = self._records
        index = len(records) - 1
        while records[index] is not record:
            index -= 1
        accepted = 0
        for earlier in range(index - 1, -1, -1):
            other = records[earlier]
            if other.at <= record.at - WINDOW:
                break
            accepted += not other.refused
        # Out of the latest NOISE_SAMPLE starts, as many as there were: a run's first few
        # refusals are not a share of a handful.
        refused = sum(
            records[i].refused for i in range(max(0, index + 1 - NOISE_SAMPLE), index + 1)
        )
        return accepted, refused / NOISE_SAMPLE

    def _change(self, now: float, reason: str | None) -> RateChange | None:
        new, old = self.controller.rate(now), self._reported
        if new == old:
            return None
        if reason is None:
            # Time alone (a climb after a cut), or another run's answer through the shared
            # store: worth a line when the whole requests per window change, or below one a
            # second by a quarter.
            capacity = window_for_rate(new)[0]
            if capacity == window_for_rate(old)[0] and (capacity > 1 or abs(new - old) < old / 4):
                return None
            reason = "recovering" if new > old else "rate_limited"
            if reason == "recovering" and now < self._reported_at + WINDOW:
                return None  # a climb doubles every second: one line a second says it
        self._reported, self._reported_at = new, now
        return RateChange(old=old, new=new, reason=reason)
