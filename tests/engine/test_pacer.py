"""The rolling-window promise, cool-down and AIMD, on virtual time with exact assertions."""

from __future__ import annotations

import asyncio
import bisect
import heapq
import math
import random
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import anyio
import looptime
import pytest
from aiolimiter import AsyncLimiter

from batch.engine._pacer import GUARD, AsyncPacer, Pacer, window_for_rate


def run_starts(pacer: Pacer, n: int, *, at: float = 0.0, gap: float = 0.0) -> list[float]:
    """Start ``n`` requests as early as the pacer allows; ``gap`` of idle time between them."""
    now, starts = at, []
    for _ in range(n):
        now += pacer.wait_time(now)
        pacer.start(now)
        starts.append(now)
        now += gap
    return starts


def max_in_any_window(starts: list[float], window: float = 1.0) -> int:
    """The most starts in any closed window [t, t + window] (closed: stricter than the server)."""
    ordered = sorted(starts)
    return max(bisect.bisect_right(ordered, t + window) - i for i, t in enumerate(ordered))


@pytest.mark.parametrize("rate", [1, 2, 5, 7, 10, 50, 200])
def test_never_more_than_rate_in_any_second(rate: int) -> None:
    starts = run_starts(Pacer(rate), 5000)
    assert max_in_any_window(starts) == rate
    # ...and no slower: every start is exactly one window (1 s + guard) after the one
    # `rate` places before it, so each window holds a full quota.
    assert all(
        starts[k] == pytest.approx(starts[k - rate] + 1.0 + GUARD, abs=1e-9)
        for k in range(rate, len(starts))
    )


def test_first_second_admits_exactly_rate_not_a_burst() -> None:
    # aiolimiter's AsyncLimiter(5, 1) admits ~9 here; the provider's window refuses the excess.
    starts = run_starts(Pacer(5), 12)
    assert starts == pytest.approx([k * (1.0 + GUARD) / 5 for k in range(12)], abs=1e-12)
    assert max_in_any_window(starts) == 5


def test_after_an_idle_pause_no_double_burst() -> None:
    pacer = Pacer(5)
    first = run_starts(pacer, 5, at=0.0)
    assert first == pytest.approx([0.0, 0.202, 0.404, 0.606, 0.808], abs=1e-12)
    # Back at 0.9 with more work: the window still holds five, so the next waits for 1.01.
    later = run_starts(pacer, 5, at=0.9)
    assert later == pytest.approx([1.01, 1.212, 1.414, 1.616, 1.818], abs=1e-12)
    assert max_in_any_window(first + later) == 5
    # Idle until 5.0: work then starts at once, spread as before (no catching up).
    after = run_starts(pacer, 3, at=5.0)
    assert after == pytest.approx([5.0, 5.202, 5.404], abs=1e-12)


def test_spaced_requests_are_not_delayed() -> None:
    starts = run_starts(Pacer(5), 20, gap=0.25)
    assert starts == pytest.approx([0.25 * i for i in range(20)], abs=1e-12)


@pytest.mark.parametrize(
    ("rate", "expected"),
    [
        (5, (5, 1.0 + GUARD)),
        (2.5, (2, 1.0 + GUARD)),
        (1, (1, 1.0 + GUARD)),
        (0.5, (1, 2.0 + GUARD)),
    ],
)
def test_window_for_rate(rate: float, expected: tuple[int, float]) -> None:
    assert window_for_rate(rate) == expected


@pytest.mark.parametrize("bad", [0, -1, float("nan")])
def test_rate_must_be_positive(bad: float) -> None:
    with pytest.raises(ValueError, match="rate must be > 0"):
        Pacer(bad)


def test_fractional_rate_below_one_spaces_requests() -> None:
    starts = run_starts(Pacer(0.5), 4)
    assert starts == pytest.approx(
        [0.0, 2.0 + GUARD, 2 * (2.0 + GUARD), 3 * (2.0 + GUARD)], abs=1e-12
    )


def test_a_429_pauses_every_start_for_the_cooldown() -> None:
    pacer = Pacer(10)
    run_starts(pacer, 1, at=0.0)
    assert pacer.cooldown_length() == 0.1  # one request's time at 10/s
    assert pacer.response(0.0, 0.1, rate_limited=True) is None
    assert pacer.paused_until == pytest.approx(0.2)
    assert pacer.wait_time(0.15) == pytest.approx(0.05)
    # A 429 for a request that was already in flight says nothing new: no new pause.
    pacer.response(0.0, 0.15, rate_limited=True)
    assert pacer.paused_until == pytest.approx(0.2)
    # A fresh 429 within a window after the cool-down does not start another one.
    pacer.response(0.25, 0.3, rate_limited=True)
    assert pacer.paused_until == pytest.approx(0.2)
    # ...but one after that does.
    pacer.response(1.25, 1.3, rate_limited=True)
    assert pacer.paused_until == pytest.approx(1.4)


