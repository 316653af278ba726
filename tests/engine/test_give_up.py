"""The give-up clock on its own: time passed in, exact figures."""

from __future__ import annotations

import pytest

from batch.engine import Abort, Cause, Failure
from batch.engine._give_up import GiveUpClock

DOWN = Failure("http", "Service Unavailable", http_status=503)
REFUSED = Failure("http", "Rate limit exceeded", http_status=429)
UNREACHABLE = Failure("network", "cannot connect to api.example.com:443 (Connection refused)")


def test_it_gives_up_when_failures_have_lasted_the_limit() -> None:
    clock = GiveUpClock(60)
    assert clock.failed(DOWN, 10.0) is None  # the first failure starts the clock
    assert clock.failed(DOWN, 69.99) is None
    assert clock.failed(DOWN, 70.0) == Abort(
        Cause.FAILING,
        "the API kept failing for 60s (last: http HTTP 503: Service Unavailable); try again later",
    )
    # and for each further failure (the engine keeps only the first abort)
    abort = clock.failed(DOWN, 75.5)
    assert abort is not None
    assert abort.message.startswith("the API kept failing for 65s ")
    assert abort.exit_code == 3


def test_seconds_are_whole_and_rounded_down() -> None:
    clock = GiveUpClock(1)
    clock.failed(UNREACHABLE, 0.0)
    abort = clock.failed(UNREACHABLE, 1.999)
    assert abort is not None
    assert abort.message == (
        "the API kept failing for 1s (last: network: cannot connect to api.example.com:443 "
        "(Connection refused)); try again later"
    )


def test_a_last_429_says_the_quota_is_taken() -> None:
    clock = GiveUpClock(60)
    clock.failed(REFUSED, 0.0)
    assert clock.failed(REFUSED, 61.5) == Abort(
        Cause.FAILING,
        "the API refused every request with 429 (rate limit) for 61s: its quota is taken, "
        "by another run or integration; try again later",
    )


def test_the_last_failure_names_the_abort() -> None:
    clock = GiveUpClock(60)
    clock.failed(REFUSED, 0.0)
    abort = clock.failed(DOWN, 60.0)
    assert abort is not None
    assert abort.message.startswith("the API kept failing for 60s (last: http HTTP 503")


def test_an_answer_resets_the_clock() -> None:
    clock = GiveUpClock(60)
    clock.failed(DOWN, 0.0)
    clock.failed(DOWN, 50.0)
    clock.answered()  # a good answer, or a permanent one: the API is up
    assert clock.failing_since is None
    assert clock.failed(DOWN, 100.0) is None  # starts again here
    assert clock.failed(DOWN, 159.0) is None
    assert clock.failed(DOWN, 160.0) is not None


def test_idle_time_never_counts() -> None:
    """An answer, then nothing for an hour (a quiet input), then a failure: no abort."""
    clock = GiveUpClock(60)
    clock.failed(DOWN, 0.0)
    clock.answered()
    assert clock.failed(DOWN, 3600.0) is None
    assert clock.failing_since == 3600.0
    assert clock.failed(DOWN, 3659.0) is None


def test_the_first_failure_never_aborts_even_after_a_long_quiet() -> None:
    clock = GiveUpClock(0.001)
    assert clock.failed(DOWN, 1e9) is None


@pytest.mark.parametrize("limit", [0, 0.0, -1])
def test_a_limit_of_zero_never_gives_up(limit: float) -> None:
    clock = GiveUpClock(limit)
    clock.failed(DOWN, 0.0)
    assert clock.failed(DOWN, 1e9) is None
