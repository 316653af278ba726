"""Response bodies of the simulated Deel API: answers, errors, proxy pages, rate limiting,
redirects and the 201s that break their schema or their encoding.

Kept apart from the request handling (`_routes`) so that each fault is easy to read. What
is sent on the wire in a broken way (a reset, a cut chunked body) is in `_respond`.
"""

from __future__ import annotations

import json
import secrets
import uuid
from typing import Final, NamedTuple

from aiohttp import web

__all__ = [
    "CREATE",
    "FAULTS",
    "MALFORMED_VARIANTS",
    "RANDOM_FAULTS",
    "RATE_LIMIT_BODY",
    "REDIRECTS",
    "REVOKE",
    "Endpoint",
    "created",
    "crlf_token",
    "duplicate_keys_created",
    "error_container",
    "gateway_timeout_html",
    "in_progress",
    "malformed_created",
    "malformed_revoked",
    "new_token",
    "rate_limited",
    "redirect",
    "revoked",
    "service_unavailable_html",
    "surrogate_token",
]

#: The 3xx faults: a redirect with a Location header (the API never redirects).
REDIRECTS: Final = ("301", "302", "307")
#: Every fault name a `SimulatorConfig.plan` may hold.
FAULTS: Final = (
    *("500", "503_html", "429", "drop", "stall", "malformed", "401", "403", "404", "400"),
    *REDIRECTS,
    *("mint_then_timeout", "mint_then_reset", "broken_chunked_201"),
    *("token_surrogate", "token_crlf", "duplicate_keys"),
)
#: The faults drawn at random, in the order their probabilities are stacked (new ones go
#: last, so that a seed keeps drawing what it drew before).
RANDOM_FAULTS: Final = (
    *("500", "503_html", "429", "drop", "stall", "malformed"),
    *("mint_then_timeout", "mint_then_reset", "broken_chunked_201"),
)

#: The provider's 429 body: not an ApiErrorContainer, and sent with no rate-limit headers.
RATE_LIMIT_BODY: Final = {
    "error": "Rate limit exceeded",
    "status": 429,
    "message": "Too many requests. Please retry later.",
}
_RATE_LIMIT_TEXT: Final = json.dumps(RATE_LIMIT_BODY)
_JSON: Final = "application/json"
_REFERENCE: Final = "https://developer.deel.com/api/reference/endpoints/worker-session/"


class Endpoint(NamedTuple):
    """What an ApiErrorContainer says of the endpoint that failed."""

    method: str
    docs: str
    source: str


CREATE: Final = Endpoint(
    "POST", "https://developer.deel.com/api/reference/create-worker-access-token",
    "workers.session.create",
)  # fmt: skip
REVOKE: Final = Endpoint(
    "DELETE", _REFERENCE + "delete-worker-access-token", "workers.session.delete"
)

_MESSAGES: Final = {
    400: "Bad request",
    401: "Unauthorized: the bearer token is missing, invalid or revoked",
    403: "Forbidden: the token lacks the admin:worker scope",
    404: "Profile not found",
    429: "Request conflict detected. Try again in sometime",  # an Idempotency-Key in progress
    500: "Internal server error",
}


def _retry_headers(retry_after: float | str | None) -> dict[str, str]:
    if retry_after is None:
        return {}
    # A string is sent as it is: real servers send garbled values too.
    return {"Retry-After": retry_after if isinstance(retry_after, str) else f"{retry_after:g}"}


def error_container(
    status: int,
    url: str,
    message: str | None = None,
    path: str | None = None,
    *,
    endpoint: Endpoint = CREATE,
) -> web.Response:
    """An `ApiErrorContainer` answer; `path` is set only for input validation errors."""
    api_req_id = str(uuid.uuid4())
    error: dict[str, str] = {"message": message or _MESSAGES.get(status, "Operation failed")}
    if path is not None:
        error["path"] = path
    body = {
        "request": {
            "method": endpoint.method,
            "url": url,
            "status": status,
            "api_req_id": api_req_id,
            "docs": endpoint.docs,
            "source": endpoint.source,
            "code": status,
        },
        "errors": [error],
    }
    return web.Response(
        status=status,
        text=json.dumps(body),
        content_type=_JSON,
        headers={"x-request-id": api_req_id},
    )


def in_progress(url: str, retry_after: int) -> web.Response:
    """The 429 for an Idempotency-Key whose first request is still in progress: unlike the
    rate limiter's 429, an ApiErrorContainer, with an x-request-id and a Retry-After."""
    response = error_container(429, url)
    response.headers["Retry-After"] = str(retry_after)
    return response