def test_aimd_trajectory() -> None:
    pacer = Pacer(10)  # step 0.5/s (5% of 10); a period is judged on >= 10 answers and >= 1 s
    pacer.start(0.0)
    # Window 1: 10 answers, 3 refused -> 10 * 0.7 + 0.5 = 7.5 (capacity 7).
    for i in range(9):
        pacer.response(0.0, 0.1 * i, rate_limited=i < 3)
    change = pacer.response(0.0, 1.0, rate_limited=False)
    assert change is not None
    assert (change.old, change.new, change.reason) == (10, 7.5, "rate_limited")
    assert window_for_rate(pacer.rate)[0] == 7
    # Quiet windows raise it 0.5 at a time (additive), reported when the capacity changes.
    trajectory = []
    for second in range(2, 8):
        for i in range(9):
            pacer.response(float(second), second - 0.95 + i / 10, rate_limited=False)
        change = pacer.response(float(second), float(second), rate_limited=False)
        trajectory.append((pacer.rate, None if change is None else change.new))
    assert trajectory == [
        (8.0, 8.0),
        (8.5, None),
        (9.0, 9.0),
        (9.5, None),
        (10.0, 10.0),
        (10.0, None),
    ]


def test_a_window_that_accepts_nothing_drops_to_the_floor_at_once() -> None:
    # Every answer refused for a whole window: nothing is left of the quota. The old rule cut
    # by half per window (10, 5.5, 3.25, ...), spending a window of 429s at each step.
    pacer = Pacer(10)
    pacer.start(0.0)
    for i in range(10):
        pacer.response(0.0, 0.1 + i / 10, rate_limited=True)
    assert pacer.rate == 0.5  # the floor: one request every two seconds at least


def test_half_refused_is_noise_more_is_a_measurement() -> None:
    # At pace: 10 sent in a window. Half refused: x0.5 plus the step (5% of 10).
    pacer = Pacer(10)
    pacer.start(0.0)
    for i in range(10):
        pacer.response(0.0, 0.1 + i / 10, rate_limited=i % 2 == 0)
    assert pacer.rate == pytest.approx(10 * 0.5 + 0.5)
    # Sent at 4/s (concurrency held it back), most refused: 1.2 accepted per second is
    # what is left, whatever --rate says; the step then is 5% of twice that.
    pacer = Pacer(10)
    pacer.start(0.0)
    for i in range(12):
        pacer.response(0.0, 0.25 * (i + 1), rate_limited=i % 4 != 0)
    assert pacer.rate == pytest.approx(1.2 + 0.05 * 2 * 1.2)  # 10 answers in 2.5 s, 3 accepted


def test_window_holds_under_a_429_storm() -> None:
    rng = random.Random(7)
    pacer = Pacer(20)
    now, starts = 0.0, []
    for _ in range(5000):
        now += pacer.wait_time(now)
        pacer.start(now)
        starts.append(now)
        pacer.response(now, now + 0.05, rate_limited=rng.random() < 0.3)
    assert max_in_any_window(starts) <= 20
    assert pacer.rate < 20  # it did back off


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await anyio.lowlevel.checkpoint()


@pytest.mark.anyio
async def test_async_pacer_serialises_concurrent_workers_on_virtual_time() -> None:
    clock = FakeClock()
    pacer = AsyncPacer(Pacer(5), clock=clock, sleep=clock.sleep)
    starts: list[float] = []

    async def worker() -> None:
        for _ in range(50):
            starts.append(await pacer.acquire())

    async with anyio.create_task_group() as tg:
        for _ in range(8):
            tg.start_soon(worker)
    assert len(starts) == 400
    assert max_in_any_window(starts) == 5
    assert clock.now == pytest.approx(399 * (1.0 + GUARD) / 5)  # 400 starts, evenly spread


