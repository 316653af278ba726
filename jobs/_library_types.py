"""What the library hands out: results, their stream, and the exception of an aborted run."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from batch import BatchError, Engine, Failure, Result, Results, Stats

__all__ = ["RunAborted", "WorkerToken", "WorkerTokenResults", "from_result"]

_EXIT_ABORTED = 3


class _Feed(Protocol):
    error: Exception | None  # the command line's exit code for an aborted run


@dataclass(frozen=True, slots=True)
class WorkerToken:
    """The outcome for one distinct profile ID.

    ``ok`` results carry ``token`` and ``expires_at``; the others carry ``error``
    (``error.kind`` is one of http, network, timeout, invalid_input, invalid_response,
    aborted). ``line`` is the ID's 1-based position in the input. ``token`` is a secret:
    it is left out of ``repr()``.
    """

    profile_id: str
    line: int
    attempts: int
    token: str | None = field(default=None, repr=False)
    expires_at: datetime | None = None
    error: Failure | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class RunAborted(BatchError):
    """The run stopped early: the API refused the token, a TLS check failed, or the API
    kept failing for a minute. IDs not yet attempted have no result.

    ``reason`` is one line. ``stats`` counts the run. ``results`` holds the results
    collected before the abort when raised by `create_worker_tokens_sync` (the
    streaming API has already handed them out, and leaves it empty).
    """

    exit_code = _EXIT_ABORTED

    def __init__(self, reason: str, stats: Stats) -> None:
        super().__init__(reason)
        self.reason = reason
        self.stats = stats
        self.results: list[WorkerToken] = []


class WorkerTokenResults:
    """The results of `open_worker_tokens`: an async iterator of `WorkerToken`.

    Results come in completion order, one per distinct profile ID (invalid IDs included,
    duplicates left out). The iteration ends when every ID is done; it raises `RunAborted`
    if the run was aborted, or the exception that the input iterable raised.
    """

    def __init__(self, results: Results, engine: Engine, feed: _Feed) -> None:
        self._results = results
        self._engine = engine
        self._feed = feed
        #: live counters: rows read, ok, failed, invalid, duplicates, requests, retries, ...
        self.stats = engine.stats

    @property
    def abort_reason(self) -> str | None:
        """Why the run was aborted, or None."""
        return self._engine.abort_reason

    def __aiter__(self) -> WorkerTokenResults:
        return self

    async def __anext__(self) -> WorkerToken:
        try:
            return from_result(await anext(self._results))
        except StopAsyncIteration:
            if self._feed.error is not None:
                raise self._feed.error from None
            reason = self.abort_reason
            if reason is not None:
                raise RunAborted(reason, self.stats) from None
            raise


def from_result(result: Result) -> WorkerToken:
    token = result.data.get("token")
    expires = result.data.get("expires_at")
    return WorkerToken(
        profile_id=result.key,
        line=result.line,
        attempts=result.attempts,
        token=token if isinstance(token, str) else None,
        expires_at=datetime.fromisoformat(expires) if isinstance(expires, str) else None,
        error=result.error,
    )
