"""The input's bytes before any format: open it, gunzip it, tell what it is and its encoding.

Nothing here reads ahead by hand: a `BufferedReader`'s `peek` (a file, standard input, a
`GzipFile`) shows the first bytes without consuming them. On a pipe `peek` makes at most one
read, so what it shows is what the writer has sent so far (at least one byte).
"""

from __future__ import annotations

import codecs
import contextlib
import gzip
import io
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, BinaryIO, cast

from batch.engine import InputError
from batch.input._formats import READ_ERRORS, reason

__all__ = ["Encoding", "Head", "detect_encoding", "kind_of", "looks_like", "open_binary"]

BUFFER = 1 << 16
_GZIP_MAGIC = b"\x1f\x8b"
_ZIP_MAGIC = b"PK\x03\x04"
_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig", "UTF-8 with BOM"),
    (codecs.BOM_UTF16_LE, "utf-16", "UTF-16 LE with BOM"),
    (codecs.BOM_UTF16_BE, "utf-16", "UTF-16 BE with BOM"),
)


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


@dataclass(frozen=True, slots=True)
class Encoding:
    """The codec to decode with, and how to name it to a person."""

    codec: str
    shown: str

    @property
    def utf8(self) -> bool:
        return self.codec in ("utf-8", "utf-8-sig")


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
        yield file


def detect_encoding(first: bytes, given: str | None, label: str) -> Encoding:
    """The encoding: `given`, else from a BOM, else UTF-8; UTF-16 without a BOM is refused."""
    if given:
        try:
            name = codecs.lookup(given).name
        except LookupError:
            raise InputError(
                f"unknown encoding {given!r} (examples: utf-8, cp1252, utf-16-le)"
            ) from None
        return Encoding(name, given)
    for bom, codec, shown in _BOMS:
        if first.startswith(bom):
            return Encoding(codec, shown)
    sample = first[:512]
    if len(sample) >= 4:
        odd_nuls = sample[1::2].count(0) / (len(sample) // 2)
        even_nuls = sample[0::2].count(0) / ((len(sample) + 1) // 2)
        for nuls, other, endian in ((odd_nuls, even_nuls, "le"), (even_nuls, odd_nuls, "be")):
            if nuls > 0.5 and other < 0.1:
                raise InputError(
                    f"cannot read {label}: it looks like UTF-16 without a BOM; "
                    f"pass --encoding utf-16-{endian}"
                )
    return Encoding("utf-8", "UTF-8")


def looks_like(first: bytes, encoding: Encoding) -> str:
    """What text starting with `first` looks like, for a message: CSV, JSON lines, JSON array."""
    text = first[:4096].decode(encoding.codec, errors="ignore").lstrip()
    if text.startswith("{"):
        return "JSON lines"
    if text.startswith("["):
        return "a JSON array"
    return "CSV text"
