"""What one attempt's outcome means, by the policy table (batch/_policy.py). Pure."""

from __future__ import annotations

from batch.engine._policy import Verdict, classify_status, parse_retry_after
from batch.engine._results import Abort, Cause
from batch.engine._transport import TlsFailure
from batch.engine._types import Failure, InvalidResponse, Job, Response
from batch.engine._work import Attempt

__all__ = ["fatal_abort", "judge"]


def judge(job: Job, outcome: Response | Failure) -> Attempt:
    """OK with the record's fields, or RETRY / PERMANENT / FATAL with the failure."""
    if isinstance(outcome, Failure):
        if isinstance(outcome, TlsFailure):
            return Attempt(Verdict.FATAL, failure=outcome)  # a certificate will not fix itself
        return Attempt(Verdict.RETRY, failure=outcome)
    verdict = classify_status(outcome.status)
    if verdict is Verdict.OK:
        try:
            return Attempt(Verdict.OK, data=job.parse_success(outcome))
        except InvalidResponse as exc:
            failure = Failure("invalid_response", str(exc), http_status=outcome.status)
            return Attempt(Verdict.RETRY, failure=failure)
    retry_after = parse_retry_after(outcome.headers.get("Retry-After"))
    return Attempt(verdict, failure=job.describe_error(outcome), retry_after=retry_after)


def fatal_abort(failure: Failure, *, check: str) -> Abort:
    """What a fatal outcome means for the run; ``check`` says what to check (where the
    token came from, and what it needs: a front end's words)."""
    if isinstance(failure, TlsFailure):
        return Abort(Cause.TLS, failure.message)
    return Abort(
        Cause.CREDENTIALS,
        f"the API refused the token (HTTP {failure.http_status}: {failure.message}); check {check}",
        http_status=failure.http_status,
    )
