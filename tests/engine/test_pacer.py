"""The rolling-window promise at exact rates, the cool-down, and the pacer's use of the
controller (`test_controller.py`), on virtual time with exact assertions."""

from __future__ import annotations

import asyncio
import bisect
import itertools
import math
import random
from collections.abc import Awaitable, Callable

import anyio
import looptime
import pytest
from aiolimiter import AsyncLimiter

from batch.engine._async_pacer import AsyncPacer
from batch.engine._controller import Tuning
from batch.engine._pacer import GUARD, Pacer, window_for_rate
from tests.engine import window_model

#: The window alone: no listening gaps (their tests are below and in test_controller.py).
QUIET = Tuning(listen=False)


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
    starts = run_starts(Pacer(rate, tuning=QUIET), 5000)
    assert max_in_any_window(starts) == rate
    # ...and no slower: every start is exactly one window (1 s + guard) after the one
    # `rate` places before it, so each window holds a full quota.
    assert all(
        starts[k] == pytest.approx(starts[k - rate] + 1.0 + GUARD, abs=1e-9)
        for k in range(rate, len(starts))
    )


def test_first_second_admits_exactly_rate_not_a_burst() -> None:
    # aiolimiter's AsyncLimiter(5, 1) admits ~9 here; the provider's window refuses the excess.
    starts = run_starts(Pacer(5, tuning=QUIET), 12)
    assert starts == pytest.approx([k * (1.0 + GUARD) / 5 for k in range(12)], abs=1e-12)
    assert max_in_any_window(starts) == 5


def test_after_an_idle_pause_no_double_burst() -> None:
    pacer = Pacer(5, tuning=QUIET)
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
    starts = run_starts(Pacer(5, tuning=QUIET), 20, gap=0.25)
    assert starts == pytest.approx([0.25 * i for i in range(20)], abs=1e-12)


