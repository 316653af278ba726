"""A model of the API's window on virtual time, for exact tests of the pacer and controller.

The server admits at most ``limit`` requests in any rolling second ((t - 1, t], as the
simulated API: refused requests do not occupy it). Clients: one `Pacer` with ``concurrency``
workers whose answers come back after ``latency`` (refused ones are retried), other clients'
calls at given times (never retried), and optionally a second pacer that does not share
(another run with ``--quota-store none``). Spurious 429s hit admitted requests at random.
"""

from __future__ import annotations

import heapq
import math
import random
from collections import Counter, deque
from dataclasses import dataclass, field

from batch.engine._pacer import Pacer


@dataclass
class Outcome:
    counts: Counter[str] = field(default_factory=Counter)
    #: (answer time, rate after it) for the first pacer
    rates: list[tuple[float, float]] = field(default_factory=list)
    #: when the first pacer's last item was answered ok (None: not all done), and the other's
    finished: float | None = None
    other_finished: float | None = None
    #: (time, refused) of each foreign call, and of each answer to the first pacer
    foreign: list[tuple[float, bool]] = field(default_factory=list)
    answers: list[tuple[float, bool]] = field(default_factory=list)

    @property
    def first_refused(self) -> float | None:
        return next((t for t, refused in self.answers if refused), None)

    def refused_after(self, t: float) -> float:
        """The share of the first pacer's answers after ``t`` that were refused."""
        later = [refused for at, refused in self.answers if at > t]
        return sum(later) / len(later) if later else 0.0

    def refused_share(self, who: str) -> float:
        done = self.counts[f"{who}_ok"] + self.counts[f"{who}_refused"]
        return self.counts[f"{who}_refused"] / done if done else 0.0

    def rate_at(self, t: float) -> float:
        before = [r for at, r in self.rates if at <= t]
        return before[-1] if before else math.nan


def poisson(rate: float, start: float, end: float, seed: int) -> list[float]:
    rng, t, out = random.Random(seed), start, list[float]()
    while True:
        t += rng.expovariate(rate)
        if t >= end:
            return out
        out.append(t)


def evenly(rate: float, start: float, end: float) -> list[float]:
    return [start + i / rate for i in range(int((end - start) * rate))]


@dataclass
class _Client:
    name: str
    pacer: Pacer
    pending: int
    free: int
    concurrency: int
    retry: int = 0
    done: int = 0


def run(  # noqa: C901, PLR0912, PLR0913 - one simulated world: each argument a knob of it, one loop of its events
    pacer: Pacer,
    seconds: float,
    *,
    limit: int = 5,
    items: int | None = None,
    concurrency: int = 8,
    latency: float = 0.0,
    foreign: list[float] | None = None,
    other: tuple[Pacer, float, int] | None = None,
    p_spurious: float = 0.0,
    spurious_between: tuple[float, float] = (0.0, math.inf),
    seed: int = 1,
) -> Outcome:
    """Run ``pacer`` (and ``other`` = (pacer, start time, items)) for ``seconds``; spurious
    429s only between the two times of ``spurious_between``."""
    rng = random.Random(seed)
    out = Outcome()
    window: deque[float] = deque()
    events: list[tuple[float, int, str, float, bool]] = []  # (time, order, who, started, refused)
    for t in foreign or []:
        heapq.heappush(events, (t, 0, "foreign", t, False))
    clients = [
        _Client("run", pacer, items if items is not None else 10**9, concurrency, concurrency)
    ]
    if other is not None:
        second, at, count = other
        clients.append(_Client("other", second, count, concurrency, concurrency))
        heapq.heappush(events, (at, 0, "wake", at, False))
    starting = {clients[0].name: 0.0, **({"other": other[1]} if other else {})}
    now = 0.0

    def admit(t: float) -> bool:
        while window and window[0] <= t - 1.0:
            window.popleft()
        if len(window) >= limit:
            return False
        window.append(t)
        return True

    while True:
        due, chosen = math.inf, None
        for client in clients:
            if client.free and (client.pending or client.retry) and now >= starting[client.name]:
                at = now + client.pacer.wait_time(now)
                if at < due:
                    due, chosen = at, client
        if events and events[0][0] <= due:
            now, _, who, started, refused = heapq.heappop(events)
            if now >= seconds:
                return out
            if who == "foreign":
                ok = admit(now)
                out.counts["foreign_ok" if ok else "foreign_refused"] += 1
                out.foreign.append((now, not ok))
            elif who != "wake":
                _answer(next(c for c in clients if c.name == who), started, now, refused, out)
            continue
        if chosen is None or due >= seconds:
            return out
        now = due
        chosen.pacer.start(now)
        chosen.free -= 1
        if chosen.retry:
            chosen.retry -= 1
        else:
            chosen.pending -= 1
        admitted = admit(now)
        if not admitted:
            out.counts[f"{chosen.name}_refused_window"] += 1
        spurious = spurious_between[0] <= now < spurious_between[1] and rng.random() < p_spurious
        refused = not admitted or spurious
        heapq.heappush(events, (now + latency, 1, chosen.name, now, refused))


def _answer(client: _Client, started: float, now: float, refused: bool, out: Outcome) -> None:
    client.free += 1
    client.pacer.response(started, now, rate_limited=refused)
    out.counts[f"{client.name}_{'refused' if refused else 'ok'}"] += 1
    if refused:
        client.retry += 1
    else:
        client.done += 1
        if not client.pending and not client.retry and client.free == client.concurrency:
            if client.name == "run":
                out.finished = now
            else:
                out.other_finished = now
    if client.name == "run":
        out.rates.append((now, client.pacer.rate))
        out.answers.append((now, refused))
