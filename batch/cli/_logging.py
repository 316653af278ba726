"""Logging set-up for the command line (the library never calls this) and secret redaction."""

from __future__ import annotations

import logging
import os
import sys
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO, cast

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from batch._distribution import distribution
from batch.cli._console import ConsoleFilter, PeopleRenderer, TerminalEcho, quiet_filter
from batch.cli._screen import terminal_width
from batch.cli._stderr import CurrentStderr
from batch.cli._streams import Droppable
from batch.engine import reason_of

__all__ = ["REDACTED", "LogSetup", "Redactor", "configure_logging"]

REDACTED = "[redacted]"
#: Keys whose values are never logged, whatever they hold.
SECRET_KEYS = frozenset({"token", "authorization", "password", "secret", "api_key", "headers"})
_PLAIN = frozenset({int, float, bool, type(None)})
LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


class Redactor:
    """A structlog processor that removes known secrets from every value of every event.

    It holds the API token for the whole run and the secrets of the most recent
    results (the engine never puts a result's fields in an event, so only a recent
    response could leak one; the bound keeps the cost per log line constant however
    long the run).
    """

    def __init__(self, recent: int = 1024) -> None:
        self._permanent: list[str] = []
        self._recent: deque[str] = deque(maxlen=recent)

    def add(self, secret: str, *, permanent: bool = False) -> None:
        if len(secret) < 4:  # too short to search for without mangling ordinary text
            return
        (self._permanent.append if permanent else self._recent.append)(secret)

    def scrub(self, text: str) -> str:
        for secret in self._permanent:
            if secret in text:
                text = text.replace(secret, REDACTED)
        for secret in self._recent:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text

    def _clean(self, value: object) -> object:
        if isinstance(value, str):
            return self.scrub(value)
        if isinstance(value, dict):
            return {
                k: (REDACTED if str(k).lower() in SECRET_KEYS else self._clean(v))
                for k, v in value.items()
            }
        if isinstance(value, list | tuple):
            # numbers hold no secret: a list of line numbers is passed over at C speed
            return [v if type(v) in _PLAIN else self._clean(v) for v in value]
        if isinstance(value, int | float | bool) or value is None:
            return value
        return self.scrub(repr(value))

    def __call__(self, _logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
        for key, value in list(event_dict.items()):
            if key.lower() in SECRET_KEYS:
                event_dict[key] = REDACTED
            else:
                event_dict[key] = self._clean(value)
        return event_dict


@dataclass(frozen=True, slots=True)
class LogSetup:
    """How the command line logs: --log-format, --log-level, --log-file and --quiet; in
    console mode the errors file is named where failed records stop being shown."""

    fmt: str = "auto"
    level: str = "info"
    log_file: str | None = None
    quiet: bool = False
    errors_file: str | None = None


def configure_logging(setup: LogSetup, redactor: Redactor) -> tuple[TextIO, bool]:
    """Configure structlog for the CLI. Returns the log stream and whether it is a console one.

    Console mode reads as sentences for people (`batch.cli._console`); JSON mode keeps
    every event and field. --quiet: errors and the summary only, in both.
    """
    fmt, level, log_file, quiet = setup.fmt, setup.level, setup.log_file, setup.quiet
    if log_file:
        follow = 0 if os.path.islink(log_file) else os.O_NOFOLLOW  # see open_locked
        fd = os.open(
            log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC | follow, 0o600
        )
        raw = os.fdopen(fd, "a", encoding="utf-8", errors="backslashreplace", buffering=1)
        # A full disk (or a file system gone) stops the log, not the run.
        stream: TextIO = cast(TextIO, Droppable(raw, on_drop=_log_lost(log_file)))
    else:
        # Looked up at each write, so lines print above a live progress bar.
        stream = cast(TextIO, CurrentStderr())
    console = fmt == "console" or (fmt == "auto" and stream.isatty())
    # What is dropped is dropped first: nothing is spent stamping and scrubbing it.
    processors: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
    ]
    if quiet:
        processors.append(quiet_filter)
    if console:
        processors.append(ConsoleFilter(debug=level == "debug", errors_file=setup.errors_file))
    processors += [
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redactor,
    ]
    if log_file and sys.stderr.isatty() and not quiet:
        processors.append(TerminalEcho(CurrentStderr().write, lambda: terminal_width(sys.stderr)))
    if console:
        processors.append(
            PeopleRenderer(colors=stream.isatty(), width=lambda: terminal_width(stream))
        )
    else:
        processors.append(structlog.processors.JSONRenderer())
    # --quiet still lets the summary event through (it is info): the filter above drops the rest.
    threshold = min(LEVELS[level], logging.INFO) if quiet else LEVELS[level]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(threshold),
        logger_factory=structlog.WriteLoggerFactory(file=stream),
        cache_logger_on_first_use=True,
    )
    return stream, console


def _log_lost(path: str) -> Callable[[OSError], None]:
    def tell(exc: OSError) -> None:
        sys.stderr.write(
            f"{distribution()[0]}: cannot write --log-file {path!r} ({reason_of(exc)}); "
            "the log stops here, the run goes on\n"
        )

    return tell
