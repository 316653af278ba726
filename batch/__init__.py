"""A generic engine for bulk API jobs: read IDs, pace and retry requests, write one record each."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from batch._errors import BatchError, ConfigError, InputError
from batch._pacer import AsyncPacer, Pacer
from batch._policy import Backoff, Verdict, backoff_delay, classify_status, parse_retry_after
from batch._source import KeyFilter
from batch._stats import Stats
from batch._types import Failure, InvalidResponse, Item, Job, Request, Response, Result

if TYPE_CHECKING:
    from batch._engine import Engine, EngineOptions

__all__ = [
    "AsyncPacer",
    "Backoff",
    "BatchError",
    "ConfigError",
    "Engine",
    "EngineOptions",
    "Failure",
    "InputError",
    "InvalidResponse",
    "Item",
    "Job",
    "KeyFilter",
    "Pacer",
    "Request",
    "Response",
    "Result",
    "Stats",
    "Verdict",
    "backoff_delay",
    "classify_status",
    "parse_retry_after",
]

#: Imported on first use: the engine brings aiohttp (about 23 MiB and 0.1 s), which
#: reading and validating a file (--dry-run) does not need.
_LAZY = {"Engine": "batch._engine", "EngineOptions": "batch._engine"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'batch' has no attribute {name!r}")
