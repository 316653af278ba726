"""What one attempt's outcome means, by the policy table (batch/_policy.py). Pure."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from batch.engine._options import EngineOptions
from batch.engine._policy import Verdict, classify_status, parse_retry_after
from batch.engine._results import Abort, Cause
from batch.engine._transport import HostUnresolved, ProxyRefused, ProxyUnreachable, TlsFailure
from batch.engine._types import (
    Answer,
    Concern,
    Failure,
    InvalidResponse,
    Job,
    Response,
    SuccessFields,
)
from batch.engine._work import Attempt

__all__ = [
    "NOT_HERE",
    "UNRESOLVED_LIMIT",
    "EndpointMissing",
    "VersionRefused",
    "fatal_abort",
    "judge",
    "unkeepable",
]


#: The status of the API's rate limit (unless the job reads the answer as about the key).
RATE_LIMITED = 429
#: Statuses that, from something other than the API, mean "no such endpoint here".
NOT_HERE = frozenset({404, 405})


@dataclass(frozen=True, slots=True)
class EndpointMissing(Failure):
    """A 404/405 that is not the API's own answer, before the API ever answered: the base
    URL is wrong (a web server says there is nothing there), not the key."""


@dataclass(frozen=True, slots=True)
class VersionRefused(Failure):
    """The API does not serve the API version the request asked for: every request of the
    run would get the same answer (fatal)."""


def judge(job: Job, outcome: Response | Failure, *, api_seen: bool = True) -> Attempt:
    """OK with the record's fields, or RETRY / PERMANENT / FATAL with the failure.

    ``api_seen``: whether the API itself has answered yet in this run. Until it has,
    a 404/405 in another format than the API's says the endpoint is not there (fatal);
    after, it is a glitch of something in front of the API (retried). Likewise a proxy
    that cannot be reached: a wrong setting before, a blip after (retried).

    What the job reads in the answer (`Job.read_answer`) comes first: an answer saying
    the key's operation is still in progress is retried after its Retry-After and is not
    the API's rate limit, whatever its status; one refusing the API version is fatal.
    """
    if isinstance(outcome, Failure):
        return _no_answer(outcome, api_seen=api_seen)
    answer = job.read_answer(outcome)
    verdict = classify_status(outcome.status)
    if verdict is Verdict.OK:
        return _success(job, outcome, answer)
    retry_after = parse_retry_after(outcome.headers.get("Retry-After"))
    failure = _with_location(job.describe_error(outcome), outcome)
    if answer.concern is Concern.IN_PROGRESS:
        return Attempt(
            Verdict.RETRY, failure=failure, retry_after=retry_after, answer=answer, in_progress=True
        )
    if answer.concern is Concern.API_VERSION:
        refused = VersionRefused(
            failure.kind, failure.message, http_status=outcome.status, request_id=failure.request_id
        )
        return Attempt(Verdict.FATAL, failure=refused, answer=answer)
    if outcome.status in NOT_HERE and not job.speaks_api(outcome):
        if not api_seen:
            missing = EndpointMissing(failure.kind, failure.message, http_status=outcome.status)
            return Attempt(Verdict.FATAL, failure=missing, answer=answer)
        verdict = Verdict.RETRY
    return Attempt(
        verdict,
        failure=failure,
        retry_after=retry_after,
        answer=answer,
        rate_limited=outcome.status == RATE_LIMITED,
    )


#: Attempts whose host name did not resolve (the resolver failing, not a name that does
#: not exist: that one stops the run at once), before the API ever answered, that stop the
#: run (`Cause.ENDPOINT`): three of them are not a blip.
UNRESOLVED_LIMIT = 3


def _no_answer(failure: Failure, *, api_seen: bool) -> Attempt:
    """No answer came (network, timeout, TLS, proxy): retried unless it cannot fix itself."""
    if isinstance(failure, TlsFailure | ProxyRefused):
        # A certificate, or a proxy's policy or credentials, will not fix themselves.
        return Attempt(Verdict.FATAL, failure=failure)
    if isinstance(failure, ProxyUnreachable) and not api_seen:
        return Attempt(Verdict.FATAL, failure=failure)
    if isinstance(failure, HostUnresolved) and failure.definitive and not api_seen:
        return Attempt(Verdict.FATAL, failure=failure)  # no such name: a wrong base URL
    return Attempt(Verdict.RETRY, failure=failure)


def _with_location(failure: Failure, response: Response) -> Failure:
    """A 3xx is never followed (a request must not go where the base URL does not say):
    its message says where it pointed, so that the user can fix the base URL."""
    location = response.headers.get("Location")
    if not 300 <= response.status < 400 or not location:
        return failure
    shown = " ".join(location.split())[:300]
    return dataclasses.replace(failure, message=f"{failure.message} (Location: {shown})")


def _success(job: Job, response: Response, answer: Answer) -> Attempt:
    """A 2xx: OK with the job's fields, or a retry if its body breaks the schema or holds
    a value no record could keep exactly."""
    try:
        data = job.parse_success(response)
    except InvalidResponse as exc:
        failure = Failure("invalid_response", str(exc), http_status=response.status)
        return Attempt(Verdict.RETRY, failure=failure, answer=answer)
    problem = unkeepable(data)
    if problem is not None:
        failure = Failure(
            "invalid_response",
            f"HTTP {response.status} answer's {problem}: a record keeps what the API sent "
            "exactly, on one line of UTF-8, or not at all; not kept",
            http_status=response.status,
        )
        return Attempt(Verdict.RETRY, failure=failure, answer=answer)
    return Attempt(Verdict.OK, data=data, answer=answer)


def unkeepable(data: SuccessFields) -> str | None:
    """Why a success field cannot be kept exactly in a results file (JSONL or CSV), or None.

    A record is one line of valid UTF-8 (``--resume`` reads them line by line, and a
    spreadsheet or a program reads the CSV): a line break, a NUL or a lone surrogate (a
    JSON ``\\ud800`` escape, which no UTF-8 file can hold) would be changed on the way in.
    """
    for name, value in data.items():
        if not isinstance(value, str):
            continue
        if "\r" in value or "\n" in value or "\x00" in value:
            return f"'{name}' holds a line break or a NUL"
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return f"'{name}' holds a lone surrogate (not valid Unicode)"
    return None


def fatal_abort(failure: Failure, job: Job, options: EngineOptions, url: str) -> Abort:
    """What a fatal outcome means for the run, in one line that says what to check (the
    options name where the token and the base URL came from, in the front end's words)."""
    if isinstance(failure, TlsFailure):
        return Abort(Cause.TLS, failure.message)
    if isinstance(failure, ProxyRefused | ProxyUnreachable):
        return Abort(Cause.PROXY, failure.message)
    if isinstance(failure, VersionRefused):
        return Abort(
            Cause.API_VERSION,
            f"the API does not serve the API version this run asks for (HTTP "
            f"{failure.http_status}: {failure.message}); check {options.api_version_source}",
            http_status=failure.http_status,
        )
    if isinstance(failure, HostUnresolved):
        return Abort(
            Cause.ENDPOINT,
            f"{failure.message}, and the API never answered: check {options.base_url_source} "
            f"(the API root looks like {job.default_base_url}); nothing was sent",
        )
    if isinstance(failure, EndpointMissing):
        return Abort(
            Cause.ENDPOINT,
            f"{url} answered HTTP {failure.http_status} ({failure.message}), not in the API's "
            f"error format: nothing is there; check {options.base_url_source} (the API root "
            f"looks like {job.default_base_url})",
            http_status=failure.http_status,
        )
    return Abort(
        Cause.CREDENTIALS,
        f"the API refused the token (HTTP {failure.http_status}: {failure.message}); "
        f"check {options.token_source}{job.auth_hint}",
        http_status=failure.http_status,
    )
