"""The revoke-tokens job: DELETE /workers/{worker_id}/session for each profile ID.

Deel: the DELETE "immediately revokes the active access token for the worker" and answers
``200 {}``; a worker holds one token at a time. The record says when the API answered
(``revoked_at``); a 404 (no such worker, or no active token) is the ID's permanent error.
A success also ends the worker-tokens record of that ID in the results file being revoked
(`ends`): a later ``worker-tokens --resume`` on it issues a new token.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from batch import Call, Job, Request, Response
from jobs._answers import VERSION_HEADER
from jobs._deel import DeelApi
from jobs._worker_tokens import WORKER_TOKENS

__all__ = ["REVOKE_TOKENS", "RevokeTokens"]


class RevokeTokens(DeelApi):
    name = "revoke-tokens"
    summary = "Revoke the active worker access token of each profile ID in INPUT."
    help = """Revoke the active worker access token of each profile ID in INPUT.

\b
INPUT is anything worker-tokens reads, in particular its results file or its
errors file (JSONL or CSV). Revoking from a results file also records each
revocation in it, so that worker-tokens --resume on it issues new tokens for
exactly the revoked IDs. On a terminal it asks before the first call; without
one it needs --yes. A 404 (no such worker, or no active token) is that ID's
error; a run whose first answers are all the same refusal stops with exit 3.

\b
Examples:
  deel-batch revoke-tokens tokens.jsonl -o revoked.jsonl
  deel-batch revoke-tokens tokens.jsonl -o revoked.jsonl --yes       # in a script
  deel-batch revoke-tokens tokens.jsonl --dry-run                    # how many, how long
  deel-batch revoke-tokens offboarded.csv -o revoked.jsonl --resume  # finish a stopped run
"""
    fields: tuple[str, ...] = ("revoked_at",)
    secret_fields: frozenset[str] = frozenset()
    expiry_field: str | None = None
    ends: Job | None = WORKER_TOKENS
    # A 404 (no such worker, or no active token) says the worker holds no token the results
    # file could still show as current: a DELETE done, whose answer a crash lost, is sent
    # again by --resume and meets one.
    also_ends_on: frozenset[int] = frozenset({404})
    confirmation: str | None = "Revoke the active worker token of {ids} at {api}?"

    def build_request(self, key: str, call: Call) -> Request:
        # No body, no Idempotency-Key: Deel documents neither for this DELETE (a repeat is
        # harmless: the token is gone, a 404 ends the record all the same). The API version
        # is pinned as for every request. The ID is a UUID (parse_key), quoted all the same:
        # a path segment never holds what it is given.
        worker = urllib.parse.quote(key, safe="")
        headers = {"Authorization": f"Bearer {call.token}", "Accept": "application/json"}
        if call.api_version:
            headers[VERSION_HEADER] = call.api_version
        return Request("DELETE", f"/workers/{worker}/session", None, headers)

    def parse_success(self, response: Response) -> dict[str, Any]:
        # A 2xx is the API's word that the token is revoked; its body ({}) holds nothing the
        # record needs. A garbled one is not retried: the retry would find no active token
        # (a 404) and record an error for a token that is gone.
        when = response.received_at.isoformat(timespec="milliseconds")
        return {"revoked_at": when.replace("+00:00", "Z")}


REVOKE_TOKENS = RevokeTokens()
