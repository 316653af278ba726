"""A file read as it was when opened: what is appended to it meanwhile is not read.

A run may write into its own input: a job whose successes end another job's records
(`Job.ends`) is given that job's results file as input and appends an ``ended`` record to
it for each success. Those lines are not rows of the input: read, each would be a repeat of
an ID already done. So a regular file is read up to its size at the moment it was opened;
pipes, terminals and standard input have no such size and are read to their end.
"""

from __future__ import annotations

import io
import os
import stat
from typing import Any

__all__ = ["as_opened"]


class _UpTo(io.RawIOBase):
    """The first ``size`` bytes of ``raw`` (the file's unbuffered reader, not closed here)."""

    def __init__(self, raw: io.RawIOBase, size: int) -> None:
        super().__init__()
        self._raw = raw
        self._left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:  # Any: a writable buffer, as io's own signature
        if self._left <= 0:
            return 0
        with memoryview(buffer) as view:
            got = self._raw.readinto(view[: self._left]) or 0
        self._left -= got
        return got


def as_opened(file: io.BufferedReader, buffer_size: int) -> io.BufferedReader:
    """``file`` (just opened, nothing read yet) as it is now: a regular file up to its
    current size, anything else as it is."""
    info = os.fstat(file.fileno())
    if not stat.S_ISREG(info.st_mode):
        return file
    raw = file.raw
    assert isinstance(raw, io.RawIOBase)
    return io.BufferedReader(_UpTo(raw, info.st_size), buffer_size)
