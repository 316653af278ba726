"""The provider's rate limit: a rolling 1-second window for the whole organization.

Pure: the caller passes the time in (the event loop's clock, so tests on virtual time age
it exactly). Only admitted requests occupy the window; a refused one leaves no trace, so a
client that keeps knocking does not lock itself out for longer.
"""

from __future__ import annotations

import collections

__all__ = ["RollingWindow", "capacity"]


def capacity(rate: float | None) -> int | None:
    """Requests admitted per window at `rate` per second: max(1, floor(rate)); None = no limit."""
    return None if rate is None else max(1, int(rate))


class RollingWindow:
    """Admitted arrivals in the window (now - width, now]."""

    def __init__(self, width: float = 1.0) -> None:
        self.width = width
        self._arrivals: collections.deque[float] = collections.deque()

    def admit(self, now: float, limit: int | None) -> bool:
        """Admit an arrival at `now` unless `limit` arrivals already hold the window."""
        arrivals = self._arrivals
        edge = now - self.width
        while arrivals and arrivals[0] <= edge:
            arrivals.popleft()
        if limit is not None and len(arrivals) >= limit:
            return False
        arrivals.append(now)
        return True

    def __len__(self) -> int:
        return len(self._arrivals)
