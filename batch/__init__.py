"""A generic engine for bulk API jobs: read IDs, pace and retry requests, write one record each."""

from __future__ import annotations

from batch._engine import Engine, EngineOptions, Item
from batch._errors import BatchError, ConfigError, InputError
from batch._pacer import AsyncPacer, Pacer
from batch._policy import Backoff, Verdict, backoff_delay, classify_status, parse_retry_after
from batch._stats import Stats
from batch._types import Failure, InvalidResponse, Job, Request, Response, Result

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
