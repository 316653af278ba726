"""When a run gives up on a failing API (``give_up_after``): a small clock, time passed in. Pure.

The clock runs from the first transient failure after the last answer (a good one, or
a permanent one: the API answered, it is not down), so time spent idle — a quiet
input, a run between items — never counts as failing time. A run that gets nothing
but transient failures for ``limit`` seconds is told to stop, with one line saying
why: a run whose last failure is a 429 is refused by the rate limit, not failing.
"""

from __future__ import annotations

import math

from batch.engine._results import Abort, Cause
from batch.engine._types import Failure

__all__ = ["GiveUpClock"]


class GiveUpClock:
    """Measures how long nothing but transient failures came back.

    ``answered()`` after an answer that is not a transient failure; ``failed(failure,
    now)`` after a transient one, which returns the `Abort` once the failures have
    lasted ``limit`` seconds (and after, for each further one). ``limit`` 0: never.
    """

    def __init__(self, limit: float) -> None:
        self.limit = limit
        #: when the failures began (the clock's time), None after an answer
        self.failing_since: float | None = None

    def answered(self) -> None:
        """An answer that is not a transient failure: the API is up; the clock stops."""
        self.failing_since = None

    def failed(self, failure: Failure, now: float) -> Abort | None:
        """A transient failure at ``now``: the abort if failures have lasted ``limit``."""
        if self.failing_since is None:
            self.failing_since = now
            return None
        failing = now - self.failing_since
        if self.limit <= 0 or failing < self.limit:
            return None
        return Abort(Cause.FAILING, _message(failure, math.floor(failing)))


def _message(failure: Failure, seconds: int) -> str:
    if failure.http_status == 429:
        return (
            f"the API refused every request with 429 (rate limit) for {seconds}s: "
            "its quota is taken, by another run or integration; try again later"
        )
    status = f" HTTP {failure.http_status}" if failure.http_status else ""
    return (
        f"the API kept failing for {seconds}s "
        f"(last: {failure.kind}{status}: {failure.message}); try again later"
    )
