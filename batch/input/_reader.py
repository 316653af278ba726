"""Stream the ID field out of an input file or standard input, one record at a time.

`open_rows` opens a path or standard input, decompresses gzip (by name or by its magic bytes),
decides the format (given, from the name, or from the content: a zip is a workbook, `[` a JSON
array, `{` JSON lines, anything else CSV), the encoding (`batch.input._encoding`), and for CSV
and workbooks where the header is (`batch.input._header`) and, for CSV, the delimiter. It
yields `Rows`: an iterator of `Row`s with `info`, what was understood. Whatever makes the
input unreadable as a whole is an `InputError` raised before that, except damage found later
(a gzip stream or a JSON array cut short, a line that does not decode), which the iterator
raises with the line or element reached. A record without a usable ID is a `Row` with a
`problem`, a blank one a `Row` with problem `BLANK`, and reading goes on.

`Row.line` counts physical lines of the decompressed input from 1, header and what is above
it included (a sheet's row number for a workbook, the element's position for a JSON array).
How CSV quoting errors, NUL bytes and over-long fields and lines behave: see
`batch.input._csv`.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Iterator
from typing import BinaryIO, TypedDict, Unpack, cast

from batch.engine import InputError
from batch.input._bytes import Head, looks_like, open_binary
from batch.input._encoding import decide_encoding
from batch.input._formats import Row
from batch.input._options import ReadOptions
from batch.input._rows import FORMATS, Format, InputInfo, Rows, Total
from batch.input._sheets import SheetRequest, open_sheet
from batch.input._text import open_text

__all__ = ["FORMATS", "Format", "InputInfo", "Reading", "Row", "Rows", "guess_format", "open_rows"]

_SUFFIXES: dict[str, Format] = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
    ".ods": "ods",
}
_SHEETS = ("xlsx", "ods")
_TEXT_HINT = {"CSV text": "csv", "JSON lines": "jsonl", "a JSON array": "json"}


def guess_format(name: str) -> Format | None:
    """The format a file name announces (`.csv`, `.tsv`, `.jsonl`, `.json`, `.xlsx`, …, maybe `.gz`)."""
    lower = name.lower().removesuffix(".gz")
    for suffix, fmt in _SUFFIXES.items():
        if lower.endswith(suffix):
            return fmt
    return None


class Reading(TypedDict, total=False):
    """How to read an input, beyond its format and ID field (`open_rows`'s keywords)."""

    delimiter: str | None
    encoding: str | None
    sheet: str | None
    keep_columns: tuple[str, ...]
    header_row: int | None
    parse_key: Callable[[str], object] | None


@contextlib.contextmanager
def open_rows(
    source: str,
    *,
    fmt: str | None,
    id_field: str,
    stdin: BinaryIO | None = None,
    **reading: Unpack[Reading],
) -> Iterator[Rows]:
    """Open `source` (a path, or "-" for `stdin` / standard input) and yield its rows.

    Each row carries the `keep_columns` of its record (`Row.columns`). `header_row` forces
    the header's line (row); `parse_key` (the job's: ValueError for what is not a key) lets
    a list of IDs without header be read as such. Raises `InputError` before yielding when
    the input cannot be read as its format at all.
    """
    if fmt is not None and fmt not in FORMATS:
        raise InputError(f"unknown input format {fmt!r}: expected one of {', '.join(FORMATS)}")
    header_row = reading.get("header_row")
    if header_row is not None and header_row < 1:
        raise InputError(f"--header-row {header_row}: lines and rows are numbered from 1")
    named = cast("Format | None", fmt) or guess_format(source)
    opts = ReadOptions(
        source,
        "standard input" if source == "-" else f"'{source}'",
        id_field,
        fmt=named,
        given=fmt is not None,
        guessed=named is None,
        delimiter=reading.get("delimiter"),
        encoding=reading.get("encoding"),
        sheet=reading.get("sheet"),
        header_row=header_row,
        keep=reading.get("keep_columns", ()),
        parse_key=reading.get("parse_key"),
    )
    with open_binary(source, opts.label, stdin) as head:
        rows = _open(head, opts)
        try:
            yield rows
        finally:
            rows.close()
            if rows.text is not None and source != "-":
                # Not for standard input: a reader thread abandoned on Ctrl-C may still hold
                # the buffer's lock, and closing would wait for it (for ever on a quiet pipe).
                rows.text.close()


def _open(head: Head, opts: ReadOptions) -> Rows:
    fmt = _container(head, opts)
    if opts.sheet is not None and fmt not in _SHEETS:
        raise InputError(f"--sheet is for .xlsx and .ods workbooks, not {fmt or 'text'} input")
    if opts.delimiter is not None and fmt not in (None, "csv", "tsv"):
        raise InputError(f"--delimiter is for CSV input, not {fmt}")
    if fmt in _SHEETS:
        return _sheet(head, fmt, opts)
    return open_text(head, opts)


def _container(head: Head, opts: ReadOptions) -> Format | None:
    """The format, once the first bytes are checked against it: a zip is a workbook, a
    legacy .xls is refused, text named as a workbook is refused with what it looks like."""
    kind, fmt, label = head.kind(), opts.fmt, opts.label
    if kind == "ole2":
        raise InputError(
            f"cannot read {label}: it is a legacy Excel .xls or a password-protected workbook; "
            "save it as .xlsx (without a password) or as CSV"
        )
    if kind == "zip" and fmt not in (None, *_SHEETS):
        raise InputError(
            f"cannot read {label}: it is a zip file (a workbook?), not {fmt} text; "
            "pass --input-format xlsx or ods if it is a workbook"
        )
    if kind == "zip":
        return fmt or "xlsx"
    if fmt in _SHEETS:
        shape = looks_like(head.first, decide_encoding(head.first, opts.encoding, label))
        raise InputError(
            f"cannot read {label}: it is not a workbook (not a zip file); it looks like {shape}: "
            f"pass --input-format {_TEXT_HINT[shape]}"
        )
    return fmt


def _sheet(head: Head, fmt: Format, opts: ReadOptions) -> Rows:
    # calamine reads a path itself; a gzip or standard input is read into memory first (the
    # sheet's cells are loaded whole anyway).
    book = opts.source if opts.source != "-" and not head.gzip else io.BytesIO(head.stream.read())
    request = SheetRequest(
        opts.id_field,
        sheet=opts.sheet,
        header_row=opts.header_row,
        keep=opts.keep,
        is_key=opts.key_test,
    )
    opened = open_sheet(book, opts.label, request)
    header = opened.header
    info = InputInfo(
        fmt,
        opts.id_field,
        opened.column.name,
        opened.column.loose,
        sheet=opened.name,
        gzip=head.gzip,
        header_row=None if header.headerless else header.line,
        above=header.above,
        headerless=header.headerless,
        header_forced=header.forced,
        hidden_sheet=opened.chosen.hidden,
    )
    total = Total(opened.total, estimated=False)
    return Rows(opened.rows(opts.id_field), info, None, lambda: total)
