"""Run counters: the summary event's fields, plus latency figures for people."""

from __future__ import annotations

import math
import random
from collections import deque
from dataclasses import dataclass, field

from batch.engine._types import ApiVersion, Result

__all__ = ["OUTCOMES", "WINDOW_S", "LatencySample", "Stats"]

#: What can become of an input's row, as `Stats` counts it: the one list that the summary,
#: the progress count and the metrics read. Each row read is counted once, under one of them
#: (docs/logs-and-metrics.md, "One set of counts").
OUTCOMES = ("ok", "failed", "invalid", "skipped", "duplicates", "blank", "not_attempted")

#: the API's rate-limit window: the achieved rate and the peak are counted on it
WINDOW_S = 1.0


class LatencySample:
    """A fixed-size uniform sample of latencies (reservoir): memory does not grow with the run."""

    def __init__(self, size: int = 4096, rng: random.Random | None = None) -> None:
        self._size = size
        self._values: list[float] = []
        self._seen = 0
        self.max = 0.0
        self._rng = rng or random.Random(0)

    def add(self, value: float) -> None:
        self._seen += 1
        self.max = max(self.max, value)
        if len(self._values) < self._size:
            self._values.append(value)
            return
        slot = self._rng.randrange(self._seen)
        if slot < self._size:
            self._values[slot] = value

    def quantile(self, q: float) -> float | None:
        if not self._values:
            return None
        ordered = sorted(self._values)
        return (
            ordered[min(math.ceil(q * len(ordered)) - 1, len(ordered) - 1)] if q > 0 else ordered[0]
        )


@dataclass(slots=True)
class Stats:
    """What the run did. ``as_summary`` is the contract's ``run_finished`` counts."""

    ok: int = 0
    failed: int = 0
    invalid: int = 0
    duplicates: int = 0
    skipped: int = 0
    not_attempted: int = 0
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    #: failed records a later attempt might fix (attempts used up on 5xx, timeouts, a stop):
    #: the rest of ``failed`` are the API's final answers (a 404, a 400)
    transient: int = 0
    #: answers saying an item's operation was still in progress (a 429 about the key, not
    #: the rate limit): waited for, never paced down for
    in_progress: int = 0
    #: answers the API gave again from its idempotency cache (a retry after a lost answer)
    replayed: int = 0
    rows: int = 0
    started_at: float = 0.0
    elapsed_s: float = 0.0
    last_success_unix: float | None = None
    #: when the run ended with every valid ID at its final answer (a current token or a
    #: permanent error), exit 1 included; None when it did not
    last_complete_unix: float | None = None
    #: the earliest expiry (Unix seconds) among the current tokens of the input's IDs, as
    #: the front end reckons it at the end of the run (None: not known)
    earliest_expiry_unix: float | None = None
    #: the API version that answered last, as the answers said (None: none said)
    api_version: ApiVersion | None = None
    #: the first answer of the run that announced its version's end (deprecated, sunset)
    deprecation: ApiVersion | None = None
    #: clock times of the first and the last request started, for the achieved rate
    first_start: float | None = None
    last_start: float | None = None
    latency: LatencySample = field(default_factory=LatencySample)
    #: the most requests started in any rolling second (what the API counts)
    peak_per_second: int = 0
    _window: deque[float] = field(default_factory=deque, repr=False)

    def note_start(self, started: float) -> None:
        """A request started at ``started`` (the run's clock, in seconds)."""
        self.requests += 1
        if self.first_start is None:
            self.first_start = started
        self.last_start = started
        window = self._window
        window.append(started)
        while window[0] <= started - WINDOW_S:
            window.popleft()
        self.peak_per_second = max(self.peak_per_second, len(window))

    #: input rows skipped as blank (no fields, or every field empty): counted, no record
    blank: int = 0
    #: the pacer's rate after the last answer (None before any)
    settled_rate: float | None = None
    #: where the API's quota was shared with other runs ("none", "local", "redis://host:port/db")
    quota_store: str = "none"
    #: starts that waited because other runs had taken the shared window
    waited_on_others: int = 0

    def count(self, result: Result) -> None:
        """A result handed out: ``ok``, ``invalid`` (an input row) or ``failed``."""
        self._add(result, 1)

    def not_kept(self, result: Result) -> None:
        """A result handed out that the consumer could not keep: not attempted after all."""
        self._add(result, -1)
        self.not_attempted += 1

    def _add(self, result: Result, n: int) -> None:
        if result.error is None:
            self.ok += n
        elif result.error.kind == "invalid_input":
            self.invalid += n
        else:
            self.failed += n
            if not result.permanent:
                self.transient += n

    def by_outcome(self) -> dict[str, int]:
        """What became of the input's IDs and rows, by outcome (the metrics' ``records``)."""
        return {name: getattr(self, name) for name in OUTCOMES}

    def rows_done(self) -> int:
        """Rows accounted for so far: a record, a repeat, one kept by --resume, a blank."""
        done = self.by_outcome()
        return sum(done.values()) - done["not_attempted"]

    def as_summary(self) -> dict[str, int | float | str]:
        return {
            "ok": self.ok,
            "failed": self.failed,
            "invalid": self.invalid,
            "duplicates": self.duplicates,
            "skipped": self.skipped,
            "not_attempted": self.not_attempted,
            "requests": self.requests,
            "retries": self.retries,
            "rate_limited": self.rate_limited,
            "transient": self.transient,
            "in_progress": self.in_progress,
            "replayed": self.replayed,
            "elapsed_s": round(self.elapsed_s, 3),
            "blank": self.blank,
            "quota_store": self.quota_store,
            "waited_on_others": self.waited_on_others,
        }

    def achieved_rate(self) -> float | None:
        """Requests started per second over the run: from the first start to one rolling
        window (a second) after the last.

        Counting the last window whole is what makes the figure honest: a run that
        never starts more than N requests in any rolling second starts at most
        ``N * (span + 1)`` in a span of ``span`` seconds, so this never shows more
        than the limit the run kept, even for a run of a few requests (starts
        counted between the first and the last one alone would: a run of five
        requests in 0.8 s is not a rate of 6/s). Over a long run it tends to the
        true rate. None before any request.
        """
        if self.first_start is None or self.last_start is None:
            return None
        return self.requests / (self.last_start - self.first_start + WINDOW_S)

    def latency_summary(self) -> dict[str, float | None]:
        def ms(value: float | None) -> float | None:
            return None if value is None else round(value * 1000, 1)

        return {
            "latency_p50_ms": ms(self.latency.quantile(0.5)),
            "latency_p95_ms": ms(self.latency.quantile(0.95)),
            "latency_max_ms": ms(
                self.latency.max if self.latency.quantile(0.5) is not None else None
            ),
        }
