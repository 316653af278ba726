"""What every Deel API job shares: the shape of its IDs, its credentials, its errors, the
API version it asks for and what an answer says besides its body.

`DeelApi` holds it once; each job (`jobs._worker_tokens`, `jobs._revoke_tokens`) adds its
name, its request and what a success holds.
"""

from __future__ import annotations

import json
import re
from contextlib import AbstractAsyncContextManager

from batch import Answer, Failure, Job, Response
from jobs._answers import read_answer

__all__ = ["EXCERPT", "UUID", "DeelApi"]

#: A worker or profile ID: a UUID, 8-4-4-4-12 hex digits, either case.
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)

_TAGS = re.compile(r"<(script|style)\b.*?</\1>|<[^>]*>", re.IGNORECASE | re.DOTALL)
_SPACE = re.compile(r"\s+")
#: how much of a page that is not the API's (a proxy's HTML) an error message quotes
EXCERPT = 120


class DeelApi:
    """The Deel API as every job sees it: where it is, what token it takes, the ID rule,
    the documented rate, its error format."""

    key_name = "profile_id"
    token_env = "DEEL_API_TOKEN"  # noqa: S105 - a variable name, not a secret
    base_url_env = "DEEL_API_BASE_URL"
    default_base_url = "https://api.letsdeel.com/rest/v2"
    auth_hint = " (it must be an organization token with the admin:worker scope)"
    request_id_field = "api_req_id"
    # "5 requests per second per organization" (the provider's docs).
    documented_rate: float | None = 5.0
    # The version every job is written against: Deel's stable version (its "API versioning"
    # page: deprecation expected 1 Jan 2027, then one more year until the sunset). Every
    # request asks for it (X-Version) unless --api-version / DEEL_API_VERSION says another.
    api_version = "2026-01-01"
    api_version_env = "DEEL_API_VERSION"
    #: a job of this API ends no other job's records and asks nothing, unless it says so
    ends: Job | None = None
    also_ends_on: frozenset[int] = frozenset()
    confirmation: str | None = None

    def parse_key(self, raw: str) -> str:
        value = raw.strip()
        if not value:
            raise ValueError(f"no {self.key_name} value")
        if not UUID.fullmatch(value):
            shown = value if len(value) <= 60 else value[:57] + "..."
            raise ValueError(f"{shown!r} is not a UUID (expected 8-4-4-4-12 hex digits)")
        return value.lower()

    def compact_key(self, key: str) -> int:
        # A 128-bit int is 44 bytes against 85 for the 36-character string: about
        # 70 bytes per distinct ID in the de-duplication set instead of 110.
        return int(key.replace("-", ""), 16)

    def speaks_api(self, response: Response) -> bool:
        # The ApiErrorContainer ({"request": {...}, "errors": [...]}) or the 429 body
        # ({"error": "...", "status": 429, ...}); a web server's "Not Found" is neither.
        try:
            body = json.loads(response.body)
        except ValueError:
            return False
        if not isinstance(body, dict):
            return False
        return (
            isinstance(body.get("request"), dict)
            or isinstance(body.get("errors"), list)
            or (isinstance(body.get("error"), str) and "status" in body)
        )

    def describe_error(self, response: Response) -> Failure:
        status = response.status
        req_id = response.headers.get("x-request-id")
        try:
            body = json.loads(response.body)
        except ValueError:
            body = None
        if isinstance(body, dict):
            request = body.get("request")
            if isinstance(request, dict) and isinstance(request.get("api_req_id"), str):
                req_id = request["api_req_id"]
            errors = body.get("errors")
            message = None
            if isinstance(errors, list) and errors and isinstance(errors[0], dict):
                message = errors[0].get("message")
            message = message or body.get("message") or body.get("error")
            if isinstance(message, str) and message:
                return Failure("http", _one_line(message), http_status=status, request_id=req_id)
        kind = response.headers.get("Content-Type", "no content type").split(";")[0]
        text = _one_line(_TAGS.sub(" ", response.body.decode("utf-8", "replace")))
        excerpt = text[:EXCERPT] + ("..." if len(text) > EXCERPT else "")
        what = "an answer with no error message" if body is not None else "non-JSON answer"
        message = f"{what} ({kind}): {excerpt!r}" if excerpt else f"empty answer ({kind})"
        return Failure("http", message, http_status=status, request_id=req_id)

    def read_answer(self, response: Response) -> Answer:
        # The version that answered, a replay, a 429 about a key in progress, a refused
        # version: the same headers and bodies for every endpoint (jobs._answers).
        return read_answer(response)

    def simulated_api(self) -> AbstractAsyncContextManager[str]:
        """For --simulate: the simulated Deel API (both endpoints), served on loopback for
        the length of a run; it yields its base URL. Imported here, when asked for: it
        brings aiohttp's server, which no other run needs."""
        from jobs._simulator._cli import simulated_api  # noqa: PLC0415 - see the docstring

        return simulated_api()


def _one_line(text: str) -> str:
    return _SPACE.sub(" ", text).strip()[:500]
