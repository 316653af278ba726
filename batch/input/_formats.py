"""Record parsers behind `batch.input._reader`: CSV and JSONL text to `Row`s, one record at a time.

Both parsers take the decoded text as lines of at most `LINE_LIMIT` characters
(`readline(LINE_LIMIT)`), so a giant line never sits in memory whole; a line that reaches the
limit without its newline is skipped as a "line too long" problem.

CSV: every line goes through one stdlib `csv.reader` (the `excel` dialect, `strict=True`, the
delimiter as given). Python 3.11's csv keeps NUL bytes as ordinary characters; an ID holding
one gets "contains a NUL byte". After a `csv.Error` the C reader has dropped the rest of the
physical line it was in and reads the next line as a new record, so a bad record costs only
itself and reading goes on (the choice here, rather than stopping the run):
- a field over `csv.field_size_limit()` (131072 by default; never changed here, it is process
  wide) gives "field too long"; when a quote was left open, the lines it swallowed up to that
  point are named in the problem, and reading resumes on the next line;
- a quote left open at the end of the input gives "unterminated quoted field";
- text after a closing quote (`"a"b,`) gives "malformed quoted field".

A blank row is a `Row` whose problem is `BLANK` (""): counted, never recorded. Blank means the
line holds no fields (an empty line), one field of only spaces or tabs, or several fields all
empty or spaces (`,,,` as spreadsheets export an empty row). A quoted empty ID in a one-column
file (`""`) is not blank: it is an ID the export left empty, and gets an `invalid_input` record.
"""

from __future__ import annotations

import csv
import gzip
import itertools
import json
import zlib
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Any

from batch.engine import InputError

__all__ = [
    "BLANK",
    "LINE_LIMIT",
    "READ_ERRORS",
    "Row",
    "broken",
    "csv_header",
    "csv_rows",
    "jsonl_rows",
    "kept_keys",
    "lines",
    "reason",
    "value_problem",
]

LINE_LIMIT = 1 << 20
"""Characters a physical line may hold; a longer line is a row problem, not read whole."""

BLANK = ""
"""The `Row.problem` of a blank row: counted as `blank`, no record."""


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


def broken(label: str, err: BaseException, line: int) -> InputError:
    where = f" (after line {line})" if line else ""
    return InputError(f"cannot read {label}: {reason(err)}{where}")


class LineTooLong(Exception):
    """Raised by `lines` on a line over `LINE_LIMIT` characters, once the rest of it is skipped."""


def lines(readline: Callable[[int], str]) -> Generator[str, None, None]:
    """The text's lines, each at most `LINE_LIMIT` characters; `LineTooLong` for a longer one."""
    while line := readline(LINE_LIMIT):
        if len(line) >= LINE_LIMIT and not line.endswith(("\n", "\r")):
            while (rest := readline(LINE_LIMIT)) and not rest.endswith(("\n", "\r")):
                pass
            raise LineTooLong
        yield line


def value_problem(value: str, name: str, bad_text: str = "not valid UTF-8") -> str | None:
    """Why the ID `value` read for `name` is unusable, or None when it is fine."""
    if not value or value.isspace():
        return f"no '{name}' value"
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:
            return bad_text
    if "\x00" in value:
        return "contains a NUL byte"
    return None


class CsvReader:
    """One `csv.reader` over the text's lines, with physical line numbers.

    `reader` is the current `csv.reader`; `done` the physical lines read before it started
    and `last` the last line of the last record. A line over `LINE_LIMIT` ends a reader's line
    source: `failed` then starts a new one after it.
    """

    def __init__(self, readline: Callable[[int], str], delimiter: str, first: str = "") -> None:
        self._readline = readline
        self._delimiter = delimiter
        self.done = 0
        self.last = 0
        source: Iterator[str] = lines(readline)
        if first:
            source = itertools.chain([first], source)
        self.reader = csv.reader(source, delimiter=delimiter, strict=True)

    def failed(self, err: csv.Error | LineTooLong, start: int) -> str:
        """The problem of the record that started at line `start` and raised `err`."""
        if isinstance(err, LineTooLong):
            self.done += self.reader.line_num + 1
            self.last = self.done
            self.reader = csv.reader(lines(self._readline), delimiter=self._delimiter, strict=True)
            return "line too long"
        self.last = self.done + self.reader.line_num
        return csv_problem(str(err), self.last - start + 1)


