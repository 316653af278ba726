"""Which fault a request gets: the plan's next entry for its ID, else a random draw.

`plan[id][i]` applies to the i-th request for that ID that the API processes, whatever its
method (POST or DELETE); requests answered before that (the rolling window, a bad token
or body, an idempotency replay) do not move it. A seed makes the random draws repeat.
"""

from __future__ import annotations

import collections
import random

from jobs._simulator import _faults as faults
from jobs._simulator._config import SimulatorConfig

__all__ = ["FaultPicker"]


class FaultPicker:
    def __init__(self, seed: int | None) -> None:
        self._rng = random.Random(seed)
        self._position: collections.Counter[str] = collections.Counter()

    def planned(self, config: SimulatorConfig, worker_id: str) -> str | None:
        """The plan's entry for this request of `worker_id`, if the plan has one."""
        index = self._position[worker_id]
        self._position[worker_id] += 1
        planned = config.plan.get(worker_id)
        return planned[index] if planned and index < len(planned) else None

    def drawn(self, config: SimulatorConfig) -> str | None:
        """A random fault at the configured odds (`p_*`), or None."""
        odds = (
            config.p_500,
            config.p_503_html,
            config.p_429,
            config.p_drop,
            config.p_stall,
            config.p_malformed,
            config.p_mint_then_timeout,
            config.p_mint_then_reset,
            config.p_broken_chunked_201,
        )
        if not any(odds):
            return None  # no draw: a seed's sequence is not used up by fault-free requests
        draw = self._rng.random()
        for name, p in zip(faults.RANDOM_FAULTS, odds, strict=True):
            if draw < p:
                return name
            draw -= p
        return None
