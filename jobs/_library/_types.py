"""What the library hands out: results, their stream, and the exceptions of a cut-short run.

A worker-tokens result is `Issued` or `Failed`, and ``WorkerToken`` is their union: ``if
r.ok:`` narrows it, so ``r.token`` is a ``str`` there and ``r.error`` a `Failure` in the
``else`` branch, under ``mypy --strict`` too. A revoke-tokens result is `Revoked` or
`Failed` (``Revocation``), narrowed the same way (``r.revoked_at``). `Failure` speaks the
records' words (``api_req_id``, as in the results file), not the engine's (``request_id``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Generic, Literal, Protocol

from typing_extensions import TypeVar  # a default (PEP 696) before Python 3.13

from batch import BatchError, Engine, ErrorKind, Result, Results, Stats
from batch import Failure as BatchFailure

__all__ = [
    "Failed",
    "Failure",
    "Issued",
    "Revocation",
    "RevocationResults",
    "RevocationsAborted",
    "RevocationsInterrupted",
    "Revoked",
    "RunAborted",
    "RunInterrupted",
    "WorkerToken",
    "WorkerTokenResults",
    "from_result",
    "revocation_from",
]

_EXIT_ABORTED = 3  # the command line's exit code for an aborted run


@dataclass(frozen=True, slots=True)
class Failure:
    """Why a profile ID got no token: the ``error`` object of a results-file record.

    ``kind`` is one of http, network, timeout, invalid_input, invalid_response, aborted;
    ``http_status`` the API's last answer, if any; ``api_req_id`` the API's id for the
    request (quote it to Deel's support), if it sent one.
    """

    kind: ErrorKind
    message: str
    http_status: int | None = None
    api_req_id: str | None = None


@dataclass(frozen=True, slots=True)
class Issued:
    """A worker access token was created. ``token`` is a secret: ``repr()`` leaves it out."""

    profile_id: str
    line: int  #: the ID's 1-based position in the input
    attempts: int
    token: str = field(repr=False)
    expires_at: datetime  #: an aware datetime, 24 h after issue
    error: None = None
    #: how many of ``attempts`` were answered 429 (they do not count against max_attempts)
    rate_limited: int = 0

    @property
    def ok(self) -> Literal[True]:
        return True


@dataclass(frozen=True, slots=True)
class Revoked:
    """The worker's active token was revoked: ``revoked_at`` is when the API said so."""

    profile_id: str
    line: int  #: the ID's 1-based position in the input
    attempts: int
    revoked_at: datetime  #: an aware datetime (UTC), when the API's answer came
    error: None = None
    #: how many of ``attempts`` were answered 429 (they do not count against max_attempts)
    rate_limited: int = 0

    @property
    def ok(self) -> Literal[True]:
        return True


@dataclass(frozen=True, slots=True)
class Failed:
    """The request for this profile ID failed (no token issued, or none revoked); ``error``
    says why (``attempts`` is 0 for invalid IDs)."""

    profile_id: str
    line: int  #: the ID's 1-based position in the input
    attempts: int
    error: Failure
    token: None = None
    expires_at: None = None
    #: how many of ``attempts`` were answered 429 (they do not count against max_attempts)
    rate_limited: int = 0

    @property
    def ok(self) -> Literal[False]:
        return False


#: The outcome for one distinct profile ID: ``if r.ok:`` tells which.
WorkerToken = Issued | Failed
#: The outcome of a revocation for one distinct profile ID: ``if r.ok:`` tells which.
Revocation = Revoked | Failed

#: a result of one of the jobs (`WorkerToken`, `Revocation`); a plain ``RunAborted`` is
#: a worker-tokens one, as it was before there were two jobs
R = TypeVar("R", default=WorkerToken)


class RunAborted(BatchError, Generic[R]):
    """The run stopped early: the API refused the token, a TLS check failed, the API
    kept failing for a minute, or it refused the first requests alike. IDs not yet
    attempted have no result.

    ``reason`` is one line. ``stats`` counts the run. ``results`` holds the results
    collected before the abort when raised by a sync form (`create_worker_tokens_sync`,
    `revoke_worker_tokens_sync`); the streaming forms have already handed them out, and
    leave it empty. A revoke-tokens run raises `RevocationsAborted`, whose ``results``
    are `Revocation`s.
    """

    exit_code = _EXIT_ABORTED

    def __init__(self, reason: str, stats: Stats) -> None:
        super().__init__(reason)
        self.reason = reason
        self.stats = stats
        self.results: list[R] = []


class RevocationsAborted(RunAborted[Revocation]):
    """`RunAborted` of a revoke-tokens run: ``results`` are `Revocation`s."""


class RunInterrupted(KeyboardInterrupt, Generic[R]):
    """Ctrl-C stopped a sync form (`create_worker_tokens_sync`, `revoke_worker_tokens_sync`):
    ``results`` holds what it obtained.

    A `KeyboardInterrupt`, so a script that does not catch it still stops as Ctrl-C
    stops it (``except Exception`` does not swallow it), with exit status 1: Python exits
    with SIGINT's 130 only for a plain KeyboardInterrupt, so a script that wants 130 (for
    its own caller) catches this one and exits with it. Requests in flight were given
    the grace period to finish (a second Ctrl-C cuts them off: ``aborted`` results);
    IDs not yet attempted have no result. `revoke_worker_tokens_sync` raises
    `RevocationsInterrupted`, whose ``results`` are `Revocation`s.
    """

    #: what the message calls the results that are ok
    done = "tokens issued"

    def __init__(self, results: list[R], stats: Stats) -> None:
        ok = sum(1 for r in results if getattr(r, "ok", False))
        super().__init__(f"interrupted: {len(results)} results obtained, {ok} {self.done}")
        self.results = results
        self.stats = stats


class RevocationsInterrupted(RunInterrupted[Revocation]):
    """`RunInterrupted` of `revoke_worker_tokens_sync`: ``results`` are `Revocation`s."""

    done = "tokens revoked"


class _Feed(Protocol):
    error: Exception | None


class _Results(Generic[R]):
    """The results of one run as the library hands them out: an async iterator of ``R``.

    Results come in completion order, one per distinct profile ID (invalid IDs included,
    duplicates left out). The iteration ends when every ID is done (or after `stop`); it
    raises `RunAborted` if the run was aborted, or the exception that the input iterable
    raised.
    """

    #: what an abort raises
    aborted: type[RunAborted[R]]

    def __init__(
        self, results: Results, engine: Engine, feed: _Feed, convert: Callable[[Result], R]
    ) -> None:
        self._results = results
        self._engine = engine
        self._feed = feed
        self._convert = convert
        #: live counters: rows read, ok, failed, invalid, duplicates, requests, retries, ...
        self.stats = engine.stats

    @property
    def abort_reason(self) -> str | None:
        """Why the run was aborted, or None."""
        return self._engine.abort_reason

    def stop(self, *, grace: float | None = None) -> None:
        """Take no more IDs; requests in flight get ``grace`` seconds (the run's by default)
        to finish, then get ``aborted`` results. The iteration ends after their results."""
        self._engine.stop("stopped by the caller", grace=grace)

    def __aiter__(self) -> _Results[R]:
        return self

    async def __anext__(self) -> R:
        try:
            return self._convert(await anext(self._results))
        except StopAsyncIteration:
            if self._feed.error is not None:
                raise self._feed.error from None
            reason = self.abort_reason
            if reason is not None:
                raise self.aborted(reason, self.stats) from None
            raise


class WorkerTokenResults(_Results[WorkerToken]):
    """The results of `open_worker_tokens`: an async iterator of `WorkerToken`.

    Results come in completion order, one per distinct profile ID (invalid IDs included,
    duplicates left out). The iteration ends when every ID is done (or after `stop`); it
    raises `RunAborted` if the run was aborted, or the exception that the input iterable
    raised.
    """

    aborted: type[RunAborted[WorkerToken]] = RunAborted

    def __init__(self, results: Results, engine: Engine, feed: _Feed) -> None:
        super().__init__(results, engine, feed, from_result)


class RevocationResults(_Results[Revocation]):
    """The results of a revoke-tokens run: an async iterator of `Revocation`, as
    `WorkerTokenResults` is of `WorkerToken`."""

    aborted = RevocationsAborted

    def __init__(self, results: Results, engine: Engine, feed: _Feed) -> None:
        super().__init__(results, engine, feed, revocation_from)


def from_result(result: Result) -> WorkerToken:
    error = result.error
    if error is None:
        expires_at = datetime.fromisoformat(result.data["expires_at"])
        if expires_at.tzinfo is None:  # the API's date-times are UTC
            expires_at = expires_at.replace(tzinfo=UTC)
        return Issued(
            result.key,
            result.line,
            result.attempts,
            result.data["token"],
            expires_at,
            rate_limited=result.rate_limited,
        )
    return _failed(result, error)


def revocation_from(result: Result) -> Revocation:
    error = result.error
    if error is None:
        revoked_at = datetime.fromisoformat(result.data["revoked_at"])
        return Revoked(result.key, result.line, result.attempts, revoked_at, None,
                       rate_limited=result.rate_limited)  # fmt: skip
    return _failed(result, error)


def _failed(result: Result, error: BatchFailure) -> Failed:
    failure = Failure(error.kind, error.message, error.http_status, error.request_id)
    return Failed(
        result.key, result.line, result.attempts, failure, rate_limited=result.rate_limited
    )
