"""API jobs for the batch engine, and the simulated Deel API they are tested against.

``__all__`` is the one list of what ``jobs`` exports. The library and the simulator bring
the engine and aiohttp, so their names are imported on first use (`__getattr__`): the
command line's --dry-run stays small (see batch/engine/__init__.py). A name of the library
needs nothing more here than its line in ``__all__``.
"""

# ruff: noqa: F405 - the names of __all__ come from the star import below, for a type checker

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from batch import Logger, Stats
from jobs._revoke_tokens import REVOKE_TOKENS, RevokeTokens
from jobs._worker_tokens import WORKER_TOKENS, WorkerTokens

if TYPE_CHECKING:  # what a type checker sees of the names imported on first use
    from jobs._library import *  # noqa: F403 - the library's own __all__, every name below
    from jobs._simulator._cli import simulated_api

__all__ = [
    "REVOKE_TOKENS",
    "WORKER_TOKENS",
    "AsyncRunOptions",
    "Failed",
    "Failure",
    "Issued",
    "Logger",
    "Revocation",
    "RevocationsAborted",
    "RevocationsInterrupted",
    "RevokeTokens",
    "Revoked",
    "RunAborted",
    "RunInterrupted",
    "RunOptions",
    "Stats",
    "WorkerToken",
    "WorkerTokenResults",
    "WorkerTokens",
    "create_worker_tokens",
    "create_worker_tokens_sync",
    "open_worker_tokens",
    "organization_quota",
    "revoke_worker_tokens",
    "revoke_worker_tokens_sync",
    "simulated_api",
]

#: The module of each name of ``__all__`` imported on first use that is not the library's.
_ELSEWHERE = {"simulated_api": "jobs._simulator._cli"}


def __getattr__(name: str) -> object:
    if name in __all__:
        module = importlib.import_module(_ELSEWHERE.get(name, "jobs._library"))
        return getattr(module, name)
    raise AttributeError(f"module 'jobs' has no attribute {name!r}")
