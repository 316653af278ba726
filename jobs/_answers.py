"""What a Deel answer says besides its body: the version that served it, a replay, a 429
about a key still in progress, a refused version. Every Deel job reads answers this way.

From Deel's pages:
- "API versioning": a request may carry ``X-Version: YYYY-MM-DD`` (the current stable
  version is 2026-01-01); "sending an X-Version value that does not match any published
  version for the endpoint returns a 400 error"; "response headers communicate the
  lifecycle state of the version you called". The stored copy of the page stops before
  it names those headers: the version that answered is read from ``X-Version`` and its
  state from ``X-Version-Status`` (what the simulated API sends, `STATUS_HEADERS`), and
  deprecation from the standard ``Deprecation`` (RFC 9745) and ``Sunset`` (RFC 8594)
  headers, which any of them may carry.
- "Idempotency": a repeat of a key whose 2xx answer is cached "returns the cached
  response", with an ``x-original-request-id`` header; "if you send multiple requests
  with the same idempotency key while a request is still in progress, you'll receive a
  429 error" (message "Request conflict detected. Try again in sometime", a
  ``Retry-After`` header). That 429 is an ApiErrorContainer; the rate limit's 429 is the
  small ``{"error", "status", "message"}`` body, never one.
"""

from __future__ import annotations

import json
from typing import Final

from batch import Answer, ApiVersion, Concern, Response, end_of_life

__all__ = [
    "IDEMPOTENCY_HEADER",
    "ORIGINAL_REQUEST_HEADER",
    "STATUS_HEADERS",
    "VERSION_HEADER",
    "read_answer",
]

VERSION_HEADER: Final = "X-Version"
#: where an answer may say the lifecycle state of its version ("stable", "deprecated")
STATUS_HEADERS: Final = ("X-Version-Status",)
IDEMPOTENCY_HEADER: Final = "Idempotency-Key"
ORIGINAL_REQUEST_HEADER: Final = "x-original-request-id"
_BAD_REQUEST, _TOO_MANY = 400, 429


def read_answer(response: Response) -> Answer:
    """What ``response`` says besides its body (see the module's text)."""
    return Answer(
        concern=_concern(response),
        replayed=ORIGINAL_REQUEST_HEADER in response.headers,
        version=_version(response),
    )


def _version(response: Response) -> ApiVersion | None:
    headers = response.headers
    name = headers.get(VERSION_HEADER, "").strip()
    state = next((headers[h].strip().lower() for h in STATUS_HEADERS if h in headers), "")
    since, sunset = end_of_life(headers)
    if not (name or state or since or sunset):
        return None
    return ApiVersion(name[:64], state[:32], since, sunset)


def _concern(response: Response) -> Concern:
    if response.status not in (_BAD_REQUEST, _TOO_MANY):
        return Concern.KEY
    body = _json(response.body)
    container = isinstance(body.get("request"), dict) and isinstance(body.get("errors"), list)
    message = _first_message(body).lower()
    if response.status == _TOO_MANY and (container or "conflict" in message):
        return Concern.IN_PROGRESS
    if response.status == _BAD_REQUEST and VERSION_HEADER.lower() in message:
        return Concern.API_VERSION
    return Concern.KEY


def _json(raw: bytes) -> dict[str, object]:
    try:
        body = json.loads(raw)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _first_message(body: dict[str, object]) -> str:
    errors = body.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        message = errors[0].get("message")
        if isinstance(message, str):
            return message
    message = body.get("message")
    return message if isinstance(message, str) else ""
