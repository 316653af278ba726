"""Stream the ID field out of a CSV or JSONL input, one record at a time.

`open_rows` opens a path or standard input, decompresses gzip (by name or by its magic bytes),
strips a UTF-8 BOM, picks the format (given, from the name, or sniffed from the first
non-blank byte: `{` is JSONL, anything else CSV), and yields an iterator of `Row`s. Whatever
makes the input unreadable as a whole is an `InputError` raised before that, except a gzip
stream found truncated or corrupt later on, which is raised by the iterator with the line
reached. A record without a usable ID is a `Row` with a `problem`, and reading goes on.

Text is decoded as UTF-8 with `errors="surrogateescape"`, so bad bytes never stop the run: a
row whose ID holds them gets "not valid UTF-8". Lines are LF or CRLF (a lone CR also ends a
line); `Row.line` counts physical lines of the decompressed input from 1, header included.
How CSV quoting errors, NUL bytes and over-long fields and lines behave: see
`batch.input._formats`.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import io
import itertools
import sys
from collections.abc import Generator, Iterator
from typing import IO, TYPE_CHECKING, BinaryIO, Literal, Protocol, get_args

from batch.engine import InputError
from batch.input._formats import (
    LINE_LIMIT,
    READ_ERRORS,
    Row,
    csv_header,
    csv_rows,
    jsonl_rows,
    reason,
)

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

__all__ = ["Format", "Row", "guess_format", "open_rows"]

Format = Literal["csv", "jsonl"]

_SUFFIXES: dict[str, Format] = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
_GZIP_MAGIC = b"\x1f\x8b"
_BOM = b"\xef\xbb\xbf"
_BLANK = b" \t\r\n"
_SNIFF_LIMIT = 1 << 20


class _Readable(Protocol):
    def read(self, size: int, /) -> bytes: ...


def guess_format(name: str) -> Format | None:
    """The format a file name announces (`.csv`, `.jsonl`, `.ndjson`, each maybe `.gz`)."""
    lower = name.lower().removesuffix(".gz")
    for suffix, fmt in _SUFFIXES.items():
        if lower.endswith(suffix):
            return fmt
    return None


@contextlib.contextmanager
def open_rows(
    source: str,
    *,
    fmt: Format | None,
    id_field: str,
    stdin: BinaryIO | None = None,
    keep_columns: tuple[str, ...] = (),
) -> Iterator[Iterator[Row]]:
    """Open `source` (a path, or "-" for `stdin` / standard input) and yield its rows.

    Each row carries the `keep_columns` of its record (`Row.columns`). Raises
    `InputError` before yielding when the input cannot be read as its format at all.
    """
    if fmt is not None and fmt not in get_args(Format):
        raise InputError(f"unknown input format {fmt!r}: expected csv or jsonl")
    label = "standard input" if source == "-" else f"'{source}'"
    with contextlib.ExitStack() as stack:
        if source == "-":
            raw: IO[bytes] = stdin if stdin is not None else sys.stdin.buffer
        else:
            raw = stack.enter_context(_open_file(source, label))
        gz_name = source != "-" and source.lower().endswith(".gz")
        try:
            fmt = fmt or guess_format(source)
            text, sniffed = _decode(raw, label, gz_name, sniff=fmt is None)
        except READ_ERRORS as err:
            raise InputError(f"cannot read {label}: {reason(err)}") from None
        if source != "-":
            # Not for standard input: a reader thread abandoned on Ctrl-C may still hold
            # the buffer's lock, and closing would wait for it (for ever on a quiet pipe).
            stack.callback(text.close)
        guessed = fmt is None
        if guessed and sniffed == "json-array":
            raise InputError(
                f"cannot tell the format of {label}: it starts with '[' (a JSON array, not "
                "JSON lines); pass --input-format csv or jsonl, or convert it with: jq -c '.[]'"
            )
        pieces = iter(functools.partial(text.readline, LINE_LIMIT), "")
        rows: Generator[Row, None, None]
        if (fmt or sniffed) == "jsonl":
            rows = jsonl_rows(pieces, id_field, label, keep_columns)
            stack.callback(_close, rows)
            first = next(rows, None)  # an empty file is refused here, before any call
            if first is None:
                raise InputError(f"{label} is empty: expected JSON lines with a '{id_field}' key")
            yield itertools.chain([first], rows)
            return
        rows = _csv(pieces, label, id_field, guessed=guessed, keep=keep_columns)
        stack.callback(_close, rows)
        yield rows


@contextlib.contextmanager
def _open_file(path: str, label: str) -> Iterator[IO[bytes]]:
    try:
        file = open(path, "rb", buffering=0)  # noqa: SIM115 - closed by the with below
    except FileNotFoundError:
        raise InputError(f"cannot read {label}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"cannot read {label}: it is a directory") from None
    except PermissionError:
        raise InputError(f"cannot read {label}: permission denied") from None
    except OSError as err:
        raise InputError(f"cannot read {label}: {reason(err)}") from None
    with file:
        yield file


def _decode(
    raw: IO[bytes], label: str, gz_name: bool, *, sniff: bool
) -> tuple[io.TextIOWrapper, str]:
    """Gunzip if needed, drop a BOM, sniff the format; the text stream and the sniffed format."""
    stream: _Readable = raw
    head = _read(raw, 2)
    if head == _GZIP_MAGIC:
        stream = gzip.GzipFile(fileobj=_chain(head, raw), mode="rb")
        head = b""
    elif gz_name:
        raise InputError(f"cannot read {label}: not a gzip file")
    head += _read(stream, 3 - len(head))
    head = head.removeprefix(_BOM)
    while sniff and not head.lstrip(_BLANK) and len(head) < _SNIFF_LIMIT:
        chunk = stream.read(1 << 16)
        if not chunk:
            break
        head += chunk
    start = head.lstrip(_BLANK)[:1]
    sniffed = "jsonl" if start == b"{" else "json-array" if start == b"[" else "csv"
    text = io.TextIOWrapper(
        _chain(head, stream), encoding="utf-8", errors="surrogateescape", newline=""
    )
    text._CHUNK_SIZE = 1 << 16  # type: ignore[attr-defined]  # 8 KiB by default: 8% slower
    return text, sniffed


def _read(stream: _Readable, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = stream.read(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


class _Prefixed(io.RawIOBase):
    """A raw stream that serves `head`, then reads `rest` (which it never closes)."""

    def __init__(self, head: bytes, rest: _Readable) -> None:
        super().__init__()
        self._head = head
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        # read1: what is there now (one system call), not "until the buffer is full",
        # so rows arriving slowly on a pipe are handed on as they come.
        read = getattr(self._rest, "read1", self._rest.read)
        data = self._head or read(len(view))
        size = min(len(view), len(data))
        view[:size] = data[:size]
        self._head = self._head[size:]
        return size


def _chain(head: bytes, rest: _Readable) -> io.BufferedReader:
    return io.BufferedReader(_Prefixed(head, rest), buffer_size=1 << 16)


def _csv(
    pieces: Iterator[str],
    label: str,
    id_field: str,
    *,
    guessed: bool = False,
    keep: tuple[str, ...] = (),
) -> Generator[Row, None, None]:
    """Read the header now (raising InputError), then return the generator of body rows."""
    try:
        header, problem, line = csv_header(pieces)
    except READ_ERRORS as err:
        raise InputError(f"cannot read {label}: {reason(err)}") from None
    if header is None and not problem:
        raise InputError(f"{label} is empty: expected a header row with a '{id_field}' column")
    if header is None:
        raise InputError(f"cannot read {label}: header row at line {line}: {problem}")
    names = [name.strip(" \t\ufeff") for name in header]
    if id_field not in names:
        shown = ", ".join(_show(name) for name in names[:20])
        if len(names) > 20:
            shown += f", … ({len(names) - 20} more)"
        hint = (
            " (the format was guessed as CSV; pass --input-format if it is not)" if guessed else ""
        )
        raise InputError(f"{label} has no '{id_field}' column; columns found: {shown}{hint}")
    missing = [name for name in keep if name not in names]
    if missing:
        shown = ", ".join(_show(name) for name in names[:20])
        raise InputError(
            f"--keep-columns: {label} has no '{missing[0]}' column; columns found: {shown}"
        )
    columns = {name: names.index(name) for name in keep}
    return csv_rows(pieces, line, names.index(id_field), id_field, label, keep=columns or None)


def _show(name: str) -> str:
    if not name:
        return '""'
    shown = name if name.isprintable() else name.encode("unicode_escape").decode("ascii")
    return shown if len(shown) <= 40 else shown[:39] + "…"


def _close(rows: Generator[Row, None, None]) -> None:
    # A reader thread abandoned on Ctrl-C (standard input that never ends) may still be
    # inside the generator: it cannot be closed then, and the process is exiting anyway.
    with contextlib.suppress(ValueError):
        rows.close()
