"""Logs for people: one sentence per event, the noise summarised, nothing a machine needs.

JSON mode keeps every event and every field; this is the console mode. What it
changes, and why:

- per-request detail (``retrying``, ``response``, ``duplicate_id``) shows at
  ``--log-level debug`` only: the progress bar counts retries, the summary
  counts duplicates;
- ``rate_changed``: one warning the first time the rate drops, the rest at debug;
- ``record_failed`` and ``invalid_row``: the first `SHOWN` of each, then one
  line saying where the rest are (the records, the errors file);
- ``run_finished`` and ``dry_run`` are not shown: the summary and the dry-run
  report print the same facts as text;
- no field without a value, no key=value lists where a sentence says it.

`quiet_filter` is the --quiet rule for both modes: errors and the run's summary only.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import structlog
from structlog.typing import EventDict, WrappedLogger

from batch.cli._screen import wrap

__all__ = [
    "SHOWN",
    "STAMP_WIDTH",
    "SUMMARY_EVENTS",
    "ConsoleFilter",
    "PeopleRenderer",
    "TerminalEcho",
    "human_duration",
    "plural",
    "quiet_filter",
]

#: how many failed records and invalid rows are shown one by one
SHOWN = 10
#: the columns of a line's ``HH:MM:SS  `` (a wrapped sentence goes on under its start)
STAMP_WIDTH = 10
#: the events that stand for the run's summary (printed as text in console mode)
SUMMARY_EVENTS = frozenset({"run_finished", "dry_run"})
_DEBUG_ONLY = frozenset({"retrying", "response", "duplicate_id", "previous_records_removed"})
_CAPPED = {
    "record_failed": "more failed records are not shown here: they are in the results{errors}",
    "invalid_row": "more invalid rows are not shown here: they are in the results{errors}",
}
_LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}
_COLORS = {"warning": "\x1b[33m", "error": "\x1b[31;1m", "critical": "\x1b[31;1m"}
_DIM, _RESET = "\x1b[2m", "\x1b[0m"
#: an event's fields, as structlog hands them over (its values are ``Any``)
Fields = EventDict


def human_duration(seconds: float) -> str:
    """``0.4s``, ``12s``, ``3 min 5s``, ``1 h 05 min``: as long as a person needs it."""
    if seconds < 10:
        return f"{seconds:.1f}s"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min" + (f" {secs}s" if secs and minutes < 10 else "")
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def plural(count: int, word: str, many: str | None = None) -> str:
    """``1 retry``, ``3 retries``, with thousands separators."""
    if count == 1:
        return f"1 {word}"
    if many is None:
        many = (
            word[:-1] + "ies" if word.endswith("y") and word[-2:-1] not in "aeiou" else word + "s"
        )
    return f"{count:,} {many}"


def quiet_filter(_logger: WrappedLogger, method: str, event_dict: EventDict) -> EventDict:
    """--quiet: errors, and the summary event (JSON mode: the one line a cron job keeps)."""
    if _LEVELS.get(method, 20) < _LEVELS["error"] and event_dict.get("event") not in SUMMARY_EVENTS:
        raise structlog.DropEvent
    return event_dict


class ConsoleFilter:
    """Drops what people do not need to read as it happens (see the module's docstring)."""

    def __init__(self, *, debug: bool, errors_file: str | None = None) -> None:
        self._debug = debug
        self._errors = f" and in {errors_file}" if errors_file else ""
        self._seen: dict[str, int] = {}
        self._rate_warned = False

    def __call__(self, _logger: WrappedLogger, method: str, event_dict: EventDict) -> EventDict:
        event = event_dict.get("event")
        if event in SUMMARY_EVENTS:
            raise structlog.DropEvent
        if self._debug:
            return event_dict
        if event in _DEBUG_ONLY:
            raise structlog.DropEvent
        if event == "rate_changed":
            if self._rate_warned or event_dict.get("reason") != "rate_limited":
                raise structlog.DropEvent
            self._rate_warned = True
            event_dict["level"] = "warning"
        if isinstance(event, str) and event in _CAPPED:
            seen = self._seen[event] = self._seen.get(event, 0) + 1
            if seen == SHOWN + 1:
                return {
                    "event": "more_not_shown",
                    "level": event_dict.get("level", method),
                    "message": "… " + _CAPPED[event].format(errors=self._errors),
                }
            if seen > SHOWN:
                raise structlog.DropEvent
        return event_dict


class TerminalEcho:
    """--log-file at a terminal: the few events a person must see as they happen (a stop,
    and what Ctrl-C does) are also said on the terminal, above the bar."""

    EVENTS = frozenset({"interrupted", "interrupted_again", "run_aborted"})

    def __init__(
        self, write: Callable[[str], object], width: Callable[[], int | None] = lambda: None
    ) -> None:
        self._write = write
        self._render = PeopleRenderer(colors=True, width=width)

    def __call__(self, logger: WrappedLogger, method: str, event_dict: EventDict) -> EventDict:
        if event_dict.get("event") in self.EVENTS:
            self._write(self._render(logger, method, event_dict) + "\n")
        return event_dict


class PeopleRenderer:
    """Renders an event as ``HH:MM:SS  sentence`` (local time), warnings and errors marked.

    On a terminal (``width`` says how wide it is now; None: not one) a long sentence
    wraps between words, its continuations indented under its first word.
    """

    def __init__(self, *, colors: bool, width: Callable[[], int | None] = lambda: None) -> None:
        self._colors = colors
        self._width = width

    def __call__(self, _logger: WrappedLogger, method: str, event_dict: EventDict) -> str:
        fields = dict(event_dict)
        event = str(fields.pop("event", ""))
        level = str(fields.pop("level", method))
        fields.pop("timestamp", None)
        exc = fields.pop("exception", None)
        say = _SENTENCES.get(event)
        text = say(fields) if say is not None else _generic(event, fields)
        if level in ("warning", "error", "critical"):
            text = f"{'error' if level == 'critical' else level}: {text}"
        stamp = time.strftime("%H:%M:%S")
        width = self._width()
        lines = wrap(text, None if width is None else width - STAMP_WIDTH, hang=0)
        if self._colors:
            color = _COLORS.get(level, "")
            lines = [f"{color}{line}{_RESET if color else ''}" for line in lines]
            stamp = f"{_DIM}{stamp}{_RESET}"
        under = "\n" + " " * STAMP_WIDTH
        line = f"{stamp}  {under.join(lines)}"
        return f"{line}\n{exc}" if exc else line


def _generic(event: str, fields: Fields) -> str:
    message = fields.pop("message", None)
    head = event.replace("_", " ")
    if message:
        return str(message)
    rest = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in fields.items() if v is not None)
    return f"{head}: {rest}" if rest else head


