"""Record parsers behind `batch.input._reader`: CSV and JSONL text to `Row`s, one record at a time.

Both parsers take `pieces`: the decoded text as an iterator of lines, each at most
`LINE_LIMIT` characters (`readline(LINE_LIMIT)`), so a giant line never sits in memory whole;
a line that reaches the limit without its newline is skipped as a "line too long" problem.

CSV is the `excel` dialect with `strict=True`. A line without a `"` and no longer than the csv
field size limit cannot hold quoting or an over-long field, so it is split with `str.split`,
which gives exactly what the csv module would, about twice as fast; a line with a quote (or a
long one) starts a record that one long-lived `csv.reader` parses, pulling the further lines
of a quoted newline on demand. Python 3.11's csv keeps NUL bytes as ordinary characters; an ID
holding one gets "contains a NUL byte". After a `csv.Error` the C reader has dropped the rest
of the physical line it was in and reads the next line as a new record, so a bad record costs
only itself and reading goes on (the choice here, rather than stopping the run):
- a field over `csv.field_size_limit()` (131072 by default; never changed here, it is process
  wide) gives "field too long"; when a quote was left open, the lines it swallowed up to that
  point are named in the problem, and reading resumes on the next line;
- a quote left open at the end of the input gives "unterminated quoted field";
- text after a closing quote (`"a"b,`) gives "malformed quoted field".
"""

from __future__ import annotations

import csv
import gzip
import json
import zlib
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import Any

from batch.engine import InputError

__all__ = [
    "LINE_LIMIT",
    "READ_ERRORS",
    "Row",
    "csv_header",
    "csv_rows",
    "jsonl_rows",
    "kept_keys",
    "reason",
]

LINE_LIMIT = 1 << 20
"""Characters a physical line may hold; a longer line is a row problem, not read whole."""


@dataclass(frozen=True, slots=True)
class Row:
    """One input record: where it starts and its ID value, or why it has no usable one."""

    line: int
    value: str | None
    problem: str | None
    #: the input columns --keep-columns carries into the records, if any
    columns: dict[str, Any] | None = None


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


def _broken(label: str, err: BaseException, line: int) -> InputError:
    where = f" (after line {line})" if line else ""
    return InputError(f"cannot read {label}: {reason(err)}{where}")


class _LineTooLong(Exception):
    pass


def _too_long(piece: str, pieces: Iterator[str]) -> bool:
    """Whether `piece` is the start of an over-long line; if so, skip the rest of that line."""
    if len(piece) < LINE_LIMIT or piece.endswith("\n"):
        return False
    for rest in pieces:
        if rest.endswith("\n"):
            break
    return True


class CsvRecords:
    """Parses quoted CSV records with one `csv.reader`, fed a record's lines on demand."""

    def __init__(self, pieces: Iterator[str]) -> None:
        self._pieces = pieces
        self._first = ""
        self._used = 0
        self._reader = csv.reader(self._feed(), strict=True)

    def _feed(self) -> Iterator[str]:
        while True:
            line = self._first or next(self._pieces, "")
            if not line:
                return
            self._first = ""
            self._used += 1
            if _too_long(line, self._pieces):
                raise _LineTooLong
            yield line

    def read(self, first: str) -> tuple[list[str] | None, str, int]:
        """The record starting with line `first`: (fields or None, problem, lines used)."""
        self._first = first
        self._used = 0
        try:
            return next(self._reader, []), "", self._used
        except _LineTooLong:
            self._reader = csv.reader(self._feed(), strict=True)  # that feed has ended
            return None, "line too long", self._used
        except csv.Error as err:
            message = str(err)
        used = self._used
        if message.startswith("field larger"):
            problem = f"field too long (over {csv.field_size_limit()} characters"
            problem += f" in {used} lines: unbalanced quote?)" if used > 1 else ")"
        elif message == "unexpected end of data":
            problem = "unterminated quoted field"
        elif message.endswith("expected after '\"'"):
            problem = "malformed quoted field"
        else:
            problem = f"malformed CSV ({message})"
        return None, problem, used


def value_problem(value: str, name: str) -> str | None:
    """Why the ID `value` read for `name` is unusable, or None when it is fine."""
    if not value or value.isspace():
        return f"no '{name}' value"
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:
            return "not valid UTF-8"
    if "\x00" in value:
        return "contains a NUL byte"
    return None


