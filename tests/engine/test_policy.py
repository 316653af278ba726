"""Retry policy: the classification table, the backoff schedule and Retry-After, tested directly."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from batch import Backoff, EngineOptions, Failure, Response
from batch.engine._judge import fatal_abort, judge
from batch.engine._policy import Verdict, classify_status, parse_retry_after
from batch.engine._results import Cause
from batch.engine._transport import ProxyRefused, ProxyUnreachable, TlsFailure
from jobs import WORKER_TOKENS


@pytest.mark.parametrize(
    ("status", "verdict"),
    [
        (200, Verdict.OK),
        (201, Verdict.OK),
        (429, Verdict.RETRY),
        (500, Verdict.RETRY),
        (502, Verdict.RETRY),
        (503, Verdict.RETRY),
        (504, Verdict.RETRY),
        (401, Verdict.FATAL),
        (403, Verdict.FATAL),
        (400, Verdict.PERMANENT),
        (404, Verdict.PERMANENT),
        (409, Verdict.PERMANENT),
        (422, Verdict.PERMANENT),
        (418, Verdict.PERMANENT),
        (501, Verdict.PERMANENT),
        (302, Verdict.PERMANENT),
    ],
)
def test_classification_table(status: int, verdict: Verdict) -> None:
    assert classify_status(status) is verdict


def test_backoff_ceiling_doubles_up_to_the_cap() -> None:
    policy = Backoff(base=0.5, cap=30.0)
    ceilings = [policy.delay(n, rand=lambda: 1.0) for n in range(1, 10)]
    assert ceilings == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]


def test_full_jitter_scales_the_ceiling() -> None:
    policy = Backoff(base=0.5, cap=30.0)
    assert policy.delay(3, rand=lambda: 0.25) == 0.5
    assert policy.delay(3, rand=lambda: 0.0) == 0.0


def test_huge_attempt_numbers_do_not_overflow() -> None:
    assert Backoff(base=0.5, cap=30.0).delay(10_000, rand=lambda: 1.0) == 30.0


def test_retry_after_wins_and_is_capped() -> None:
    policy = Backoff(base=0.5, cap=30.0, retry_after_cap=60.0)
    assert policy.delay(1, retry_after=7.0, rand=lambda: 0.0) == 7.0
    assert policy.delay(1, retry_after=3600.0) == 60.0
    assert policy.delay(1, retry_after=-5.0) == 0.0


def test_attempt_is_one_based() -> None:
    with pytest.raises(ValueError, match="1-based"):
        Backoff().delay(0)


NOW = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        (None, None),
        ("", None),
        ("  ", None),
        ("0", 0.0),
        ("12", 12.0),
        (" 30 ", 30.0),
        ("Sat, 28 Nov 2026 12:00:45 GMT", 45.0),
        ("Sat, 28 Nov 2026 11:59:00 GMT", 0.0),  # in the past: retry now
        ("soon", None),
        ("-3", None),
        ("1.5", None),  # not delta-seconds per RFC 9110
    ],
)
def test_parse_retry_after(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header, now=NOW) == seconds


def _response(status: int, body: bytes, content_type: str = "application/json") -> Response:
    return Response(status, {"Content-Type": content_type}, body)


@pytest.mark.parametrize(
    ("outcome", "verdict", "kind"),
    [
        (
            _response(201, b'{"data": {"token": "t1", "expires_at": "2026-11-29T00:00:00Z"}}'),
            Verdict.OK,
            None,
        ),
        (
            _response(201, b'{"data": {"token": "t1", "expires_at": "soon"}}'),
            Verdict.RETRY,
            "invalid_response",
        ),
        (_response(201, b"OK"), Verdict.RETRY, "invalid_response"),
        (_response(429, b'{"error": "Rate limit exceeded", "status": 429}'), Verdict.RETRY, "http"),
        (_response(503, b"<html>503</html>", "text/html"), Verdict.RETRY, "http"),
        (_response(404, b'{"errors": [{"message": "not found"}]}'), Verdict.PERMANENT, "http"),
        (_response(401, b'{"errors": [{"message": "Unauthorized"}]}'), Verdict.FATAL, "http"),
        (
            Failure("network", "the server closed the connection without answering"),
            Verdict.RETRY,
            "network",
        ),
        (Failure("timeout", "no complete answer within 30s"), Verdict.RETRY, "timeout"),
        (TlsFailure("network", "TLS certificate of x is not trusted"), Verdict.FATAL, "network"),
    ],
)
def test_judge_applies_the_table(
    outcome: Response | Failure, verdict: Verdict, kind: str | None
) -> None:
    attempt = judge(WORKER_TOKENS, outcome)
    assert attempt.verdict is verdict
    assert (attempt.failure.kind if attempt.failure else None) == kind


def test_a_garbled_201_is_described_without_its_body() -> None:
    body = b'{"data": {"token": "wt_SECRET_in_a_bad_answer", "expires_at": "soon"}}'
    attempt = judge(WORKER_TOKENS, _response(201, body))
    assert attempt.failure is not None
    assert attempt.failure.message == "HTTP 201 body has no 'data.expires_at' date-time"


def test_a_refused_token_is_a_credentials_abort() -> None:
    options = EngineOptions("https://api.example.com/v2", "t0ken", token_source="DEEL_API_TOKEN")
    failure = Failure("http", "Unauthorized", http_status=401)
    abort = fatal_abort(failure, WORKER_TOKENS, options, "https://api.example.com/v2/x")
    assert abort.cause is Cause.CREDENTIALS
    assert abort.message == (
        "the API refused the token (HTTP 401: Unauthorized); check DEEL_API_TOKEN"
        " (it must be an organization token with the admin:worker scope)"
    )
    assert abort.exit_code == 3


@pytest.mark.parametrize(
    "value", ["²", "١٢", "1e3", "-5", "9" * 40, "Mon, 99 Xyz 99999 99:99:99 GMT"]
)
def test_a_garbled_retry_after_is_ignored(value: str) -> None:
    assert parse_retry_after(value) is None


REFUSED = "the proxy refused the tunnel to h:443 (407 Proxy Authentication Required; …)"
UNREACHABLE = "cannot connect to the proxy http://127.0.0.1:1 (Connection refused; …)"


@pytest.mark.parametrize(
    ("failure", "api_seen", "verdict"),
    [
        (ProxyRefused("network", REFUSED), True, Verdict.FATAL),
        (ProxyRefused("network", REFUSED), False, Verdict.FATAL),
        # nothing at the proxy's address before the API ever answered: a wrong setting
        (ProxyUnreachable("network", UNREACHABLE), False, Verdict.FATAL),
        # the API answered through it before: a blip, retried (--give-up-after bounds it)
        (ProxyUnreachable("network", UNREACHABLE), True, Verdict.RETRY),
        # the API unreachable behind the proxy (its 502): like any network failure
        (Failure("network", "the proxy http://p:3128 could not reach the API at h:443"), False, Verdict.RETRY),
    ],
)  # fmt: skip
def test_proxy_failures(failure: Failure, api_seen: bool, verdict: Verdict) -> None:
    assert judge(WORKER_TOKENS, failure, api_seen=api_seen).verdict is verdict
    if verdict is Verdict.FATAL:
        options = EngineOptions("https://api.example.com/v2", "t0ken")
        abort = fatal_abort(failure, WORKER_TOKENS, options, "https://api.example.com/v2/x")
        assert (abort.cause, abort.message, abort.exit_code) == (Cause.PROXY, failure.message, 3)
