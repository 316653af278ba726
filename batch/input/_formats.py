"""What every text parser of `batch.input` shares: the `Row`, lines read one at a time, reasons.

The parsers (`batch.input._csv`, `batch.input._jsonl`) take the decoded text as lines of at
most `LINE_LIMIT` characters (`readline(LINE_LIMIT)`), so a giant line never sits in memory
whole; a line that reaches the limit without its newline is skipped as a "line too long"
problem.

Text is decoded with ``errors="surrogateescape"``: a byte that does not decode becomes a lone
surrogate instead of stopping the decoder mid-chunk, and `read_line` raises `Undecodable` on
the line that holds it. The text is never read on past such a line: nothing of a file in
another encoding than the one it is read as reaches a record (see `batch.input._encoding`).
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import NamedTuple

from batch.engine import InputError

__all__ = [
    "BLANK",
    "LINE_LIMIT",
    "READ_ERRORS",
    "Columns",
    "FirstLine",
    "LineTooLong",
    "Row",
    "Undecodable",
    "broken",
    "lines",
    "read_line",
    "reason",
    "undecodable",
    "value_problem",
]

LINE_LIMIT = 1 << 20
"""Characters a physical line may hold; a longer line is a row problem, not read whole."""

BLANK = ""
"""The `Row.problem` of a blank row: counted as `blank`, no record."""

Columns = dict[str, object]
"""The input columns a row carries into its record (--keep-columns): name → value."""


@dataclass(frozen=True, slots=True)
class Row:
    """One input record: where it starts and its ID value, or why it has no usable one."""

    line: int
    value: str | None
    problem: str | None
    #: the input columns --keep-columns carries into the records, if any
    columns: Columns | None = None


class FirstLine(NamedTuple):
    """A text's first non-blank line ("" when there is none) and the blank lines before it."""

    line: str
    blank: int


READ_ERRORS = (OSError, EOFError, zlib.error)
"""What reading a (gzip) stream raises when the data or the device fails."""


def reason(err: BaseException) -> str:
    """One line saying why reading failed."""
    if isinstance(err, EOFError):
        return "gzip data is truncated"
    if isinstance(err, zlib.error | gzip.BadGzipFile):
        return f"gzip data is corrupt ({err})"
    if isinstance(err, OSError) and err.strerror:
        return err.strerror[:1].lower() + err.strerror[1:]
    return str(err).replace("\n", " ")


def broken(label: str, err: BaseException, line: int) -> InputError:
    where = f" (after line {line})" if line else ""
    return InputError(f"cannot read {label}: {reason(err)}{where}")


class LineTooLong(Exception):
    """Raised by `read_line` on a line over `LINE_LIMIT` characters, once the rest is skipped."""


class Undecodable(Exception):
    """Raised by `read_line` on a line holding bytes the text's encoding does not decode."""

    def __init__(self, byte: int) -> None:
        super().__init__(f"byte 0x{byte:02X}")
        #: the first byte that does not decode
        self.byte = byte


def read_line(readline: Callable[[int], str]) -> str:
    """The next line ("" at the end): at most `LINE_LIMIT` characters, all of them decoded;
    `LineTooLong` or `Undecodable` otherwise."""
    line = readline(LINE_LIMIT)
    if len(line) >= LINE_LIMIT and not line.endswith(("\n", "\r")):
        while (rest := readline(LINE_LIMIT)) and not rest.endswith(("\n", "\r")):
            pass
        raise LineTooLong
    if not line.isascii():
        try:
            line.encode()
        except UnicodeEncodeError as err:  # a lone surrogate: a byte surrogateescape kept
            raise Undecodable(ord(line[err.start]) - 0xDC00) from None
    return line


def lines(readline: Callable[[int], str]) -> Generator[str, None, None]:
    """The text's lines, each read by `read_line`."""
    while line := read_line(readline):
        yield line


def undecodable(label: str, err: Undecodable, line: int, encoding: str) -> InputError:
    """The run stops at a line that does not decode: what to pass instead."""
    return InputError(
        f"cannot read {label}: line {line:,} is not valid {encoding} ({err}); pass --encoding "
        "with the file's encoding (e.g. --encoding cp1252)"
    )


def value_problem(value: str, name: str) -> str | None:
    """Why the ID `value` read for `name` is unusable, or None when it is fine."""
    if not value or value.isspace():
        return f"no '{name}' value"
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:  # a JSON "\\ud800" escape: not a character
            return "not valid Unicode (a lone surrogate)"
    if "\x00" in value:
        return "contains a NUL byte"
    return None