def csv_header(pieces: Iterator[str]) -> tuple[list[str] | None, str, int]:
    """Read up to the first non-blank record: (fields or None, problem, lines used; 0 = none)."""
    used = 0
    for line in pieces:
        used += 1
        if line.isspace():
            continue
        fields, problem, more = CsvRecords(pieces).read(line)
        return fields, problem, used + more - 1
    return None, "", 0


def csv_rows(
    pieces: Iterator[str],
    line: int,
    index: int,
    name: str,
    label: str,
    *,
    keep: dict[str, int] | None = None,
) -> Generator[Row, None, None]:
    """Rows of the CSV body; `line` is the last line already read, `index` the ID column's,
    `keep` the columns (name: index) each row carries on."""
    limit = csv.field_size_limit()
    missing = f"no '{name}' value"
    fields: list[str] | None
    after = max([index, *(keep or {}).values()]) + 1
    new = object.__new__
    set_line = Row.__dict__["line"].__set__
    set_value = Row.__dict__["value"].__set__
    set_problem = Row.__dict__["problem"].__set__
    set_columns = Row.__dict__["columns"].__set__
    columns = None
    # `Row(...)` runs the frozen dataclass __init__ (an object.__setattr__ call per field),
    # 40% of the time per row; setting the same slots through their descriptors is 2x faster.
    quoted = CsvRecords(pieces).read
    try:
        for text in pieces:
            line += 1
            start = line
            if '"' in text or len(text) > limit:
                fields, problem, used = quoted(text)
                line += used - 1
                if fields is None:
                    yield Row(start, None, problem)
                    continue
            else:
                fields = text.split(",", after)
                if len(fields) <= after:  # the last field, holding the line end, is wanted
                    fields[-1] = fields[-1].rstrip("\r\n")
            if keep:
                columns = {k: fields[i] if i < len(fields) else "" for k, i in keep.items()}
            try:
                value = fields[index]
            except IndexError:
                if not fields or (len(fields) == 1 and (fields[0].isspace() or not fields[0])):
                    continue  # a blank line
                yield Row(
                    start, None, f"{missing} (the row stops at column {len(fields)})", columns
                )
                continue
            if value.isascii() and value.strip() and "\x00" not in value:
                row = new(Row)
                set_line(row, start)
                set_value(row, value)
                set_problem(row, None)
                set_columns(row, columns)
                yield row
                continue
            if len(fields) == 1 and (not value or value.isspace()):
                continue  # a blank line of a one-column file
            why = value_problem(value, name)
            yield Row(start, None, why, columns) if why else Row(start, value, None, columns)
    except READ_ERRORS as err:
        raise _broken(label, err, line) from None


def jsonl_rows(
    pieces: Iterator[str], name: str, label: str, keep: tuple[str, ...] = ()
) -> Generator[Row, None, None]:
    """Rows of a JSONL text; each carries on the `keep` keys of its object."""
    decode = json.JSONDecoder().decode
    line = 0
    missing = f"no '{name}' value"
    try:
        for text in pieces:
            line += 1
            if _too_long(text, pieces):
                yield Row(line, None, "line too long")
                continue
            try:
                record = decode(text)
            except (ValueError, RecursionError):
                if not text.isspace():
                    yield Row(line, None, "not valid JSON")
                continue
            if type(record) is not dict:
                yield Row(line, None, "not a JSON object")
                continue
            value = record.get(name)
            columns = kept_keys(record, keep) if keep else None
            if value is None:
                yield Row(line, None, missing, columns)
            elif type(value) is not str:
                yield Row(line, None, f"'{name}' is not a string", columns)
            else:
                problem = value_problem(value, name)
                yield (
                    Row(line, None, problem, columns)
                    if problem
                    else Row(line, value, None, columns)
                )
    except READ_ERRORS as err:
        raise _broken(label, err, line) from None


def kept_keys(record: dict[str, Any], keep: tuple[str, ...]) -> dict[str, Any]:
    """The `keep` keys of a JSON record; one missing at the top is looked for in its
    ``input`` object (the errors file of an earlier --keep-columns run)."""
    inner = record.get("input")
    nested = inner if isinstance(inner, dict) else {}
    return {k: record[k] if k in record else nested[k] for k in keep if k in record or k in nested}
