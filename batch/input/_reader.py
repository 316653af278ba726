"""Stream the ID field out of an input file or standard input, one record at a time.

`open_rows` opens a path or standard input, decompresses gzip (by name or by its magic bytes),
decides the format (given, from the name, or from the content: a zip is a workbook, `[` a JSON
array, `{` JSON lines, anything else CSV), the encoding (given, else a BOM's, else UTF-8) and,
for CSV, the delimiter (given, `.tsv` = tab, else from the header line). It yields `Rows`: an
iterator of `Row`s with `info`, what was understood. Whatever makes the input unreadable as a
whole is an `InputError` raised before that, except damage found later (a gzip stream or a JSON
array cut short), which the iterator raises with the line or element reached. A record without
a usable ID is a `Row` with a `problem`, a blank one a `Row` with problem `BLANK`, and reading
goes on.

Text is decoded with `errors="surrogateescape"`, so bad bytes never stop the run: a row whose
ID holds them gets "not valid UTF-8". Lines are LF or CRLF (a lone CR also ends a line);
`Row.line` counts physical lines of the decompressed input from 1, header included (a sheet's
row number for a workbook, the element's position for a JSON array). How CSV quoting errors,
NUL bytes and over-long fields and lines behave: see `batch.input._formats`.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Generator, Iterator
from typing import BinaryIO, cast

from batch.engine import InputError
from batch.input._bytes import Head, detect_encoding, looks_like, open_binary
from batch.input._columns import (
    CANDIDATES,
    clean_names,
    detect_delimiter,
    find_id_column,
    keep_columns,
)
from batch.input._formats import (
    LINE_LIMIT,
    READ_ERRORS,
    Row,
    csv_header,
    csv_rows,
    jsonl_rows,
    reason,
)
from batch.input._json_array import json_array_rows
from batch.input._key_check import require_key
from batch.input._rows import FORMATS, Format, InputInfo, Rows
from batch.input._sheets import open_sheet

__all__ = ["FORMATS", "Format", "InputInfo", "Row", "Rows", "guess_format", "open_rows"]

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


@contextlib.contextmanager
def open_rows(
    source: str,
    *,
    fmt: str | None,
    id_field: str,
    stdin: BinaryIO | None = None,
    delimiter: str | None = None,
    encoding: str | None = None,
    sheet: str | None = None,
    keep_columns: tuple[str, ...] = (),
) -> Iterator[Rows]:
    """Open `source` (a path, or "-" for `stdin` / standard input) and yield its rows.

    Each row carries the `keep_columns` of its record (`Row.columns`). Raises `InputError`
    before yielding when the input cannot be read as its format at all.
    """
    if fmt is not None and fmt not in FORMATS:
        raise InputError(f"unknown input format {fmt!r}: expected one of {', '.join(FORMATS)}")
    label = "standard input" if source == "-" else f"'{source}'"
    named = cast("Format | None", fmt) or guess_format(source)
    with open_binary(source, label, stdin) as head:
        rows = _open(
            head,
            source=source,
            label=label,
            fmt=named,
            guessed=named is None,
            given=fmt is not None,
            id_field=id_field,
            delimiter=delimiter,
            encoding=encoding,
            sheet=sheet,
            keep=keep_columns,
        )
        try:
            yield rows
        finally:
            rows.close()
            if rows.text is not None and source != "-":
                # Not for standard input: a reader thread abandoned on Ctrl-C may still hold
                # the buffer's lock, and closing would wait for it (for ever on a quiet pipe).
                rows.text.close()


def _open(
    head: Head,
    *,
    source: str,
    label: str,
    fmt: Format | None,
    guessed: bool,
    given: bool,
    id_field: str,
    delimiter: str | None,
    encoding: str | None,
    sheet: str | None,
    keep: tuple[str, ...],
) -> Rows:
    kind = head.kind()
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
        fmt = fmt or "xlsx"
    elif fmt in _SHEETS:
        shape = looks_like(head.first, detect_encoding(head.first, encoding, label))
        raise InputError(
            f"cannot read {label}: it is not a workbook (not a zip file); it looks like {shape}: "
            f"pass --input-format {_TEXT_HINT[shape]}"
        )
    if sheet is not None and fmt not in _SHEETS:
        raise InputError(f"--sheet is for .xlsx and .ods workbooks, not {fmt or 'text'} input")
    if delimiter is not None and fmt not in (None, "csv", "tsv"):
        raise InputError(f"--delimiter is for CSV input, not {fmt}")
    if fmt in _SHEETS:
        return _sheet(
            head, source=source, label=label, fmt=fmt, id_field=id_field, sheet=sheet, keep=keep
        )
    enc = detect_encoding(head.first, encoding, label)
    shape = looks_like(head.first, enc)
    if fmt is None and shape == "a JSON array":
        fmt = "json"
    elif fmt == "json" and not given and shape == "JSON lines":
        fmt = "jsonl"  # JSON lines named .json, as many exporters do: read as what it is
    if fmt == "json":
        if not enc.utf8:
            raise InputError(
                f"cannot read {label}: a JSON array is read as UTF-8 (as JSON must be), "
                f"not {enc.shown}; convert it with: iconv -f {enc.codec} -t utf-8"
            )
        return _json(head, label, id_field, enc.shown, keep)
    text = io.TextIOWrapper(
        head.stream, encoding=enc.codec, errors="surrogateescape", newline=""
    )  # not closed: closing it would close the stream, which open_binary owns (or stdin)
    readline = text.readline
    bad_text = "not valid UTF-8" if enc.utf8 else f"not valid {enc.shown}"
    if enc.utf8 and encoding is None:
        bad_text += " (pass --encoding if the file is in another encoding, e.g. cp1252)"
    try:
        skipped = 0
        while (first := readline(LINE_LIMIT)) and first.isspace():
            skipped += 1
    except READ_ERRORS as err:
        raise InputError(f"cannot read {label}: {reason(err)}") from None
    start = first.lstrip()[:1]
    if fmt is None and start == "[":
        raise InputError(
            f"cannot tell the format of {label}: it starts with '[' (a JSON array, not "
            "JSON lines); pass --input-format json"
        )
    if fmt == "jsonl" or (fmt is None and start == "{"):
        if not first:
            raise InputError(f"{label} is empty: expected JSON lines with a '{id_field}' key")
        seen: dict[str, int] = {}
        rows = require_key(
            jsonl_rows(
                readline, id_field, label, bad_text, first=first, line=skipped, keep=keep, seen=seen
            ),
            seen,
            label,
            id_field,
        )
        info = InputInfo("jsonl", id_field, id_field, encoding=enc.shown, gzip=head.gzip)
        return Rows(rows, info, text)
    if fmt == "tsv" and delimiter is None:
        delimiter = "\t"
    return _csv(
        first,
        text=text,
        skipped=skipped,
        readline=readline,
        label=label,
        id_field=id_field,
        delimiter=delimiter,
        shown=enc.shown,
        bad_text=bad_text,
        head=head,
        guessed=guessed,
        keep=keep,
    )


def _sheet(
    head: Head,
    *,
    source: str,
    label: str,
    fmt: Format,
    id_field: str,
    sheet: str | None,
    keep: tuple[str, ...],
) -> Rows:
    # calamine reads a path itself; a gzip or standard input is read into memory first (the
    # sheet's cells are loaded whole anyway).
    book = source if source != "-" and not head.gzip else io.BytesIO(head.stream.read())
    opened = open_sheet(book, label, sheet, id_field, keep)
    info = InputInfo(
        fmt,
        id_field,
        opened.column.name,
        opened.column.loose,
        sheet=opened.name,
        gzip=head.gzip,
    )
    return Rows(opened.rows(id_field), info)


def _json(head: Head, label: str, id_field: str, shown: str, keep: tuple[str, ...]) -> Rows:
    if head.first.startswith(b"\xef\xbb\xbf"):
        head.stream.read(3)
    seen: dict[str, int] = {}
    rows = require_key(
        json_array_rows(head.stream, id_field, label, keep, seen), seen, label, id_field
    )
    first = next(rows, None)  # an empty array is refused here, before any call
    if first is None:
        raise InputError(f"{label} holds no element: expected a JSON array of objects")
    info = InputInfo("json", id_field, id_field, encoding=shown, gzip=head.gzip)
    return Rows(_chain(first, rows), info)


def _chain(first: Row, rest: Iterator[Row]) -> Generator[Row, None, None]:
    yield first
    yield from rest


def _csv(
    first: str,
    *,
    text: io.TextIOWrapper,
    skipped: int,
    readline: Callable[[int], str],
    label: str,
    id_field: str,
    delimiter: str | None,
    shown: str,
    bad_text: str,
    head: Head,
    guessed: bool,
    keep: tuple[str, ...],
) -> Rows:
    if not first:
        raise InputError(f"{label} is empty: expected a header row with a '{id_field}' column")
    if delimiter is None:
        delimiter = detect_delimiter(first, id_field, label)
    try:
        reader, header, problem = csv_header(readline, delimiter, first, skipped)
    except READ_ERRORS as err:
        raise InputError(f"cannot read {label}: {reason(err)}") from None
    if header is None:
        raise InputError(f"cannot read {label}: header row at line {skipped + 1}: {problem}")
    names = clean_names(header)
    guess = " (the format was guessed as CSV; pass --input-format if it is not)"
    column = find_id_column(names, id_field, label, missing_hint=guess if guessed else "")
    columns = keep_columns(names, keep, label)
    others = "".join(d for d in CANDIDATES if d != delimiter)
    # This tool's own errors or results file (a re-run of failed.csv): rows keep their line.
    ours = "line" in names and ("error_kind" in names or "status" in names)
    rows = csv_rows(
        reader,
        column.index,
        len(names),
        id_field,
        label,
        others=others,
        bad_text=bad_text,
        keep=columns,
        line_column=names.index("line") if ours else None,
    )
    fmt: Format = "tsv" if delimiter == "\t" else "csv"
    info = InputInfo(
        fmt,
        id_field,
        column.name,
        column.loose,
        encoding=shown,
        delimiter=delimiter,
        gzip=head.gzip,
    )
    return Rows(rows, info, text)
