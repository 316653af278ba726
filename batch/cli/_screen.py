"""What fits a terminal: its width, and text for people wrapped between words to it.

A terminal cuts a line that is too long wherever the last column falls, in the
middle of a word, an ID or an option's value. What this tool writes for people
(the log sentences, the summary, the dry-run report) is wrapped here instead:
between words only, never at a hyphen (a UUID, ``--resume``), an option kept
with its value (``--rate 5``), each continuation indented under its line. A
word longer than the line stays whole. Text that does not go to a terminal is
not wrapped: a log file or a pipe keeps one line per sentence, for ``grep``.
"""

from __future__ import annotations

import os
import re
import sys
import textwrap
from typing import Protocol

__all__ = ["MIN_WIDTH", "NBSP", "Terminal", "fit", "terminal_width", "wrap"]

#: keeps two words on one line; written as a plain space
NBSP = "\u00a0"
#: the narrowest line wrapped to (a narrower terminal cuts, as it must)
MIN_WIDTH = 20
#: an option followed by its value: ``--rate 5``, ``--limit 2`` stay together
_OPTION_VALUE = re.compile(r"(?<![^\s(\[])(--[a-z][a-z-]*) (?=[^\s-])")


class Terminal(Protocol):
    """A stream that may be a terminal (a file, `batch.cli._stderr.CurrentStderr`)."""

    def isatty(self) -> bool: ...


def terminal_width(stream: Terminal | None) -> int | None:
    """How many columns ``stream`` shows, or None when it is not a terminal.

    ``COLUMNS`` wins when set (as it does for rich, which draws the progress bar),
    then the terminal's own size; 80 when a terminal will not say.
    """
    if stream is None or not stream.isatty():
        return None
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    fileno = getattr(stream, "fileno", None)
    try:
        fd = fileno() if callable(fileno) else sys.stderr.fileno()
        return os.get_terminal_size(fd).columns or 80
    except (OSError, ValueError):
        return 80


def wrap(text: str, width: int | None, *, hang: int | None = None) -> list[str]:
    """``text`` as lines of at most ``width`` columns, broken between words only.

    A line keeps its own leading spaces; its continuations are indented ``hang``
    columns (default: two more than the line). ``width`` None: one line as it is.
    Embedded newlines start new lines, each wrapped the same way.
    """
    lines: list[str] = []
    for line in text.split("\n"):
        lines += _wrap_line(line, width, hang)
    return lines


def fit(lines: list[str], width: int | None) -> list[str]:
    """Each of ``lines`` wrapped to ``width`` (see `wrap`)."""
    return [part for line in lines for part in wrap(line, width)]


def _wrap_line(line: str, width: int | None, hang: int | None) -> list[str]:
    if width is None or len(line) <= width:
        return [line.replace(NBSP, " ")]
    lead = len(line) - len(line.lstrip(" "))
    indent = " " * (lead + 2 if hang is None else hang)
    kept = _OPTION_VALUE.sub(rf"\1{NBSP}", line)
    parts = textwrap.wrap(
        kept[lead:],
        max(width, MIN_WIDTH),
        initial_indent=" " * lead,
        subsequent_indent=indent,
        break_long_words=False,
        break_on_hyphens=False,
        replace_whitespace=False,
        drop_whitespace=True,
    )
    return [part.replace(NBSP, " ") for part in parts] or [""]
