"""The input's bytes before any format: open it, gunzip it, tell what it is.

Nothing here reads ahead by hand: a `BufferedReader`'s `peek` (a file, standard input, a
`GzipFile`) shows the first bytes without consuming them. On a pipe `peek` makes at most one
read, so what it shows is what the writer has sent so far (at least one byte).
"""

from __future__ import annotations

import contextlib
import gzip
import io
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, BinaryIO, cast

from batch.engine import InputError
from batch.input._as_opened import as_opened
from batch.input._encoding import SAMPLE, Encoding
from batch.input._formats import READ_ERRORS, reason

__all__ = ["BUFFER", "Head", "kind_of", "looks_like", "open_binary"]

BUFFER = SAMPLE  # what peek shows of the start: the encoding is decided on it
_GZIP_MAGIC = b"\x1f\x8b"
_ZIP_MAGIC = b"PK\x03\x04"
_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


if TYPE_CHECKING:
    _Peekable = io.BufferedReader[Any]


@dataclass(frozen=True, slots=True)
class Head:
    """The opened input: a peekable byte stream, whether it was gzip, and its first bytes."""

    stream: IO[bytes]
    gzip: bool
    first: bytes

    def kind(self) -> str:
        return kind_of(self.first)


def kind_of(first: bytes) -> str:
    """What the first bytes say the data is: "zip", "ole2" (legacy .xls, encrypted) or "text"."""
    if first.startswith(_ZIP_MAGIC):
        return "zip"
    if first.startswith(_OLE2_MAGIC):
        return "ole2"
    return "text"


@contextlib.contextmanager
def open_binary(source: str, label: str, stdin: BinaryIO | None) -> Iterator[Head]:
    """The input's bytes, gunzipped when they are gzip (by magic) or refused when named .gz."""
    with contextlib.ExitStack() as stack:
        raw = _stdin(stdin) if source == "-" else stack.enter_context(_open_file(source, label))
        try:
            is_gzip = raw.peek(2)[:2] == _GZIP_MAGIC
            if not is_gzip and source != "-" and source.lower().endswith(".gz"):
                raise InputError(f"cannot read {label}: not a gzip file")
            stream: IO[bytes] = raw
            if is_gzip:
                stream = cast(IO[bytes], stack.enter_context(gzip.GzipFile(fileobj=raw, mode="rb")))
            first = stream.peek(BUFFER)[:BUFFER] if hasattr(stream, "peek") else b""
        except READ_ERRORS as err:
            raise InputError(f"cannot read {label}: {reason(err)}") from None
        yield Head(stream, is_gzip, first)


def _stdin(stdin: BinaryIO | None) -> _Peekable:
    # Standard input is never closed: a reader thread abandoned on Ctrl-C may still hold the
    # buffer's lock, and closing would wait for it (for ever on a quiet pipe). A second file
    # object on the same descriptor with closefd=False reads it and leaves it open.
    stdin = stdin if stdin is not None else sys.stdin.buffer
    try:
        fd = stdin.fileno()
    except (OSError, ValueError, io.UnsupportedOperation):
        return io.BufferedReader(stdin, BUFFER)  # tests: a BytesIO
    return cast("_Peekable", open(fd, "rb", buffering=BUFFER, closefd=False))


@contextlib.contextmanager
def _open_file(path: str, label: str) -> Iterator[_Peekable]:
    try:
        file = cast("_Peekable", open(path, "rb", buffering=BUFFER))  # noqa: SIM115 - closed below
    except FileNotFoundError:
        raise InputError(f"cannot read {label}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"cannot read {label}: it is a directory") from None
    except PermissionError:
        raise InputError(f"cannot read {label}: permission denied") from None
    except OSError as err:
        raise InputError(f"cannot read {label}: {reason(err)}") from None
    with file:
        yield as_opened(file, BUFFER)


def looks_like(first: bytes, encoding: Encoding) -> str:
    """What text starting with `first` looks like, for a message: CSV, JSON lines, JSON array."""
    text = first[:4096].decode(encoding.codec, errors="ignore").lstrip()
    if text.startswith("{"):
        return "JSON lines"
    if text.startswith("["):
        return "a JSON array"
    return "CSV text"
