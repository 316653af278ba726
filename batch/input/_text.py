"""Text inputs: decide the encoding, then read them as a JSON array, JSON lines or CSV.

The format is the one given or named; else the content says it: `[` starts a JSON array,
`{` JSON lines, anything else is CSV. A `.json` file that holds JSON lines (as many
exporters write) is read as what it is.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Generator, Iterator

from batch.engine import InputError
from batch.input._bytes import Head, looks_like
from batch.input._csv_open import open_csv
from batch.input._encoding import SAMPLE, Encoding, decide_encoding, not_utf8_at
from batch.input._formats import (
    LINE_LIMIT,
    READ_ERRORS,
    FirstLine,
    LineTooLong,
    Row,
    Undecodable,
    read_line,
    reason,
    undecodable,
)
from batch.input._json_array import json_array_rows
from batch.input._jsonl import JsonKeys, jsonl_rows
from batch.input._key_check import require_key
from batch.input._options import ReadOptions
from batch.input._rows import InputInfo, Rows
from batch.input._total import text_total

__all__ = ["open_text"]


def open_text(head: Head, opts: ReadOptions) -> Rows:
    """The rows of a text input (CSV, JSON lines, a JSON array)."""
    enc = _encoding(head, opts)
    shape = looks_like(head.first, enc)
    fmt = opts.fmt
    if fmt is None and shape == "a JSON array":
        fmt = "json"
    elif fmt == "json" and not opts.given and shape == "JSON lines":
        fmt = "jsonl"  # JSON lines named .json, as many exporters do: read as what it is
    if fmt == "json":
        return _json(head, enc, opts)
    text = io.TextIOWrapper(
        head.stream, encoding=enc.codec, errors="surrogateescape", newline=""
    )  # not closed: closing it would close the stream, which open_binary owns (or stdin)
    start = _first_line(text.readline, enc, opts.label)
    begins = start.line.lstrip()[:1]
    if fmt is None and begins == "[":
        raise InputError(
            f"cannot tell the format of {opts.label}: it starts with '[' (a JSON array, not "
            "JSON lines); pass --input-format json"
        )
    if fmt == "jsonl" or (fmt is None and begins == "{"):
        return _jsonl(text, start, head, enc, opts)
    return open_csv(text, start, head, enc, opts)


def _encoding(head: Head, opts: ReadOptions) -> Encoding:
    """The text's encoding; a JSON array must be UTF-8 (nothing is detected for it)."""
    array = opts.fmt in (None, "json") and head.first.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"["
    bad = not_utf8_at(head.first[:SAMPLE]) if array and opts.encoding is None else None
    if bad is not None:
        line = head.first.count(b"\n", 0, bad) + 1
        raise InputError(
            f"cannot read {opts.label}: a JSON array is read as UTF-8 (as JSON must be), and "
            f"line {line:,} holds the byte 0x{head.first[bad]:02X}, which is not UTF-8; convert "
            "it with: iconv -f ENCODING -t utf-8"
        )
    return decide_encoding(head.first, opts.encoding, opts.label)


def _first_line(readline: Callable[[int], str], enc: Encoding, label: str) -> FirstLine:
    blank = 0
    try:
        while (line := read_line(readline)) and line.isspace():
            blank += 1
    except LineTooLong:
        raise InputError(
            f"cannot read {label}: line {blank + 1} is over {LINE_LIMIT:,} characters"
        ) from None
    except Undecodable as err:
        raise undecodable(label, err, blank + 1, enc.shown) from None
    except READ_ERRORS as err:
        raise InputError(f"cannot read {label}: {reason(err)}") from None
    return FirstLine(line, blank)


def _no_header_row(fmt: str, opts: ReadOptions) -> None:
    if opts.header_row is not None:
        raise InputError(f"--header-row is for CSV and spreadsheets, not {fmt}")


def _jsonl(
    text: io.TextIOWrapper, start: FirstLine, head: Head, enc: Encoding, opts: ReadOptions
) -> Rows:
    _no_header_row("JSON lines", opts)
    if not start.line:
        raise InputError(f"{opts.label} is empty: expected JSON lines with a '{opts.id_field}' key")
    keys = JsonKeys(opts.id_field, opts.keep)
    rows = jsonl_rows(text.readline, keys, opts.label, enc.shown, start)
    checked = require_key(rows, keys.seen, opts.label, opts.id_field)
    info = InputInfo("jsonl", opts.id_field, opts.id_field, encoding=enc.described, gzip=head.gzip)
    total = text_total(opts.source, gzip=head.gzip, sample=head.first, before=0)
    return Rows(checked, info, text, total)


def _json(head: Head, enc: Encoding, opts: ReadOptions) -> Rows:
    _no_header_row("a JSON array", opts)
    if not enc.utf8:
        raise InputError(
            f"cannot read {opts.label}: a JSON array is read as UTF-8 (as JSON must be), "
            f"not {enc.shown}; convert it with: iconv -f {enc.codec} -t utf-8"
        )
    if head.first.startswith(b"\xef\xbb\xbf"):
        head.stream.read(3)
    keys = JsonKeys(opts.id_field, opts.keep)
    rows = require_key(
        json_array_rows(head.stream, keys, opts.label), keys.seen, opts.label, opts.id_field
    )
    first = next(rows, None)  # an empty array is refused here, before any call
    if first is None:
        raise InputError(f"{opts.label} holds no element: expected a JSON array of objects")
    info = InputInfo("json", opts.id_field, opts.id_field, encoding=enc.described, gzip=head.gzip)
    key = b'"' + opts.id_field.rsplit(".", 1)[-1].encode() + b'"'
    total = text_total(opts.source, gzip=head.gzip, sample=head.first, before=0, key=key)
    return Rows(_chain(first, rows), info, None, total)


def _chain(first: Row, rest: Iterator[Row]) -> Generator[Row, None, None]:
    yield first
    yield from rest