def csv_problem(message: str, used: int) -> str:
    """A `csv.Error` message as a row problem; `used` = the physical lines the record took."""
    if message.startswith("field larger"):
        problem = f"field too long (over {csv.field_size_limit()} characters"
        return problem + (f" in {used} lines: unbalanced quote?)" if used > 1 else ")")
    if message == "unexpected end of data":
        return "unterminated quoted field"
    if message.endswith("expected after '\"'"):
        return "malformed quoted field"
    return f"malformed CSV ({message})"


def is_blank(fields: list[str]) -> bool:
    """No fields, one field of only spaces/tabs, or several fields all empty or spaces."""
    if len(fields) == 1:
        return fields[0].isspace()
    return all(not field or field.isspace() for field in fields)


def csv_header(
    readline: Callable[[int], str], delimiter: str, first: str, skipped: int
) -> tuple[CsvReader, list[str] | None, str]:
    """The header record, starting with line `first` after `skipped` blank lines."""
    reader = CsvReader(readline, delimiter, first)
    reader.done = reader.last = skipped
    try:
        fields = next(reader.reader, None)
    except (csv.Error, LineTooLong) as err:
        return reader, None, reader.failed(err, skipped + 1)
    reader.last = reader.done + reader.reader.line_num
    return reader, fields, ""


def csv_rows(
    reader: CsvReader,
    index: int,
    width: int,
    name: str,
    label: str,
    *,
    others: str = "",
    bad_text: str = "not valid UTF-8",
    keep: dict[str, int] | None = None,
    line_column: int | None = None,
) -> Generator[Row, None, None]:
    """Rows of the CSV body; `index` is the ID column's, `width` the header's field count.

    `others`: the candidate delimiters not in use, to name a row that was split by another one;
    `keep`: the columns (name: index) each row carries on; `line_column`: in this tool's own
    errors or results files, the column holding the original input line, which the row
    keeps (a re-run of an errors file reports the line the ID was first read on).
    """
    missing = f"no '{name}' value"
    new = object.__new__
    set_line = Row.__dict__["line"].__set__
    set_value = Row.__dict__["value"].__set__
    set_problem = Row.__dict__["problem"].__set__
    set_columns = Row.__dict__["columns"].__set__
    columns = None
    # `Row(...)` runs the frozen dataclass __init__ (an object.__setattr__ call per field),
    # 40% of the time per row; setting the same slots through their descriptors is 2x faster.
    last = reader.last
    try:
        while True:
            rows, done = reader.reader, reader.done
            try:
                for fields in rows:
                    line = last + 1
                    last = done + rows.line_num
                    if line_column is not None and line_column < len(fields):
                        recorded = fields[line_column]
                        if recorded.isascii() and recorded.isdigit() and recorded != "0":
                            line = int(recorded)
                    if keep:
                        columns = {k: fields[i] if i < len(fields) else "" for k, i in keep.items()}
                    if len(fields) == width:
                        value = fields[index]
                        if value.isascii() and value.strip() and "\x00" not in value:
                            row = new(Row)
                            set_line(row, line)
                            set_value(row, value)
                            set_problem(row, None)
                            set_columns(row, columns)
                            yield row
                            continue
                    yield _odd_row(
                        fields,
                        line,
                        index=index,
                        width=width,
                        missing=missing,
                        others=others,
                        name=name,
                        bad_text=bad_text,
                        columns=columns,
                    )
                return
            except (csv.Error, LineTooLong) as err:
                problem = reader.failed(err, last + 1)
                yield Row(last + 1, None, problem)
                last = reader.last
    except READ_ERRORS as err:
        raise broken(label, err, last) from None


