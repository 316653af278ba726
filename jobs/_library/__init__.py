"""The library: the jobs for a script, without the command line (see `_api`).

Its parts: `_api` (the three worker-tokens entry points), `_revoke` (the two revoke-tokens
ones), `_run` (one run, as each of them runs it), `_options` (the options they share,
checked), `_feed` (a script's IDs as the engine's items),
`_stream` (the async generator form, safe to ``break``), `_interrupt` (Ctrl-C for the sync
form), `_types` (what it hands out) and `_quota` (the organization's quota for a script's
own calls).
"""

from __future__ import annotations

from jobs._library._api import (
    create_worker_tokens,
    create_worker_tokens_sync,
    open_worker_tokens,
)
from jobs._library._options import AsyncRunOptions, RunOptions
from jobs._library._quota import organization_quota
from jobs._library._revoke import revoke_worker_tokens, revoke_worker_tokens_sync
from jobs._library._types import (
    Failed,
    Failure,
    Issued,
    Revocation,
    RevocationsAborted,
    RevocationsInterrupted,
    Revoked,
    RunAborted,
    RunInterrupted,
    WorkerToken,
    WorkerTokenResults,
)

__all__ = [
    "AsyncRunOptions",
    "Failed",
    "Failure",
    "Issued",
    "Revocation",
    "RevocationsAborted",
    "RevocationsInterrupted",
    "Revoked",
    "RunAborted",
    "RunInterrupted",
    "RunOptions",
    "WorkerToken",
    "WorkerTokenResults",
    "create_worker_tokens",
    "create_worker_tokens_sync",
    "open_worker_tokens",
    "organization_quota",
    "revoke_worker_tokens",
    "revoke_worker_tokens_sync",
]
