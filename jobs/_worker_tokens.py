"""The worker-tokens job: POST /workers/session for each profile ID."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from batch import Answer, Call, Failure, InvalidResponse, Request, Response
from jobs._answers import IDEMPOTENCY_HEADER, VERSION_HEADER, read_answer
from jobs._deel import UUID

__all__ = ["WORKER_TOKENS", "WorkerTokens"]

_TAGS = re.compile(r"<(script|style)\b.*?</\1>|<[^>]*>", re.IGNORECASE | re.DOTALL)
_SPACE = re.compile(r"\s+")
EXCERPT = 120


class WorkerTokens:
    name = "worker-tokens"
    summary = "Create a worker access token for each profile ID in INPUT."
    help = """Create a worker access token for each profile ID in INPUT.

\b
INPUT is a .csv, .tsv, .jsonl/.ndjson or .json file (each optionally .gz), an
.xlsx/.xlsm/.ods workbook, or - for standard input.
The organization token comes from DEEL_API_TOKEN or --token-file.

\b
Examples:
  deel-batch worker-tokens --simulate sample_inputs/profiles.csv
  DEEL_API_TOKEN=... deel-batch worker-tokens profiles.csv -o tokens.jsonl --errors failed.csv
  deel-batch worker-tokens profiles.csv -o tokens.jsonl --resume      # finish an interrupted run
  deel-batch worker-tokens failed.csv -o tokens.jsonl --resume        # retry only the failures
"""
    key_name = "profile_id"
    fields: tuple[str, ...] = ("token", "expires_at")
    secret_fields: frozenset[str] = frozenset({"token"})
    expiry_field: str | None = "expires_at"
    token_env = "DEEL_API_TOKEN"  # noqa: S105 - a variable name, not a secret
    base_url_env = "DEEL_API_BASE_URL"
    default_base_url = "https://api.letsdeel.com/rest/v2"
    auth_hint = " (it must be an organization token with the admin:worker scope)"
    request_id_field = "api_req_id"
    # "5 requests per second per organization" (the provider's docs).
    documented_rate: float | None = 5.0
    # The version this job is written against: Deel's stable version (its "API versioning"
    # page: deprecation expected 1 Jan 2027, then one more year until the sunset).
    api_version = "2026-01-01"
    api_version_env = "DEEL_API_VERSION"

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

    def build_request(self, key: str, call: Call) -> Request:
        headers = {
            "Authorization": f"Bearer {call.token}",
            "Accept": "application/json",
            # One key per ID per run, the same on every retry: a retry after a lost answer
            # (a timeout, a reset, a cut body) gets the token already minted, not a new one
            # that would end it.
            IDEMPOTENCY_HEADER: call.idempotency_key,
        }
        if call.api_version:
            headers[VERSION_HEADER] = call.api_version
        return Request("POST", "/workers/session", {"data": {"profile_id": key}}, headers)

    def read_answer(self, response: Response) -> Answer:
        return read_answer(response)

    def parse_success(self, response: Response) -> dict[str, Any]:
        # Never quote the body in these messages: a garbled 201 may still hold a token.
        try:
            body = json.loads(response.body)
        except ValueError:
            raise InvalidResponse(f"HTTP {response.status} body is not JSON") from None
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict):
            raise InvalidResponse(f"HTTP {response.status} body has no 'data' object")
        token = data.get("token")
        if not isinstance(token, str) or not token:
            raise InvalidResponse(f"HTTP {response.status} body has no 'data.token' string")
        expires_at = data.get("expires_at")
        if not isinstance(expires_at, str) or not _is_datetime(expires_at):
            raise InvalidResponse(f"HTTP {response.status} body has no 'data.expires_at' date-time")
        return {"token": token, "expires_at": expires_at}

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
        message = f"non-JSON answer ({kind}): {excerpt!r}" if excerpt else f"empty answer ({kind})"
        return Failure("http", message, http_status=status, request_id=req_id)


def _is_datetime(value: str) -> bool:
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return "T" in value or " " in value


def _one_line(text: str) -> str:
    return _SPACE.sub(" ", text).strip()[:500]


WORKER_TOKENS = WorkerTokens()
