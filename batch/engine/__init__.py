"""The engine: pace, send, retry and judge one request per item, and hand out results.

It knows nothing of files, terminals or command lines; the input, output and
cli layers build on it, never the other way round.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from batch.engine._controller import ceiling_for
from batch.engine._errors import (
    BatchError,
    Busy,
    ConfigError,
    HeldByAnotherRun,
    InputError,
    reason_of,
)
from batch.engine._lifecycle import end_of_life, parse_deprecation, parse_sunset
from batch.engine._lines import count_lines
from batch.engine._log import Logger, QuietLogger, StdlibLogger, as_logger
from batch.engine._options import (
    EngineOptions,
    api_version_problem,
    check_base_url,
    token_problem,
)
from batch.engine._pacer import window_for_rate
from batch.engine._policy import Backoff
from batch.engine._proxy import ProxyChoice, choose_proxy, parse_proxy, proxy_secrets
from batch.engine._quota import SharedQuota
from batch.engine._quota_store import parse_quota_store
from batch.engine._results import Abort, Cause, Results
from batch.engine._spreadsheet_formulas import FORMULA_PREFIXES, neutralise, original
from batch.engine._stats import Stats
from batch.engine._types import (
    Answer,
    ApiVersion,
    Call,
    Concern,
    ErrorKind,
    Failure,
    InvalidResponse,
    Item,
    Job,
    Request,
    Response,
    Result,
    error_fields,
)
from batch.engine._urls import is_loopback, redact_url

if TYPE_CHECKING:
    from batch.engine._engine import Engine

__all__ = [
    "FORMULA_PREFIXES",
    "Abort",
    "Answer",
    "ApiVersion",
    "Backoff",
    "BatchError",
    "Busy",
    "Call",
    "Cause",
    "Concern",
    "ConfigError",
    "Engine",
    "EngineOptions",
    "ErrorKind",
    "Failure",
    "HeldByAnotherRun",
    "InputError",
    "InvalidResponse",
    "Item",
    "Job",
    "Logger",
    "ProxyChoice",
    "QuietLogger",
    "Request",
    "Response",
    "Result",
    "Results",
    "SharedQuota",
    "Stats",
    "StdlibLogger",
    "api_version_problem",
    "as_logger",
    "ceiling_for",
    "check_base_url",
    "choose_proxy",
    "count_lines",
    "end_of_life",
    "error_fields",
    "is_loopback",
    "neutralise",
    "original",
    "parse_deprecation",
    "parse_proxy",
    "parse_quota_store",
    "parse_sunset",
    "proxy_secrets",
    "reason_of",
    "redact_url",
    "token_problem",
    "window_for_rate",
]


def __getattr__(name: str) -> type[Engine]:
    # Imported on first use: the pool brings aiohttp (about 23 MiB and 0.1 s), which
    # reading and validating a file (--dry-run) does not need.
    if name == "Engine":
        engine: type[Engine] = importlib.import_module("batch.engine._engine").Engine
        return engine
    raise AttributeError(f"module 'batch.engine' has no attribute {name!r}")
