"""The worker-tokens job: POST /workers/session for each profile ID."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from batch import Call, Failure, InvalidResponse, Request, Response
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
        return Request(
            "POST",
            "/workers/session",
            {"data": {"profile_id": key}},
            {"Authorization": f"Bearer {call.token}", "Accept": "application/json"},
        )

    def parse_success(self, response: Response) -> dict[str, Any]:
        # Never quote the body in these messages: a garbled 201 may still hold a token.
        try:
            body = json.loads(response.body, object_pairs_hook=_no_repeated_keys)
        except _RepeatedKey as exc:
            # {"token": A, "token": B}: which one did the API mean? A parser where the last
            # wins would keep a decoy; neither is kept.
            raise InvalidResponse(
                f"HTTP {response.status} body names {exc.key!r} twice: an ambiguous answer "
                "is not kept"
            ) from None
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


class _RepeatedKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key if len(key) <= 40 else key[:37] + "..."


def _no_repeated_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object as a dict, or `_RepeatedKey` when it names a key twice."""
    found = dict(pairs)
    if len(found) != len(pairs):
        seen: set[str] = set()
        for key, _value in pairs:
            if key in seen:
                raise _RepeatedKey(key)
            seen.add(key)
    return found


def _is_datetime(value: str) -> bool:
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return "T" in value or " " in value


def _one_line(text: str) -> str:
    return _SPACE.sub(" ", text).strip()[:500]


WORKER_TOKENS = WorkerTokens()