@pytest.mark.parametrize(
    ("rate", "expected"),
    [
        (5, (5, 1.0 + GUARD)),
        (2.5, (3, 1.2 + GUARD)),
        (2.9, (3, 3 / 2.9 + GUARD)),
        (3.8, (4, 4 / 3.8 + GUARD)),
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


@pytest.mark.parametrize("rate", [2.9, 3.8, 0.7, 12.5])
def test_a_fractional_rate_is_kept_exactly(rate: float) -> None:
    # --rate 2.9 is 2.9/s (less the guard, as 5 is 4.95): 3 starts per 3/2.9 + 0.01 s,
    # never more in any such window; before, it was rounded down to 2 per 1.01 s (1.98/s).
    capacity, window = window_for_rate(rate)
    starts = run_starts(Pacer(rate, tuning=QUIET), 3000)
    assert max_in_any_window(starts, window - 1e-9) == capacity
    achieved = (len(starts) - 1) / (starts[-1] - starts[0])
    assert achieved == pytest.approx(capacity / window, rel=1e-9)
    assert achieved == pytest.approx(rate / (1 + GUARD * rate / capacity), rel=1e-9)


def test_fractional_rate_below_one_spaces_requests() -> None:
    starts = run_starts(Pacer(0.5, tuning=QUIET), 4)
    assert starts == pytest.approx(
        [0.0, 2.0 + GUARD, 2 * (2.0 + GUARD), 3 * (2.0 + GUARD)], abs=1e-12
    )


def test_a_429_pauses_every_start_for_the_cooldown() -> None:
    pacer = Pacer(10, tuning=QUIET)
    run_starts(pacer, 1, at=0.0)
    assert pacer.cooldown_length() == 0.1  # one request's time at 10/s
    change = pacer.response(0.0, 0.1, rate_limited=True)
    assert pacer.paused_until == pytest.approx(0.2)
    # The window before it accepted nothing of this run: the controller holds there (the
    # floor), and says so once.
    assert change is not None
    assert (change.old, change.new, change.reason) == (10, 0.5, "rate_limited")
    # Paused until 0.2; and at 0.5/s the next start is one window (2.01 s) after the first.
    assert pacer.wait_time(0.15) == pytest.approx(2.01 - 0.15)
    # A 429 for a request that was already in flight says nothing new: no new pause.
    pacer.response(0.0, 0.15, rate_limited=True)
    assert pacer.paused_until == pytest.approx(0.2)
    # A fresh 429 within a window after the cool-down does not start another one.
    pacer.response(0.25, 0.3, rate_limited=True)
    assert pacer.paused_until == pytest.approx(0.2)
    # ...but one after that does (one request's time at the rate then, at most 1 s).
    pacer.response(1.25, 1.3, rate_limited=True)
    assert pacer.paused_until == pytest.approx(2.3)


def test_the_pacer_tells_the_controller_what_the_window_accepted() -> None:
    pacer = Pacer(5, limit=5, tuning=QUIET)
    starts = run_starts(pacer, 5)
    for started in starts[:3]:
        pacer.response(started, started + 0.05, rate_limited=False)
    # The fifth refused: three answered ok and one still in flight were in its window.
    change = pacer.response(starts[4], starts[4] + 0.05, rate_limited=True)
    assert change is not None
    assert (change.old, change.new, change.reason) == (5, 4, "rate_limited")
    assert pacer.limits == (4, 1.0 + GUARD)


def test_window_holds_under_a_429_storm() -> None:
    rng = random.Random(7)
    pacer = Pacer(20, tuning=QUIET)
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
    pacer = AsyncPacer(Pacer(5, tuning=QUIET), clock=clock, sleep=clock.sleep)
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


@pytest.mark.parametrize(("rate", "learning"), [(10, 18), (50, 8), (200, 19), (1000, 19)])
def test_far_above_the_documented_limit_the_rate_settles_and_probes_rarely(
    rate: float, learning: int
) -> None:
    # Against an API with 5/s, 8 in flight, 50 ms answers: the first seconds' refused
    # windows say what holds (until more are refused than chance explains: 8 to 18 429s in
    # the first 30 s), then it holds there and probes once in eight minutes, four 429s
    # (before: one request in ten refused all along, probing: 10-13%).
    run = window_model.run(Pacer(rate, limit=5), 600.0, latency=0.05)
    assert sum(refused for at, refused in run.answers if at < 30.0) == learning
    assert sum(refused for at, refused in run.answers if at >= 30.0) == 4
    assert run.refused_after(30.0) < 0.005
    assert run.counts["run_ok"] / 600.0 > 0.9 * 5 / 1.01


def test_with_no_documented_limit_the_first_refused_window_sets_the_rate() -> None:
    # Told 1000/s by a job that documents no limit: a burst, then what the window accepted.
    run = window_model.run(Pacer(1000), 120.0, latency=0.05)
    assert run.rate_at(2.0) <= 5
    assert run.refused_after(5.0) < 0.05


def test_at_the_limit_spurious_429s_do_not_drag_the_rate_down() -> None:
    # --rate 5 against 5/s with 5% random 429s (on admitted requests): each is held to for
    # a second, what is known stays: 300 IDs in about 75 s (before: 86.5 s; 61 s is the
    # ideal without 429s).
    run = window_model.run(
        Pacer(5, limit=5), 400.0, items=300, latency=0.02, p_spurious=0.05, seed=3
    )
    assert run.finished is not None
    assert run.finished < 80.0
    assert run.counts["run_refused_window"] == 0


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

    pacer = AsyncPacer(Pacer(5, tuning=QUIET), clock=lambda: asyncio.get_running_loop().time())
    starts = _start_times(pacer.acquire, 10)
    assert starts == pytest.approx([k * (1.0 + GUARD) / 5 for k in range(10)], abs=1e-6)
    assert max_in_any_window(starts) == 5


def test_a_late_start_is_caught_up_by_a_small_burst_only() -> None:
    pacer = Pacer(100, tuning=QUIET)  # step 10.1 ms; catch-up bursts of at most 5 (a twentieth)
    starts = run_starts(pacer, 50)
    late = starts[-1] + 0.2  # the event loop was busy for 0.2 s
    burst = run_starts(pacer, 10, at=late)
    step = 1.01 / 100
    # Five may go at once...
    assert burst[:5] == pytest.approx([late] * 5, abs=1e-9)
    # ...then back to the even spread.
    assert burst[5:] == pytest.approx([late + k * step for k in range(1, 6)], abs=1e-9)
    assert max_in_any_window(starts + burst) <= 100


@pytest.mark.parametrize(("share", "at_least"), [(0.0, 5 / 1.01), (0.05, 4.4), (0.10, 2.5)])
def test_random_429s_leave_the_rate_near_the_limit(share: float, at_least: float) -> None:
    # Spurious 429s at rate 5 (the API's default): the rate must not collapse to its floor.
    rng = random.Random(11)
    pacer = Pacer(5, limit=5, tuning=QUIET)
    now, rates = 0.0, []
    for _ in range(1200):  # four minutes at 5/s
        now += pacer.wait_time(now)
        pacer.start(now)
        pacer.response(now, now + 0.05, rate_limited=rng.random() < share)
        rates.append(pacer.rate)
    assert sum(rates[-600:]) / 600 >= at_least


def test_listening_gaps_leave_one_start_out_every_five_seconds() -> None:
    # Alone at the limit, the run leaves a start out now and then so that another client of
    # the quota could take it: every 2 s at first, then (nobody took them) 4, then every 5 s.
    pacer = Pacer(5, limit=5)
    now, starts = 0.0, []
    while now < 60.0:
        now += pacer.wait_time(now)
        pacer.start(now)
        starts.append(now)
        pacer.response(now, now, rate_limited=False)
    left_out = [a for a, b in itertools.pairwise(starts) if b - a > 0.3]
    assert [math.floor(t) for t in left_out] == [0, 4, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55]
    assert max_in_any_window(starts) == 5
    # 13 starts left out in a minute, of the 298 the window allows: about one in 25.
    assert len(starts) == 286


def test_a_request_that_left_late_holds_its_place_in_the_window_from_when_it_left() -> None:
    """The server counts arrivals. The first request of a run opens a connection (TCP, TLS,
    a proxy's CONNECT) and leaves 0.25 s after its start; the next four go out at once
    on warm connections. Counted from its start, the sixth could start at 1.01 and land
    within one second of the first's arrival; counted from when it left, it waits."""
    pacer = Pacer(5.0, tuning=QUIET)
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
    pacer = Pacer(3.0, tuning=QUIET)
    for now in (0.0, 0.4, 0.8):
        pacer.start(now)
    pacer.sent(0.0, 0.5)  # now after the second start: the log is re-sorted
    pacer.sent(9.9, 10.0)  # not a start it holds: nothing changes
    pacer.sent(0.8, 0.7)  # earlier than its start: never moves back
    _, window = window_for_rate(3.0)
    assert pacer.wait_time(1.0) == (0.4 + window) - 1.0
