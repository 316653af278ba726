"""`SimulatorConfig`: every knob of the simulated API, and what it saw (`SimulatorStats`).

The config is mutable on purpose: a test may change it while the API serves, and every
request reads it afresh.
"""

from __future__ import annotations

import collections
import datetime as dt
from dataclasses import dataclass, field
from typing import Final

from jobs._simulator import _faults as faults
from jobs._simulator._lifecycle import WorkerTokens
from jobs._simulator._versions import DEFAULT_VERSION, PublishedVersion, default_versions
from jobs._simulator._versions import check as check_versions

__all__ = ["REJECT_ALL_MESSAGE", "SimulatorConfig", "SimulatorStats"]

#: What `reject_all` answers when `simulate-api --reject-all` sets it.
REJECT_ALL_MESSAGE: Final = "Invalid request: it does not match the schema of this API version"


@dataclass
class SimulatorConfig:
    """How the simulated API behaves; mutable, so tests may change it while it serves."""

    rate: float | None = 5.0  # admitted per rolling 1-s window: max(1, floor(rate)); None = off
    latency: float = 0.0  # seconds added before every response
    p_500: float = 0.0
    p_503_html: float = 0.0
    p_429: float = 0.0  # spurious 429 (counted in `injected`, not in `window_429`)
    p_drop: float = 0.0
    p_stall: float = 0.0
    p_malformed: float = 0.0
    stall_seconds: float = 3600.0
    plan: dict[str, list[str]] = field(default_factory=dict)  # ID -> faults, in order
    unknown_profiles: set[str] = field(default_factory=set)  # -> 404, on POST and DELETE
    token: str | None = None  # the accepted bearer token; None = any non-empty one
    revoke_after: int | None = None  # after this many 201s, every request gets 401
    retry_after: float | str | None = None  # if set, a Retry-After header on 429 and 503
    seed: int | None = None  # for the random faults
    # ---- faults with an ambiguous outcome: the token is minted, its answer is lost ----
    p_mint_then_timeout: float = 0.0
    p_mint_then_reset: float = 0.0
    p_broken_chunked_201: float = 0.0
    # ---- every answer the same 400 (a request the API no longer accepts) ----
    reject_all: str | None = None  # the 400's message; None = off
    # ---- token lifecycle ----
    tokens_predate: bool = True  # an ID never minted here holds a token from before
    # ---- API versions ----
    versions: dict[str, PublishedVersion] = field(default_factory=default_versions)
    default_version: str = DEFAULT_VERSION  # what a request without X-Version gets
    deprecated_since: dt.date | None = None  # makes every called version deprecated
    sunset: dt.date | None = None  # its Sunset; default one year after deprecated_since
    # ---- idempotency keys (seconds, on the event loop's clock) ----
    idempotency_ttl: float = 86400.0  # a 2xx answer is replayed for this long
    idempotency_linger: float = 120.0  # a key whose client went away stays held this long
    idempotency_retry_after: int = 1  # Retry-After while the key's first request runs

    def __post_init__(self) -> None:
        for profile_id, planned in self.plan.items():
            unknown = [name for name in planned if name not in FAULTS]
            if unknown:
                raise ValueError(
                    f"plan for {profile_id}: unknown faults {unknown}; known: {FAULTS}"
                )
        check_versions(self)


FAULTS: Final = faults.FAULTS


@dataclass
class SimulatorStats:
    """What the simulated API saw and did."""

    requests: int = 0  # every arrival, on any route
    per_profile: collections.Counter[str] = field(default_factory=collections.Counter)
    created: int = 0  # tokens minted (201s, including those whose answer was then lost)
    window_429: int = 0  # 429s from the rolling window
    injected: collections.Counter[str] = field(default_factory=collections.Counter)
    arrivals: list[float] = field(default_factory=list)  # loop time of each arrival
    issued: dict[str, list[str]] = field(default_factory=dict)  # profile -> tokens issued
    max_in_window: int = 0  # most admitted requests seen in one rolling 1-s window
    # ---- token lifecycle ----
    workers: dict[str, WorkerTokens] = field(default_factory=dict)  # issued, active, revoked
    per_worker: collections.Counter[str] = field(default_factory=collections.Counter)  # DELETEs
    revocations: int = 0  # DELETEs that ended a token (200)
    # ---- versions and idempotency ----
    versions_seen: collections.Counter[str | None] = field(
        default_factory=collections.Counter
    )  # X-Version values as sent; None = no header
    replays: int = 0  # answers given again from the idempotency cache
    in_progress_429: int = 0  # 429s for a key whose first request was still in progress
    key_reuse: int = 0  # replays whose body differed from the first request's
    followed_redirects: int = 0  # requests that arrived where a 3xx fault pointed
