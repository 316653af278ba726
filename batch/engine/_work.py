"""One item's way through a lane of the pool, and the record of one a stop cut short."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field

import anyio

from batch.engine._policy import Verdict
from batch.engine._types import Answer, Failure, Item, Result, SuccessFields

__all__ = ["Attempt", "Phase", "Work", "cut_short", "stopped_between_attempts"]


@dataclass(slots=True)
class Attempt:
    verdict: Verdict
    data: SuccessFields | None = None
    failure: Failure | None = None
    retry_after: float | None = None
    #: what the job read in the answer (None: no answer came)
    answer: Answer | None = None
    #: refused by the API's rate limit (a 429 about the organization, not the key)
    rate_limited: bool = False
    #: refused because the key's operation is still in progress (an earlier attempt)
    in_progress: bool = False


class Phase(enum.Enum):
    WAIT = "wait"  # pulling the next item, or waiting for a start slot or a retry
    FLY = "fly"  # a request is on the wire


@dataclass(slots=True, eq=False)  # eq=False: hashed by identity, kept in a set
class Work:
    """One item on its way through a lane: what a cut-off needs to know."""

    scope: anyio.CancelScope
    item: Item | None = None
    phase: Phase = Phase.WAIT
    attempts: int = 0  # requests sent
    rate_limited: int = 0  # of which answered 429 by the rate limit
    #: seconds waited on the API's word that this item's operation was still in progress
    waited_in_progress: float = 0.0
    last: Attempt | None = None
    result: Result | None = None
    #: this item's idempotency key in this run (see `Call`), made at its first attempt
    idempotency_key: str = field(default_factory=lambda: str(uuid.uuid4()))

    def renew_key(self) -> None:
        """A new idempotency key for the next attempt: after a 2xx whose body broke the
        job's schema, which the API's cache would only answer again, byte for byte."""
        self.idempotency_key = str(uuid.uuid4())

    def succeeded(self, data: SuccessFields) -> Result:
        """The success record of this item: the job's fields, its attempts and 429s."""
        assert self.item is not None
        return Result(
            self.item.key,
            self.item.line,
            "ok",
            self.attempts,
            data=data,
            columns=self.item.columns,
            rate_limited=self.rate_limited,
        )

    def failed(self, failure: Failure, *, permanent: bool = False) -> Result:
        """The error record of this item: its attempts, 429s and input columns;
        ``permanent``: the API's final answer about the key (see `Result.permanent`)."""
        assert self.item is not None
        return Result(
            self.item.key,
            self.item.line,
            "error",
            self.attempts,
            error=failure,
            columns=self.item.columns,
            rate_limited=self.rate_limited,
            permanent=permanent,
        )


def cut_short(work: Work) -> Result | None:
    """The record of an item whose work stop() cut short."""
    assert work.item is not None
    if work.attempts == 0:
        return None
    if work.phase is Phase.FLY:
        failure = Failure(
            "aborted", "request cut off by the shutdown; the API may or may not have acted on it"
        )
    else:
        failure = stopped_between_attempts(work)
    return work.failed(failure)


def stopped_between_attempts(work: Work) -> Failure:
    assert work.last is not None
    assert work.last.failure is not None
    last = work.last.failure
    status = f" HTTP {last.http_status}" if last.http_status else ""
    return Failure(
        "aborted",
        f"the run stopped before attempt {work.attempts + 1}; last attempt: "
        f"{last.kind}{status}: {last.message}",
        http_status=last.http_status,
        request_id=last.request_id,
    )
