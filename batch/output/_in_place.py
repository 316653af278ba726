"""A results file deleted (or its folder) while the run writes it: its records put back.

A tmp cleaner or an operator may remove the results file, or its whole folder,
mid-run. The run still holds the file open, so every record is still readable
through its descriptor; but when the run ends the descriptor closes and the
records are gone, though the summary says "results: out.jsonl". So the writer
checks, at each fsync and at the end, that PATH is still the file it writes.
When it is not:

- PATH is free (the file, or its folder, was deleted): the folder is made again
  and the records are copied into a new file, linked at PATH only once whole
  (a reader never sees half of it); the run goes on writing there;
- PATH holds another file (replaced by someone, or a second run): nothing is
  overwritten; the records are copied into a rescue file beside it (or in the
  working directory, or the temporary directory), and the run is told to stop,
  with where they are.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile

__all__ = ["Displaced", "displaced", "put_back", "rescue"]

_CHUNK = 1 << 20


class Displaced(Exception):
    """PATH no longer holds the results, and they could not be put back there: they are
    in ``where``, and the run must stop (no more IDs)."""

    def __init__(self, message: str, where: str) -> None:
        super().__init__(message)
        self.message = message
        self.where = where


def displaced(fd: int, path: str) -> bool:
    """Whether ``path`` no longer names the file open as ``fd``."""
    try:
        named = os.stat(path)
    except OSError:
        return True
    mine = os.fstat(fd)
    return (mine.st_dev, mine.st_ino) != (named.st_dev, named.st_ino)


def put_back(fd: int, path: str, end: int) -> int:
    """Copy the first ``end`` bytes of ``fd`` into a new file at ``path`` (its folder made
    again if need be), locked; its descriptor. OSError if ``path`` is taken or cannot be
    written (nothing is then left there)."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, mode=0o700, exist_ok=True)
    temp = os.path.join(folder, f".{os.path.basename(path)}.{os.getpid()}.restore")
    new = _copy_to(fd, end, temp)
    try:
        os.link(temp, path)  # never replaces: a file made there meanwhile is left alone
    except BaseException:
        os.close(new)
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    os.unlink(temp)
    with contextlib.suppress(OSError):
        dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    return new


def rescue(fd: int, path: str, end: int) -> tuple[int, str]:
    """Copy the first ``end`` bytes of ``fd`` into a new file of their own: beside ``path``,
    else in the working directory, else the temporary directory. Its descriptor and
    name; OSError if none of them can take it."""
    name = f"{os.path.basename(path)}.rescued-{os.getpid()}"
    last: OSError | None = None
    for folder in (os.path.dirname(os.path.abspath(path)), os.getcwd(), tempfile.gettempdir()):
        where = os.path.join(folder, name)
        try:
            return _copy_to(fd, end, where), where
        except OSError as exc:
            last = exc
    assert last is not None
    raise last


def _copy_to(fd: int, end: int, where: str) -> int:
    """A new file at ``where`` (0600, locked) holding the first ``end`` bytes of ``fd``,
    fsynced, positioned at its end; its descriptor."""
    new = os.open(where, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(new, fcntl.LOCK_EX | fcntl.LOCK_NB)
        offset = 0
        while offset < end:
            chunk = os.pread(fd, min(_CHUNK, end - offset), offset)
            if not chunk:
                break
            view = memoryview(chunk)
            while view:
                view = view[os.write(new, view) :]
            offset += len(chunk)
        os.fsync(new)
    except BaseException:
        os.close(new)
        with contextlib.suppress(OSError):
            os.unlink(where)
        raise
    return new
