"""CSV text to `Row`s, one record at a time, once the header is known (`batch.input._csv_open`).

Every line goes through one stdlib `csv.reader` (the `excel` dialect, `strict=True`, the
delimiter as given). Python 3.11's csv keeps NUL bytes as ordinary characters; an ID holding
one gets "contains a NUL byte". After a `csv.Error` the C reader has dropped the rest of the
physical line it was in and reads the next line as a new record, so a bad record costs only
itself and reading goes on (the choice here, rather than stopping the run):
- a field over `csv.field_size_limit()` (131072 by default; never changed here, it is process
  wide) gives "field too long"; when a quote was left open, the lines it swallowed up to that
  point are named in the problem, and reading resumes on the next line;
- a quote left open at the end of the input gives "unterminated quoted field";
- text after a closing quote (`"a"b,`) gives "malformed quoted field".

A line that does not decode stops the reading (`Undecodable`, see `batch.input._formats`).

A blank row is a `Row` whose problem is `BLANK` (""): counted, never recorded. Blank means the
line holds no fields (an empty line), one field of only spaces or tabs, or several fields all
empty or spaces (`,,,` as spreadsheets export an empty row). A quoted empty ID in a one-column
file (`""`) is not blank: it is an ID the export left empty, and gets an `invalid_input` record.
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass

from batch.input._formats import (
    BLANK,
    READ_ERRORS,
    Columns,
    LineTooLong,
    Row,
    Undecodable,
    broken,
    lines,
    undecodable,
    value_problem,
)

__all__ = ["CsvLayout", "CsvReader", "csv_header", "csv_rows", "is_blank"]


class CsvReader:
    """One `csv.reader` over the text's lines, with physical line numbers.

    `reader` is the current `csv.reader`; `done` the physical lines read before it started
    and `last` the last line of the last record. A line over `LINE_LIMIT` ends a reader's line
    source: `failed` then starts a new one after it.
    """

    def __init__(
        self, readline: Callable[[int], str], delimiter: str, first: str = "", done: int = 0
    ) -> None:
        self._readline = readline
        self._delimiter = delimiter
        self.done = done
        self.last = done
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
        return _csv_problem(str(err), self.last - start + 1)

    def reached(self) -> int:
        """The physical line the reader was reading when its line source raised."""
        return self.done + self.reader.line_num + 1


def _csv_problem(message: str, used: int) -> str:
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


def csv_header(reader: CsvReader) -> tuple[list[str] | None, str]:
    """The header record (the reader's first), or None and the problem that spoilt it."""
    try:
        fields = next(reader.reader, None)
    except (csv.Error, LineTooLong) as err:
        return None, reader.failed(err, reader.done + 1)
    reader.last = reader.done + reader.reader.line_num
    return fields, ""


@dataclass(frozen=True, slots=True)
class CsvLayout:
    """How the body's records are read.

    `index` is the ID column's, `width` the header's field count, `name` the ID field's name
    and `encoding` the text's (for the messages); `others`: the candidate delimiters not in
    use, to name a row that was split by another one; `keep`: the columns (name: index)
    each row carries on; `line_column`: in this tool's own errors or results files, the
    column holding the original input line, which the row keeps (a re-run of an errors
    file reports the line the ID was first read on).
    """

    index: int
    width: int
    name: str
    label: str
    encoding: str
    others: str = ""
    keep: dict[str, int] | None = None
    line_column: int | None = None


def csv_rows(reader: CsvReader, layout: CsvLayout) -> Generator[Row, None, None]:
    """Rows of the CSV body, from the reader's next record on."""
    try:
        while True:
            try:
                yield from _records(reader, layout)
                return
            except (csv.Error, LineTooLong) as err:
                start = reader.last + 1
                yield Row(start, None, reader.failed(err, start))
    except READ_ERRORS as err:
        raise broken(layout.label, err, reader.last) from None
    except Undecodable as err:
        raise undecodable(layout.label, err, reader.reached(), layout.encoding) from None


def _records(reader: CsvReader, layout: CsvLayout) -> Generator[Row, None, None]:
    """The records of the reader's current `csv.reader`; `reader.last` follows them."""
    index, width, keep, line_column = layout.index, layout.width, layout.keep, layout.line_column
    new = object.__new__
    set_line = Row.__dict__["line"].__set__
    set_value = Row.__dict__["value"].__set__
    set_problem = Row.__dict__["problem"].__set__
    set_columns = Row.__dict__["columns"].__set__
    # `Row(...)` runs the frozen dataclass __init__ (an object.__setattr__ call per field),
    # 40% of the time per row; setting the same slots through their descriptors is 2x faster.
    columns = None
    rows, done, last = reader.reader, reader.done, reader.last
    try:
        for fields in rows:
            line = last + 1
            last = done + rows.line_num
            if line_column is not None:
                line = _recorded_line(fields, line_column, line)
            if keep:
                columns = _kept(fields, keep)
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
            yield _odd_row(fields, line, layout, columns)
    finally:
        reader.last = last


def _recorded_line(fields: list[str], line_column: int, line: int) -> int:
    recorded = fields[line_column] if line_column < len(fields) else ""
    if recorded.isascii() and recorded.isdigit() and recorded != "0":
        return int(recorded)
    return line


def _kept(fields: list[str], keep: dict[str, int]) -> Columns:
    width = len(fields)
    return {name: fields[i] if i < width else "" for name, i in keep.items()}


def _odd_row(fields: list[str], line: int, layout: CsvLayout, columns: Columns | None) -> Row:
    """A row off the fast path: blank, short, split by another delimiter, or with a bad value."""
    if not fields or is_blank(fields):
        return Row(line, None, BLANK)
    width = layout.width
    if len(fields) < width:
        split = [d for d in layout.others if any(d in field for field in fields)]
        if split:
            shown = "tab" if split[0] == "\t" else repr(split[0])
            return Row(
                line,
                None,
                f"the row has {len(fields)} of the header's {width} columns and holds {shown}:"
                " mixed delimiters?",
                columns,
            )
    if layout.index >= len(fields):
        problem = f"no '{layout.name}' value (the row stops at column {len(fields)})"
        return Row(line, None, problem, columns)
    value = fields[layout.index]
    why = value_problem(value, layout.name)
    return Row(line, None, why, columns) if why else Row(line, value, None, columns)
