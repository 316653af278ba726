"""How many rows a text file on disk holds, for a progress bar's total (and so its ETA).

A plain file up to `COUNT_AT_MOST` bytes is counted (its newlines: about 0.1 s for 128 MiB
from the page cache); a larger one, or a gzip (whose size before compression its last four
bytes tell, modulo 4 GiB), is estimated: its size divided by the mean length of a line in the
first 64 KiB. A JSON array's elements are estimated from how often the ID key appears in
that sample. Standard input has no size: no total. Lines are not rows where a quoted field
holds a newline: the total is a bar's, not a count to rely on.
"""

from __future__ import annotations

import os
import stat
import struct
from collections.abc import Callable

from batch.engine import count_lines
from batch.input._rows import Total

__all__ = ["COUNT_AT_MOST", "text_total"]

COUNT_AT_MOST = 128 << 20
_CHUNK = 1 << 20


def text_total(
    source: str, *, gzip: bool, sample: bytes, before: int, key: bytes | None = None
) -> Callable[[], Total | None]:
    """A function telling the rows of `source` below its first `before` lines (the header
    and what is above it): lines, or, with `key`, the elements of a JSON array holding it."""

    def total() -> Total | None:
        if source == "-":
            return None
        try:
            info = os.stat(source)
        except OSError:
            return None
        if not stat.S_ISREG(info.st_mode):
            return None
        if key is None and not gzip and info.st_size <= COUNT_AT_MOST:
            counted = _count(source)
            return None if counted is None else Total(max(counted - before, 0), estimated=False)
        size = _gzip_size(source, info.st_size) if gzip else info.st_size
        return _estimate(size, sample, before, key)

    return total


def _count(path: str) -> int | None:
    try:
        with open(path, "rb") as handle:
            return count_lines(iter(lambda: handle.read(_CHUNK), b""))
    except OSError:
        return None


def _gzip_size(path: str, compressed: int) -> int | None:
    """The size before compression a gzip file's trailer gives (of its last member)."""
    if compressed < 18:  # a gzip header and trailer
        return None
    try:
        with open(path, "rb") as handle:
            handle.seek(-4, os.SEEK_END)
            (size,) = struct.unpack("<I", handle.read(4))
    except (OSError, struct.error):
        return None
    return int(size)


def _estimate(size: int | None, sample: bytes, before: int, key: bytes | None) -> Total | None:
    if not size or len(sample) > size:  # a gzip over 4 GiB (or of several members)
        return None
    per_record = sample.count(key) if key is not None else sample.count(b"\n")
    if per_record == 0:
        return None
    return Total(max(round(size * per_record / len(sample)) - before, 0), estimated=True)