@dataclass
class WindowRun:
    starts: list[tuple[float, bool]]  # start time, refused by the window (not at random)
    rates: list[tuple[float, float]]  # answer time, rate after it

    def window_429s(self, after: float = 0.0, before: float = math.inf) -> int:
        return sum(1 for t, refused in self.starts if refused and after <= t < before)

    def settled_at(self, capacity: int) -> float:
        """When the rate last had more than ``capacity`` whole requests per second."""
        return max((t for t, r in self.rates if window_for_rate(r)[0] > capacity), default=0.0)


def against_a_window(
    rate: float,
    limit: int,
    seconds: float,
    *,
    concurrency: int = 8,
    latency: float = 0.05,
    p_spurious: float = 0.0,
    seed: int = 1,
) -> WindowRun:
    """The pacer, ``concurrency`` workers and a server with a strict rolling window of
    ``limit`` (the simulated API's: admitted requests occupy (t - 1, t]), on virtual time."""
    rng = random.Random(seed)
    pacer = Pacer(rate)
    window: deque[float] = deque()
    answers: list[tuple[float, float, bool]] = []  # heap of (answered, started, refused)
    run = WindowRun([], [])
    free, now = concurrency, 0.0
    while True:
        due = now + pacer.wait_time(now) if free else math.inf
        if answers and answers[0][0] <= due:
            now, started, refused = heapq.heappop(answers)
            free += 1
            pacer.response(started, now, rate_limited=refused)
            run.rates.append((now, pacer.rate))
            continue
        if due >= seconds:
            return run
        now = due
        pacer.start(now)
        free -= 1
        while window and window[0] <= now - 1.0:
            window.popleft()
        full = len(window) >= limit
        if not full:
            window.append(now)
        heapq.heappush(answers, (now + latency, now, full or rng.random() < p_spurious))
        run.starts.append((now, full))


@pytest.mark.parametrize(
    ("rate", "spent", "settled"),
    [(10, 5, 0.907), (50, 8, 0.2308), (200, 11, 0.15), (1000, 11, 0.15)],
)
def test_far_above_the_limit_the_rate_finds_it_within_the_first_window(
    rate: float, spent: int, settled: float
) -> None:
    # Against an API with 5/s, 8 in flight, 50 ms answers: the first burst of refusals is
    # judged on the count accepted, so the rate is at the limit after a dozen answers.
    # (Halving per window, at 1000: settled after 10.6 s, 147 429s in the first second and
    # 639 after it.)
    run = against_a_window(rate, 5, 60.0)
    assert run.settled_at(capacity=6) == pytest.approx(settled)
    assert run.window_429s(before=1.0) == spent
    # Then it stays at 5 or 6, probing by a step now and then: about one 429 in 12 requests.
    assert {window_for_rate(r)[0] for t, r in run.rates if t > 1.0} == {5, 6}
    assert run.window_429s(after=1.0) / len(run.starts) < 0.1


def test_at_the_limit_spurious_429s_do_not_drag_the_rate_down() -> None:
    # --rate 5 against 5/s with 5% random 429s (on admitted requests): judged as noise, as
    # before the measurement came in (the same figures: mean 4.65, never below 3).
    run = against_a_window(5, 5, 240.0, p_spurious=0.05, seed=11)
    later = [r for t, r in run.rates if t > 60.0]
    assert min(later) > 3.0
    assert sum(later) / len(later) > 4.6
    assert run.window_429s() == 0


def test_a_single_429_among_few_answers_is_not_judged_alone() -> None:
    # One answer in a second, and it is a 429: not "100% refused" -> no cut to the floor.
    pacer = Pacer(5)
    pacer.start(0.0)
    assert pacer.response(0.0, 1.5, rate_limited=True) is None
    assert pacer.rate == 5.0
    for i in range(9):  # the period is judged once it holds ten answers
        pacer.response(1.5, 1.6 + i / 10, rate_limited=False)
    assert pacer.rate == pytest.approx(5.0 * 0.9 + 0.25)


def test_sub_one_rates_log_only_sizeable_changes() -> None:
    pacer = Pacer(5)  # floor 0.5/s
    pacer.start(0.0)
    changes = []
    now = 0.0
    for _ in range(40):  # each period: 5 answers, one refused (20%)
        for i in range(5):
            now += 0.3
            change = pacer.response(now, now, rate_limited=i == 0)
            if change is not None:
                changes.append(round(change.new, 3))
    assert pacer.rate < 0.6  # at (or just above) the floor of 0.5/s
    assert len(changes) <= 8  # whole-number steps and a few below 1/s, not one per period


