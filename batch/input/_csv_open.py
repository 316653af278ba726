"""Opening CSV text: find the header and its delimiter, then read the body (`batch.input._csv`).

The lines above the header are read one at a time and offered to the header search
(`batch.input._header`), each split by every candidate delimiter it holds outside quotes
(or by the one given): the line that holds the ID column is the header, and its delimiter
the file's. The CSV reader then starts on that line, so a header whose quoted name holds a
newline is still one record.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable

from batch.engine import InputError
from batch.input._bytes import Head
from batch.input._columns import (
    CANDIDATES,
    IdColumn,
    clean_names,
    delimiters_in,
    find_id_column,
    keep_columns,
    split_line,
)
from batch.input._csv import CsvLayout, CsvReader, csv_header, csv_rows
from batch.input._encoding import Encoding
from batch.input._formats import (
    LINE_LIMIT,
    READ_ERRORS,
    FirstLine,
    LineTooLong,
    Undecodable,
    read_line,
    reason,
    undecodable,
)
from batch.input._header import Header, HeaderSearch, Split, Wanted
from batch.input._options import ReadOptions
from batch.input._rows import InputInfo, Rows
from batch.input._total import text_total

__all__ = ["open_csv"]

_GUESSED = " (the format was guessed as CSV; pass --input-format if it is not)"


def open_csv(
    text: io.TextIOWrapper, start: FirstLine, head: Head, enc: Encoding, opts: ReadOptions
) -> Rows:
    """CSV rows of `text`, from its first non-blank line (`start`) on."""
    label = opts.label
    if not start.line:
        raise InputError(f"{label} is empty: expected a header row with a '{opts.id_field}' column")
    readline = text.readline
    header, line = _find_header(start, readline, enc, opts)
    reader = CsvReader(readline, header.delimiter or ",", first=line, done=header.line - 1)
    names = [] if header.headerless else _header_names(reader, header, enc, opts)
    column = header.column if header.headerless else find_id_column(names, opts.id_field, label)
    layout = _layout(names, header, column, enc, opts)
    used = header.delimiter or ","
    info = InputInfo(
        "tsv" if used == "\t" else "csv",
        opts.id_field,
        column.name,
        column.loose,
        encoding=enc.described,
        delimiter=None if header.headerless and header.width == 1 else used,
        gzip=head.gzip,
        header_row=None if header.headerless else header.line,
        above=header.above,
        headerless=header.headerless,
        header_forced=header.forced,
    )
    before = reader.last if not header.headerless else header.line - 1
    total = text_total(opts.source, gzip=head.gzip, sample=head.first, before=before)
    return Rows(csv_rows(reader, layout), info, text, total)


def _layout(
    names: list[str], header: Header, column: IdColumn, enc: Encoding, opts: ReadOptions
) -> CsvLayout:
    # This tool's own errors or results file (a re-run of failed.csv): rows keep their line.
    ours = "line" in names and ("error_kind" in names or "status" in names)
    used = header.delimiter or ","
    return CsvLayout(
        column.index,
        len(names) or header.width,
        opts.id_field,
        opts.label,
        enc.shown,
        others="".join(d for d in CANDIDATES if d != used),
        keep=keep_columns(names, opts.keep, opts.label) if opts.keep else None,
        line_column=names.index("line") if ours else None,
    )


def _splits(line: str, delimiter: str | None) -> list[Split]:
    """The ways to split `line`: by `delimiter`, else by each candidate it holds (`,` if none)."""
    found = delimiter or delimiters_in(line) or ","
    return [(d, split_line(line, d)) for d in found]


def _find_header(
    start: FirstLine, readline: Callable[[int], str], enc: Encoding, opts: ReadOptions
) -> tuple[Header, str]:
    """The header found from the first non-blank line on, and the line it is on."""
    delimiter = opts.delimiter or ("\t" if opts.fmt == "tsv" else None)
    wanted = Wanted(opts.id_field, opts.header_row, opts.key_test)
    search = HeaderSearch(wanted, opts.label, hint=_GUESSED if opts.guessed else "")
    search.blank_before(start.blank)
    number, line = start.blank + 1, start.line
    seen: dict[int, str] = {}  # the lines read, to read the widest as a record if need be
    while True:
        seen[number] = line
        found = search.offer(number, _splits(line, delimiter))
        if found is not None:
            return found, line
        if search.full:
            break
        line = _next_line(readline, number + 1, enc, opts.label)
        if not line:
            break
        number += 1
    raise search.failure(number, _record(seen, search.widest_line, delimiter, opts.label))


def _record(
    seen: dict[int, str], start: int, delimiter: str | None, label: str
) -> list[str] | None:
    """The fields of the CSV record starting at line `start`, read from the lines `seen` (a
    quoted field may hold newlines); None when its delimiter is not known."""
    if start not in seen:
        return None
    found = delimiter or delimiters_in(seen[start]) or ","
    if len(found) > 1:
        return None
    following = (seen[n] for n in range(start, max(seen) + 1) if n in seen)
    try:
        return clean_names(next(csv.reader(following, delimiter=found, strict=True), []))
    except csv.Error as err:
        problem = (
            "unterminated quoted field" if "end of data" in str(err) else f"malformed CSV ({err})"
        )
        raise InputError(f"cannot read {label}: header row at line {start}: {problem}") from None


def _next_line(readline: Callable[[int], str], number: int, enc: Encoding, label: str) -> str:
    """Line `number`, read while looking for the header."""
    try:
        return read_line(readline)
    except LineTooLong:
        raise InputError(
            f"cannot read {label}: line {number} is over {LINE_LIMIT:,} characters, above any "
            "header"
        ) from None
    except Undecodable as err:
        raise undecodable(label, err, number, enc.shown) from None
    except READ_ERRORS as err:
        raise InputError(f"cannot read {label}: {reason(err)}") from None


def _header_names(reader: CsvReader, header: Header, enc: Encoding, opts: ReadOptions) -> list[str]:
    """The header record's names, read by the CSV reader (a quoted name may hold a newline)."""
    try:
        fields, problem = csv_header(reader)
    except READ_ERRORS as err:
        raise InputError(f"cannot read {opts.label}: {reason(err)}") from None
    except Undecodable as err:
        raise undecodable(opts.label, err, reader.reached(), enc.shown) from None
    if fields is None:
        raise InputError(f"cannot read {opts.label}: header row at line {header.line}: {problem}")
    return clean_names(fields)