def rate_limited(retry_after: float | str | None = None) -> web.Response:
    """The provider's 429: a small JSON body and no Retry-After unless configured."""
    return web.Response(
        status=429, text=_RATE_LIMIT_TEXT, content_type=_JSON, headers=_retry_headers(retry_after)
    )


def _nginx_page(status: int, reason: str) -> str:
    title = f"{status} {reason}"
    return (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n"
        "</body>\r\n</html>\r\n"
    )


_PAGE_503: Final = _nginx_page(503, "Service Temporarily Unavailable")
_PAGE_504: Final = _nginx_page(504, "Gateway Time-out")


def service_unavailable_html(retry_after: float | str | None = None) -> web.Response:
    """A proxy's 503 page, as `text/html`."""
    return web.Response(
        status=503, text=_PAGE_503, content_type="text/html", headers=_retry_headers(retry_after)
    )


def gateway_timeout_html() -> web.Response:
    """What a stalled request finally gets, if the client is still waiting: the proxy's 504."""
    return web.Response(status=504, text=_PAGE_504, content_type="text/html")


def redirect(status: int, location: str) -> web.Response:
    """A 3xx with a Location: an API moved, or a captive portal. Clients must not follow it."""
    return web.Response(
        status=status,
        text=json.dumps({"moved_to": location}),
        content_type=_JSON,
        headers={"Location": location},
    )


# ---- answers that succeed, and tokens that are hard to store ----


def new_token() -> str:
    return "wt_" + secrets.token_urlsafe(24)


def surrogate_token() -> str:
    """A token holding a lone surrogate: JSON can escape it (`\\ud800`), UTF-8 cannot hold it."""
    return "wt_\ud800" + secrets.token_urlsafe(18)


def crlf_token() -> str:
    """A token holding CR LF: a CSV or a log line that does not quote it breaks."""
    return "wt_" + secrets.token_urlsafe(9) + "\r\n" + secrets.token_urlsafe(9)


def created(token: str, expires_at: str) -> web.Response:
    """The 201 of `POST /workers/session` (JSON escapes what the token holds)."""
    body = {"data": {"token": token, "expires_at": expires_at}}
    return web.Response(status=201, text=json.dumps(body), content_type=_JSON)


def duplicate_keys_created(token: str, expires_at: str) -> web.Response:
    """A 201 naming `token` twice: the issued one first, a decoy last. A parser where the
    last key wins keeps the decoy, which is no token at all; the answer is ambiguous."""
    decoy = "wt_DUPLICATE" + secrets.token_urlsafe(12)
    text = (
        f'{{"data": {{"token": {json.dumps(token)}, "expires_at": {json.dumps(expires_at)}, '
        f'"token": {json.dumps(decoy)}}}}}'
    )
    return web.Response(status=201, text=text, content_type=_JSON)


def revoked() -> web.Response:
    """The 200 of `DELETE /workers/{worker_id}/session`: an empty object."""
    return web.Response(status=200, text="{}", content_type=_JSON)


def malformed_revoked() -> web.Response:
    """A 200 to DELETE whose body is not the `{}` the schema promises."""
    return web.Response(status=200, text="OK", content_type=_JSON)


#: Names of the broken-201 variants, in the order `malformed_created` rotates through them.
MALFORMED_VARIANTS: Final = (
    "missing_expires_at",
    "expires_at_not_date_time",
    "token_not_string",
    "not_json",
    "data_missing",
)


def malformed_created(index: int, expires_at: str) -> web.Response:
    """A 201 that breaks the response schema; `index` picks the variant (rotating).

    Some variants carry a token-like string (`wt_MALFORMED…`) so that tests can check it
    never reaches a log line.
    """
    variant = MALFORMED_VARIANTS[index % len(MALFORMED_VARIANTS)]
    fake = "wt_MALFORMED" + secrets.token_urlsafe(12)
    body: object
    if variant == "not_json":
        return web.Response(status=201, text="OK", content_type=_JSON)
    if variant == "missing_expires_at":
        body = {"data": {"token": fake}}
    elif variant == "expires_at_not_date_time":
        body = {"data": {"token": fake, "expires_at": "soon"}}
    elif variant == "token_not_string":
        body = {"data": {"token": 12345, "expires_at": expires_at}}
    else:  # data_missing
        body = {"token": fake, "expires_at": expires_at}
    return web.Response(status=201, text=json.dumps(body), content_type=_JSON)
