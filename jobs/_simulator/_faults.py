"""Response bodies of the simulated Deel API: errors, proxy pages, rate limiting, broken 201s.

Kept apart from the server loop in `jobs._simulator` so that each fault is easy to read
and so that the request handler stays short.
"""

from __future__ import annotations

import json
import secrets
import uuid
from typing import Final

from aiohttp import web

__all__ = [
    "FAULTS",
    "MALFORMED_VARIANTS",
    "RANDOM_FAULTS",
    "RATE_LIMIT_BODY",
    "error_container",
    "gateway_timeout_html",
    "malformed_created",
    "rate_limited",
    "service_unavailable_html",
]

#: Every fault name a `SimulatorConfig.plan` may hold.
FAULTS: Final = ("500", "503_html", "429", "drop", "stall", "malformed", "401", "403", "404", "400")
#: The faults drawn at random, in the order their probabilities are stacked.
RANDOM_FAULTS: Final = ("500", "503_html", "429", "drop", "stall", "malformed")

#: The provider's 429 body: not an ApiErrorContainer, and sent with no rate-limit headers.
RATE_LIMIT_BODY: Final = {
    "error": "Rate limit exceeded",
    "status": 429,
    "message": "Too many requests. Please retry later.",
}
_RATE_LIMIT_TEXT: Final = json.dumps(RATE_LIMIT_BODY)

_DOCS: Final = "https://developer.deel.com/api/reference/create-worker-access-token"
_SOURCE: Final = "workers.session.create"
_JSON: Final = "application/json"

_MESSAGES: Final = {
    400: "Bad request",
    401: "Unauthorized: the bearer token is missing, invalid or revoked",
    403: "Forbidden: the token lacks the admin:worker scope",
    404: "Profile not found",
    500: "Internal server error",
}


def _retry_headers(retry_after: float | str | None) -> dict[str, str]:
    if retry_after is None:
        return {}
    # A string is sent as it is: real servers send garbled values too.
    return {"Retry-After": retry_after if isinstance(retry_after, str) else f"{retry_after:g}"}


def error_container(
    status: int, url: str, message: str | None = None, path: str | None = None
) -> web.Response:
    """An `ApiErrorContainer` answer; `path` is set only for input validation errors."""
    api_req_id = str(uuid.uuid4())
    error: dict[str, str] = {"message": message or _MESSAGES.get(status, "Operation failed")}
    if path is not None:
        error["path"] = path
    body = {
        "request": {
            "method": "POST",
            "url": url,
            "status": status,
            "api_req_id": api_req_id,
            "docs": _DOCS,
            "source": _SOURCE,
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
