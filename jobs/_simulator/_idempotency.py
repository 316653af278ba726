"""Idempotency keys: a POST's 2xx answer kept for 24 hours per (org token, key).

Deel's "Idempotency" page (https://developer.deel.com/api/idempotency): POST and PATCH
accept an `Idempotency-Key` of at most 64 characters; only 2xx answers are cached, for
24 hours; a repeat with the same key gets the cached answer "without processing again",
with an `x-original-request-id` header holding the first request's ID; a repeat while the
first request is still in progress gets "429 - Request conflict detected. Try again in
sometime" with a `Retry-After` header; "if the original request was intentionally
canceled, wait 2 minutes before retrying"; a key reused after 24 hours is a new request.

What the page leaves open, the simulator decides:
- a key is claimed when its request is admitted; the request is in progress until its
  answer is ready (the `latency` knob: a repeat in that time is Busy) or, for a request
  the server hangs on (`stall`), until the hang ends;
- the server finishes what it started: a client that goes away does not undo a mint, and
  its retry is a replay (so is the retry after a `mint_then_*` fault, whose answer is
  lost after the mint); a hung request whose client went away holds its key `linger`
  seconds more (Deel's two minutes), then the key is free;
- a non-2xx answer frees the key at once;
- a repeat is replayed whatever its body (the page says so); `Replay.same_request` tells
  whether the body was the first one's, so a test can catch a key reused across IDs;
- an empty key, or one longer than 64 characters, is a 400 (`check_key`).

Pure: the caller passes the time in (the event loop's clock), so a test on virtual time
ages the 24 hours exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

__all__ = [
    "HEADER",
    "MAX_KEY_LENGTH",
    "ORIGINAL_HEADER",
    "Busy",
    "Cached",
    "Claim",
    "IdempotencyCache",
    "Policy",
    "Replay",
    "check_key",
]

HEADER: Final = "Idempotency-Key"
ORIGINAL_HEADER: Final = "x-original-request-id"
MAX_KEY_LENGTH: Final = 64
_SWEEP_EVERY: Final = 1024  # claims between two sweeps of expired entries


def check_key(key: str) -> str | None:
    """The message of the 400 for an `Idempotency-Key` value, or None when it is usable."""
    if not key:
        return f"{HEADER} must not be empty"
    if len(key) > MAX_KEY_LENGTH:
        return f"{HEADER} must be at most {MAX_KEY_LENGTH} characters (got {len(key)})"
    return None


@dataclass(frozen=True)
class Policy:
    """How long answers are kept and keys held, in seconds."""

    ttl: float = 86400.0  # a 2xx answer is replayed for this long
    linger: float = 120.0  # a key whose client went away stays held this long
    busy_retry_after: int = 1  # Retry-After for a key whose first request is still running


@dataclass(frozen=True)
class Cached:
    """A 2xx answer as it is replayed."""

    status: int
    body: bytes
    content_type: str
    request_id: str  # the first request's x-request-id


@dataclass(eq=False)
class Claim:
    """A key held by the request now processing it."""

    scope: str  # the org token
    key: str
    request: bytes  # the first request's body
    since: float  # claimed at; then abandoned at, or the answer ready at
    running: bool = True  # False once the client went away (the handler was cancelled)
    cached: Cached | None = None


@dataclass(frozen=True)
class Replay:
    cached: Cached
    same_request: bool  # the repeat's body is the first request's


@dataclass(frozen=True)
class Busy:
    retry_after: int  # whole seconds, at least 1


class IdempotencyCache:
    """Claims and cached answers, by (scope, key)."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], Claim] = {}
        self._claims = 0

    def __len__(self) -> int:
        return len(self._entries)

    def begin(
        self, scope: str, key: str, request: bytes, now: float, policy: Policy
    ) -> Claim | Replay | Busy:
        """A new claim on the key, the cached answer to replay, or Busy (429)."""
        entry = self._entries.get((scope, key))
        if entry is not None:
            found = self._still(entry, request, now, policy)
            if found is not None:
                return found
        self._claims += 1
        if self._claims % _SWEEP_EVERY == 0:
            self._sweep(now, policy)
        claim = self._entries[(scope, key)] = Claim(scope, key, request, since=now)
        return claim

    def complete(self, claim: Claim, cached: Cached, ready: float) -> None:
        """The claim's request succeeded (2xx): its answer is replayed from `ready` on (a
        repeat before then is Busy) for `ttl` seconds."""
        if self._holds(claim) and claim.cached is None:
            claim.cached, claim.since, claim.running = cached, ready, False

    def release(self, claim: Claim) -> None:
        """The claim's request failed (not 2xx): the key is free again."""
        if self._holds(claim) and claim.cached is None:
            del self._entries[(claim.scope, claim.key)]

    def abandon(self, claim: Claim, now: float) -> None:
        """The claim's client went away before its answer: hold the key `linger` longer."""
        if self._holds(claim) and claim.cached is None and claim.running:
            claim.running, claim.since = False, now

    def _holds(self, claim: Claim) -> bool:
        return self._entries.get((claim.scope, claim.key)) is claim

    @staticmethod
    def _still(entry: Claim, request: bytes, now: float, policy: Policy) -> Replay | Busy | None:
        """What an existing entry still answers at `now`; None once it has expired."""
        if entry.cached is not None:
            if now < entry.since:
                return Busy(max(1, math.ceil(entry.since - now)))
            if now - entry.since < policy.ttl:
                return Replay(entry.cached, same_request=request == entry.request)
            return None
        if entry.running:
            return Busy(max(1, policy.busy_retry_after))
        left = entry.since + policy.linger - now
        return Busy(max(1, math.ceil(left))) if left > 0 else None

    def _sweep(self, now: float, policy: Policy) -> None:
        expired = [
            k for k, entry in self._entries.items() if self._still(entry, b"", now, policy) is None
        ]
        for k in expired:
            del self._entries[k]
