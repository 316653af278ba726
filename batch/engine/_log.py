"""The logger the engine writes to: any structlog-style bound logger, or one that drops all."""

from __future__ import annotations

from typing import Any, Protocol

__all__ = ["Logger", "QuietLogger"]


class Logger(Protocol):
    """What the engine calls: ``log.info("event_name", key=value, ...)``.

    A ``structlog`` bound logger (``structlog.get_logger()``) is one.
    """

    def debug(self, event: str, /, **fields: Any) -> Any: ...
    def info(self, event: str, /, **fields: Any) -> Any: ...
    def warning(self, event: str, /, **fields: Any) -> Any: ...
    def error(self, event: str, /, **fields: Any) -> Any: ...


class QuietLogger:
    """A logger that drops every event: for callers that must not print (a library, a dry run)."""

    def debug(self, event: str, /, **fields: Any) -> None:
        return None

    info = warning = error = debug
