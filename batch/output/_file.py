"""Output files: created 0600, locked against a second run, one whole record per write.

Durability policy (README "Crash safety"): every record is handed to the
kernel with one ``write()`` as soon as it exists, so a killed process loses
nothing it produced and can leave at most a torn last line (a crash of the
machine itself can lose what the kernel had not yet stored); ``fsync`` runs at
most once a second and when the file is closed.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
import sys
import time
from collections.abc import Callable, Iterator
from typing import BinaryIO

from batch.engine import Busy, ConfigError

__all__ = ["OutputFile", "holder_pid"]

FSYNC_INTERVAL = 1.0


class OutputFile:
    """A text file written line by line (or standard output for ``-``)."""

    def __init__(
        self,
        path: str,
        *,
        append: bool,
        warn: Callable[[str, dict[str, object]], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self._clock = clock
        self._last_sync = clock()
        self._dirty = False
        self._stream: BinaryIO | None = None
        self._fd = -1
        if path == "-":
            self._stream = sys.stdout.buffer
            return
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise ConfigError(f"cannot write {path!r}: {exc.strerror}") from None
        try:
            mode = os.fstat(fd).st_mode
            if not stat.S_ISREG(mode):
                raise ConfigError(f"cannot write {path!r}: not a regular file")
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                pid = holder_pid(fd)
                who = f"another run (pid {pid})" if pid else "another run"
                raise Busy(
                    f"{path!r} is being written by {who}; wait for it to finish "
                    f"or choose another --output"
                ) from None
            if mode & 0o077 and warn is not None:
                warn(
                    "output_file_permissions",
                    {"path": path, "mode": oct(stat.S_IMODE(mode)), "fix": f"chmod 600 {path}"},
                )
            if not append:
                os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_END)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    @property
    def size(self) -> int:
        return os.fstat(self._fd).st_size if self._fd >= 0 else 0

    def read_lines(self, end: int) -> Iterator[bytes]:
        """The file's lines up to byte ``end`` (for --resume), read through a second handle."""
        if self._fd < 0:
            return
        with open(self.path, "rb") as handle:
            left = end
            for line in handle:
                if left <= 0:
                    return
                yield line[:left]
                left -= len(line)

    def read_from(self, start: int, limit: int = 1 << 20) -> bytes:
        """Bytes of the file from ``start`` (at most ``limit``)."""
        with open(self.path, "rb") as handle:
            handle.seek(start)
            return handle.read(limit)

    def whole_lines_end(self) -> int:
        """Where the last whole line ends: past it is a line torn by a crash (no newline)."""
        size = self.size
        if size == 0:
            return 0
        with open(self.path, "rb") as handle:
            block = 4096
            position = size
            while position > 0:
                start = max(position - block, 0)
                handle.seek(start)
                chunk = handle.read(position - start)
                if position == size and chunk.endswith(b"\n"):
                    return size
                newline = chunk.rfind(b"\n")
                if newline >= 0:
                    keep = start + newline + 1
                    break
                position = start
            else:
                keep = 0
        return keep

    def truncate(self, end: int) -> None:
        os.ftruncate(self._fd, end)
        os.lseek(self._fd, 0, os.SEEK_END)

    def write(self, text: str) -> None:
        data = text.encode("utf-8", "surrogateescape")
        if self._stream is not None:
            self._stream.write(data)
            self._stream.flush()
            return
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        self._dirty = True

    def sync_due(self) -> bool:
        """Whether records written since the last fsync have waited long enough for one."""
        return self._dirty and self._clock() - self._last_sync >= FSYNC_INTERVAL

    def sync(self) -> None:
        """fsync what was written (blocking: the writer calls it from a worker thread)."""
        if self._fd >= 0 and self._dirty:
            os.fsync(self._fd)
            self._dirty = False
        self._last_sync = self._clock()

    def close(self) -> None:
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                self.sync()
            os.close(self._fd)
            self._fd = -1
        elif self._stream is not None:
            with contextlib.suppress(OSError, ValueError):
                self._stream.flush()


def holder_pid(fd: int) -> int | None:
    """The pid holding an flock on the file behind ``fd``, from /proc/locks (Linux), if any."""
    info = os.fstat(fd)
    inode = f"{os.major(info.st_dev):02x}:{os.minor(info.st_dev):02x}:{info.st_ino}"
    try:
        with open("/proc/locks", encoding="ascii") as locks:
            for line in locks:
                parts = line.split()
                # "1: FLOCK  ADVISORY  WRITE 12345 08:01:1234567 0 EOF"
                if len(parts) >= 6 and parts[1] == "FLOCK" and parts[5] == inode:
                    return int(parts[4]) if parts[4].isdigit() else None
    except OSError:
        return None
    return None