def _start_times(acquire: Callable[[], Awaitable[object]], n: int) -> list[float]:
    """Start times of ``n`` concurrent acquisitions, on an event loop with virtual time."""

    async def main() -> list[float]:
        loop = asyncio.get_running_loop()
        times: list[float] = []

        async def one() -> None:
            await acquire()
            times.append(round(loop.time(), 6))

        await asyncio.gather(*(one() for _ in range(n)))
        return sorted(times)

    loop = looptime.new_event_loop(start=0)
    try:
        return loop.run_until_complete(main())
    finally:
        loop.close()


def test_aiolimiter_bursts_past_the_window_where_the_pacer_does_not() -> None:
    # Why the pacer is not aiolimiter: a leaky bucket starts full, so AsyncLimiter(5, 1)
    # lets five go at once and then one every 0.2 s: ten in the first second.
    bucket = AsyncLimiter(5, 1)
    assert _start_times(bucket.acquire, 10) == [0.0] * 5 + [0.2, 0.4, 0.6, 0.8, 1.0]

    pacer = AsyncPacer(Pacer(5), clock=lambda: asyncio.get_running_loop().time())
    starts = _start_times(pacer.acquire, 10)
    assert starts == pytest.approx([k * (1.0 + GUARD) / 5 for k in range(10)], abs=1e-6)
    assert max_in_any_window(starts) == 5


def test_a_late_start_is_caught_up_by_a_small_burst_only() -> None:
    pacer = Pacer(100)  # step 10.1 ms; catch-up bursts of at most 5 (a twentieth)
    starts = run_starts(pacer, 50)
    late = starts[-1] + 0.2  # the event loop was busy for 0.2 s
    burst = run_starts(pacer, 10, at=late)
    step = 1.01 / 100
    # Five may go at once...
    assert burst[:5] == pytest.approx([late] * 5, abs=1e-9)
    # ...then back to the even spread.
    assert burst[5:] == pytest.approx([late + k * step for k in range(1, 6)], abs=1e-9)
    assert max_in_any_window(starts + burst) <= 100


@pytest.mark.parametrize(("share", "at_least"), [(0.0, 5.0), (0.05, 4.0), (0.10, 1.5)])
def test_random_429s_up_to_5_percent_leave_the_rate_near_the_limit(
    share: float, at_least: float
) -> None:
    # Spurious 429s at rate 5 (the API's default): the rate must not collapse to its floor.
    rng = random.Random(11)
    pacer = Pacer(5)
    now, rates = 0.0, []
    for _ in range(1200):  # four minutes at 5/s
        now += pacer.wait_time(now)
        pacer.start(now)
        pacer.response(now, now + 0.05, rate_limited=rng.random() < share)
        rates.append(pacer.rate)
    assert sum(rates[-600:]) / 600 >= at_least  # 10% pulls it to about half, 20% to the floor


def test_a_request_that_left_late_holds_its_place_in_the_window_from_when_it_left() -> None:
    """The server counts arrivals. The first request of a run opens a connection (TCP, TLS,
    a proxy's CONNECT) and leaves 0.25 s after its start; the next four go out at once
    on warm connections. Counted from its start, the sixth could start at 1.01 and land
    within one second of the first's arrival; counted from when it left, it waits."""
    pacer = Pacer(5.0)
    capacity, window = window_for_rate(5.0)
    step = window / capacity
    starts = [i * step for i in range(capacity)]
    for now in starts:
        assert pacer.wait_time(now) == 0.0
        pacer.start(now)
    pacer.sent(starts[0], 0.25)
    for now in starts[1:]:
        pacer.sent(now, now)  # warm: left at once
    # Counted from the first's start, the sixth could start at starts[0] + window; with the
    # first counted from when it left, the oldest in the window is the second request.
    assert pacer.wait_time(starts[0] + window) == (starts[1] + window) - (starts[0] + window)
    assert pacer.wait_time(starts[1] + window) == 0.0


def test_sent_keeps_the_log_in_order_and_ignores_what_it_does_not_hold() -> None:
    pacer = Pacer(3.0)
    for now in (0.0, 0.4, 0.8):
        pacer.start(now)
    pacer.sent(0.0, 0.5)  # now after the second start: the log is re-sorted
    pacer.sent(9.9, 10.0)  # not a start it holds: nothing changes
    pacer.sent(0.8, 0.7)  # earlier than its start: never moves back
    _, window = window_for_rate(3.0)
    assert pacer.wait_time(1.0) == (0.4 + window) - 1.0
