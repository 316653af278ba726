"""API jobs for the batch engine, and the simulated Deel API they are tested against."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from batch import Logger, Stats
from jobs._worker_tokens import WORKER_TOKENS, WorkerTokens

if TYPE_CHECKING:
    from jobs._library import (
        Failed,
        Failure,
        Issued,
        RunAborted,
        RunInterrupted,
        WorkerToken,
        WorkerTokenResults,
        create_worker_tokens,
        create_worker_tokens_sync,
        open_worker_tokens,
        organization_quota,
    )
    from jobs._simulator._cli import simulated_api

__all__ = [
    "WORKER_TOKENS",
    "Failed",
    "Failure",
    "Issued",
    "Logger",
    "RunAborted",
    "RunInterrupted",
    "Stats",
    "WorkerToken",
    "WorkerTokenResults",
    "WorkerTokens",
    "create_worker_tokens",
    "create_worker_tokens_sync",
    "open_worker_tokens",
    "organization_quota",
    "simulated_api",
]

#: The library brings the engine and aiohttp; imported on first use so that the
#: command line's --dry-run stays small (see batch/engine/__init__.py).
_LAZY = {
    "Failed": "jobs._library",
    "Failure": "jobs._library",
    "Issued": "jobs._library",
    "RunAborted": "jobs._library",
    "RunInterrupted": "jobs._library",
    "WorkerToken": "jobs._library",
    "WorkerTokenResults": "jobs._library",
    "create_worker_tokens": "jobs._library",
    "create_worker_tokens_sync": "jobs._library",
    "open_worker_tokens": "jobs._library",
    "organization_quota": "jobs._library",
    "simulated_api": "jobs._simulator._cli",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'jobs' has no attribute {name!r}")
