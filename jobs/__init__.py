"""API jobs for the batch engine, and the simulated Deel API they are tested against."""

from __future__ import annotations

from jobs._library import (
    RunAborted,
    WorkerToken,
    WorkerTokenResults,
    create_worker_tokens_sync,
    open_worker_tokens,
)
from jobs._worker_tokens import WORKER_TOKENS, WorkerTokens

__all__ = [
    "WORKER_TOKENS",
    "RunAborted",
    "WorkerToken",
    "WorkerTokenResults",
    "WorkerTokens",
    "create_worker_tokens_sync",
    "open_worker_tokens",
]
