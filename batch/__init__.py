"""A generic engine for bulk API jobs: read IDs, pace and retry requests, write one record each.

Layers (each a subpackage; a test keeps the direction): ``batch.engine`` paces,
sends and judges requests and hands out results; ``batch.input`` reads records
and applies the input rules; ``batch.output`` writes and reads results files;
``batch.cli`` is the command line. This module exports what a job author (a
module in jobs/) needs, and nothing of the internals.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from batch._distribution import user_agent
from batch.engine import (
    Abort,
    Answer,
    ApiVersion,
    Backoff,
    BatchError,
    Call,
    Cause,
    Concern,
    ConfigError,
    EngineOptions,
    ErrorKind,
    Failure,
    InputError,
    InvalidResponse,
    Item,
    Job,
    Logger,
    QuietLogger,
    Request,
    Response,
    Result,
    Results,
    SharedQuota,
    Stats,
    StdlibLogger,
    as_logger,
    end_of_life,
    is_loopback,
    parse_quota_store,
)
from batch.input import KeyFilter

if TYPE_CHECKING:
    from batch.engine import Engine

__all__ = [
    "Abort",
    "Answer",
    "ApiVersion",
    "Backoff",
    "BatchError",
    "Call",
    "Cause",
    "Concern",
    "ConfigError",
    "Engine",
    "EngineOptions",
    "ErrorKind",
    "Failure",
    "InputError",
    "InvalidResponse",
    "Item",
    "Job",
    "KeyFilter",
    "Logger",
    "QuietLogger",
    "Request",
    "Response",
    "Result",
    "Results",
    "SharedQuota",
    "Stats",
    "StdlibLogger",
    "as_logger",
    "end_of_life",
    "is_loopback",
    "parse_quota_store",
    "user_agent",
]


def __getattr__(name: str) -> type[Engine]:
    if name == "Engine":  # imported on first use: see batch.engine
        engine: type[Engine] = importlib.import_module("batch.engine").Engine
        return engine
    raise AttributeError(f"module 'batch' has no attribute {name!r}")