def _where(fields: Fields) -> str:
    line = fields.get("line")
    return f"line {line}: " if line is not None else ""


def _failure(fields: Fields) -> str:
    status = fields.get("http_status")
    kind = str(fields.get("kind", "error"))
    if status is not None:
        text = f"HTTP {status}" if kind == "http" else f"{kind} (HTTP {status})"
    else:
        text = kind
    if fields.get("message"):  # the API's request id is in the records and JSON logs
        text += f": {fields['message']}"
    return text


def _run_started(f: Fields) -> str:
    output = "standard output" if f.get("output") == "-" else f.get("output")
    source = "standard input" if f.get("input") == "-" else f.get("input")
    if f.get("read"):
        source = f"{source} ({f['read']})"
    api = "the simulated API" if f.get("simulated") else f.get("base_url")
    mode = ", resuming it" if f.get("resume") else ""
    return (
        f"{source} → {output}{mode}: calling {api} "
        f"at up to {f.get('rate', 0):g}/s, {f.get('concurrency')} at a time"
    )


def _resume(f: Fields) -> str:
    text = (
        f"--resume: {plural(int(f.get('records', 0)), 'record')} in {f.get('path')}; "
        f"{int(f.get('kept', 0)):,} ok kept"
    )
    if f.get("refresh"):
        text += f", {int(f['refresh']):,} to re-issue (expiring)"
    if f.get("unreadable_lines"):
        text += f", {plural(int(f['unreadable_lines']), 'unreadable line')}"
    return text


def _invalid_row(f: Fields) -> str:
    return f"{_where(f)}not sent: {f.get('reason')}"


def _record_failed(f: Fields) -> str:
    attempts = plural(int(f.get("attempts", 0)), "attempt")
    return f"{_where(f)}{f.get('key')} failed after {attempts}: {_failure(f)}"


def _retrying(f: Fields) -> str:
    return f"{_where(f)}{f.get('key')}: attempt {f.get('attempt')} failed ({_failure(f)}); retrying"


def _rate_changed(f: Fields) -> str:
    if f.get("reason") == "rate_limited":
        return (
            f"the API answers 429 (too many requests): slowing down from {f.get('old', 0):g}/s "
            f"to {f.get('new', 0):g}/s; the rate climbs back by itself"
        )
    return f"rate now {f.get('new', 0):g}/s (was {f.get('old', 0):g}/s)"


def _progress(f: Fields) -> str:
    total = f.get("total")
    done = f"{int(f.get('done', 0)):,}" + (f"/{int(total):,}" if total is not None else "")
    text = (
        f"{done} rows: {int(f.get('ok', 0)):,} ok, {int(f.get('failed', 0)):,} failed"
        f", {plural(int(f.get('retries', 0)), 'retry')}; {f.get('rate', 0)}/s"
    )
    if f.get("eta_s") is not None:
        text += f", about {human_duration(float(f['eta_s']))} left"
    return text


def _response(f: Fields) -> str:
    return f"{f.get('key')}: HTTP {f.get('status')} in {f.get('elapsed_ms')} ms"


def _duplicate(f: Fields) -> str:
    return f"{_where(f)}{f.get('key')} again: processed once"


def _aborted(f: Fields) -> str:
    return f"stopping: {f.get('reason')}"


_SENTENCES: dict[str, Callable[[Fields], str]] = {
    "run_started": _run_started,
    "resume": _resume,
    "invalid_row": _invalid_row,
    "record_failed": _record_failed,
    "retrying": _retrying,
    "rate_changed": _rate_changed,
    "progress": _progress,
    "response": _response,
    "duplicate_id": _duplicate,
    "run_aborted": _aborted,
}
