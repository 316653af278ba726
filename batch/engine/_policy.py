"""Retry policy: what is retried, how long to wait. Pure functions, tested directly.

The one table of what happens to each outcome (README "Retries"):

==========================================  ===========
outcome                                     verdict
==========================================  ===========
2xx with a valid body                       ok
2xx whose body fails validation             retry
429                                         retry (not counted against max_attempts)
500, 502, 503, 504                          retry
connection refused / reset / dropped        retry
per-attempt timeout                         retry
401, 403                                    fatal (stop the run, exit 3)
any other 4xx (400, 404, 409, 422, ...)     permanent
any other status (1xx, 3xx, other 5xx)      permanent
==========================================  ===========

A permanent answer is about its key; but when the first answers of a run are all the
same permanent status and none succeeded, the run stops (`batch.engine._refusals`).
"""

from __future__ import annotations

import enum
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

__all__ = [
    "Backoff",
    "Verdict",
    "classify_status",
    "parse_retry_after",
]

_DELTA_SECONDS = re.compile(r"[0-9]{1,12}")
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
FATAL_STATUSES = frozenset({401, 403})


class Verdict(enum.Enum):
    OK = "ok"
    RETRY = "retry"
    PERMANENT = "permanent"
    FATAL = "fatal"


def classify_status(status: int) -> Verdict:
    """The verdict for an HTTP status, before the body is looked at."""
    if 200 <= status < 300:
        return Verdict.OK
    if status in RETRY_STATUSES:
        return Verdict.RETRY
    if status in FATAL_STATUSES:
        return Verdict.FATAL
    return Verdict.PERMANENT


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with full jitter: wait uniform(0, min(cap, base * 2**(n-1)))."""

    base: float = 0.5
    cap: float = 30.0
    #: the longest Retry-After the client will honour; longer values are cut to this
    retry_after_cap: float = 60.0

    def delay(
        self,
        attempt: int,
        retry_after: float | None = None,
        rand: Callable[[], float] = random.random,
    ) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based).

        A server's Retry-After wins over the computed delay (capped at
        ``retry_after_cap``); otherwise full jitter over the exponential ceiling.
        ``rand`` returns a float in [0, 1); tests pass a fixed one.
        """
        if attempt < 1:
            raise ValueError("attempt is 1-based")
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.retry_after_cap)
        ceiling = min(self.cap, self.base * 2.0 ** min(attempt - 1, 62))
        return ceiling * rand()


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date; None if absent or bad.

    Whatever a server sends, this never raises: an unparseable value is ignored.
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if _DELTA_SECONDS.fullmatch(value):  # ASCII digits only: "²".isdigit() is True
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    return max((when - now).total_seconds(), 0.0)
