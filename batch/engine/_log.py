"""The logger the engine writes to: a structlog-style logger, a stdlib one, or one that drops all."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Protocol

__all__ = ["Logger", "QuietLogger", "StdlibLogger", "as_logger"]

_LEVELS = ("debug", "info", "warning", "error")


class Logger(Protocol):
    """What the engine calls: ``log.info("event_name", key=value, ...)``.

    A ``structlog`` bound logger (``structlog.get_logger()``) is one; a standard
    library `logging.Logger` becomes one through `StdlibLogger` (see `as_logger`).
    """

    def debug(self, event: str, /, **fields: object) -> object: ...
    def info(self, event: str, /, **fields: object) -> object: ...
    def warning(self, event: str, /, **fields: object) -> object: ...
    def error(self, event: str, /, **fields: object) -> object: ...


class QuietLogger:
    """A logger that drops every event: for callers that must not print (a library, a dry run)."""

    def debug(self, event: str, /, **fields: object) -> None:
        return None

    info = warning = error = debug


class StdlibLogger:
    """The engine's events on a standard library logger, at the same levels.

    The message is the event and its fields in logfmt style (``retrying key=… attempt=1
    kind=http http_status=500 message='…'``); the record also carries them as ``extra``:
    ``record.event`` (the name) and ``record.fields`` (a dict), for JSON formatters.
    (The fields cannot be attributes of their own: ``message`` and others are taken. A
    `logging.LoggerAdapter` before Python 3.13 replaces ``extra`` with its own: the message
    text still carries every field.)
    """

    # LoggerAdapter is generic in what it wraps (typeshed); any logger or adapter will do.
    def __init__(self, logger: logging.Logger | logging.LoggerAdapter[Any]) -> None:
        self.logger = logger

    def _log(self, level: int, event: str, fields: Mapping[str, object]) -> None:
        if self.logger.isEnabledFor(level):
            text = " ".join([event, *(f"{k}={_value(v)}" for k, v in fields.items())])
            extra = {"event": event, "fields": dict(fields)}
            # stacklevel: the record names the engine's line that logged, not this one
            self.logger.log(level, "%s", text, extra=extra, stacklevel=3)

    def debug(self, event: str, /, **fields: object) -> None:
        self._log(logging.DEBUG, event, fields)

    def info(self, event: str, /, **fields: object) -> None:
        self._log(logging.INFO, event, fields)

    def warning(self, event: str, /, **fields: object) -> None:
        self._log(logging.WARNING, event, fields)

    def error(self, event: str, /, **fields: object) -> None:
        self._log(logging.ERROR, event, fields)


def as_logger(logger: object) -> Logger:
    """What the engine can write to, from what a caller passed: None → `QuietLogger`, a
    `logging.Logger` or `logging.LoggerAdapter` → `StdlibLogger`, a structlog-style logger as
    it is. TypeError for anything else (it would fail at the first event, mid-run)."""
    if logger is None:
        return QuietLogger()
    if isinstance(logger, logging.Logger | logging.LoggerAdapter):
        return StdlibLogger(logger)
    if all(callable(getattr(logger, level, None)) for level in _LEVELS):
        return logger  # type: ignore[return-value]  # duck-typed: structlog leaves them untyped
    raise TypeError(
        "logger must be a logging.Logger, a structlog-style logger "
        f"(debug/info/warning/error methods) or None, not {type(logger).__name__}"
    )


def _value(value: object) -> str:
    if isinstance(value, str) and (not value or any(c in value for c in " \"'=\n")):
        return repr(value)
    return str(value)