def _odd_row(
    fields: list[str],
    line: int,
    *,
    index: int,
    width: int,
    missing: str,
    others: str,
    name: str,
    bad_text: str,
    columns: dict[str, Any] | None,
) -> Row:
    """A row off the fast path: blank, short, split by another delimiter, or with a bad value."""
    if not fields or is_blank(fields):
        return Row(line, None, BLANK)
    if len(fields) < width:
        split = [d for d in others if any(d in field for field in fields)]
        if split:
            shown = "tab" if split[0] == "\t" else repr(split[0])
            return Row(
                line,
                None,
                f"the row has {len(fields)} of the header's {width} columns and holds {shown}:"
                " mixed delimiters?",
                columns,
            )
    if index >= len(fields):
        return Row(line, None, f"{missing} (the row stops at column {len(fields)})", columns)
    value = fields[index]
    why = value_problem(value, name, bad_text)
    return Row(line, None, why, columns) if why else Row(line, value, None, columns)


def jsonl_rows(
    readline: Callable[[int], str],
    name: str,
    label: str,
    bad_text: str = "not valid UTF-8",
    *,
    first: str = "",
    line: int = 0,
    keep: tuple[str, ...] = (),
    seen: dict[str, int] | None = None,
) -> Generator[Row, None, None]:
    """Rows of a JSONL text: `first` (the line after `line` lines already read), then the rest."""
    decode = json.JSONDecoder().decode
    missing = f"no '{name}' value"
    pieces: Iterator[str] = itertools.chain([first], lines(readline))
    try:
        while True:
            try:
                for text in pieces:
                    line += 1
                    try:
                        record = decode(text)
                    except (ValueError, RecursionError):
                        yield Row(line, None, BLANK if text.isspace() else "not valid JSON")
                        continue
                    yield json_row(record, line, name, missing, bad_text, keep=keep, seen=seen)
                return
            except LineTooLong:
                line += 1
                yield Row(line, None, "line too long")
                pieces = lines(readline)
    except READ_ERRORS as err:
        raise broken(label, err, line) from None


def json_row(
    record: object,
    line: int,
    name: str,
    missing: str,
    bad_text: str,
    *,
    keep: tuple[str, ...] = (),
    seen: dict[str, int] | None = None,
) -> Row:
    """The Row of one JSON value read as a record (a JSONL line, a JSON array element); it
    carries on the `keep` keys of its object. A dotted `name` (``worker.profile_id``)
    reaches into nested objects. A record of this tool's own results or errors files
    keeps the input line it records (a re-run of an errors file reports the original
    line). The keys of records without `name` are counted in `seen`."""
    if type(record) is not dict:
        return Row(line, None, "not a JSON object")
    columns = kept_keys(record, keep) if keep else None
    value = record.get(name)
    if value is None and "." in name:
        value = _dotted(record, name)
    recorded = record.get("line")
    if type(recorded) is int and recorded > 0 and record.get("status") in ("ok", "error"):
        line = recorded
    if value is None:
        if seen is not None and len(seen) < 1000:
            for key in record:
                seen[key] = seen.get(key, 0) + 1
        return Row(line, None, missing, columns)
    if type(value) is not str:
        return Row(line, None, f"'{name}' is not a string", columns)
    problem = value_problem(value, name, bad_text)
    return Row(line, None, problem, columns) if problem else Row(line, value, None, columns)


def _dotted(record: dict[str, Any], name: str) -> object:
    value: object = record
    for part in name.split("."):
        if type(value) is not dict:
            return None
        value = value.get(part)
    return value


def kept_keys(record: dict[str, Any], keep: tuple[str, ...]) -> dict[str, Any]:
    """The `keep` keys of a JSON record; one missing at the top is looked for in its
    ``input`` object (the errors file of an earlier --keep-columns run)."""
    inner = record.get("input")
    nested = inner if isinstance(inner, dict) else {}
    return {k: record[k] if k in record else nested[k] for k in keep if k in record or k in nested}
