"""The worker-tokens job: POST /workers/session for each profile ID."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from batch import Call, InvalidResponse, Request, Response
from jobs._answers import IDEMPOTENCY_HEADER, VERSION_HEADER
from jobs._deel import DeelApi

__all__ = ["WORKER_TOKENS", "WorkerTokens"]


class WorkerTokens(DeelApi):
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
    fields: tuple[str, ...] = ("token", "expires_at")
    secret_fields: frozenset[str] = frozenset({"token"})
    expiry_field: str | None = "expires_at"

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


WORKER_TOKENS = WorkerTokens()
