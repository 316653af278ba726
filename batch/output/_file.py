"""Output files: created 0600, locked against a second run, one whole record per write.

Durability policy (README "Crash safety"): every record is handed to the
kernel with one ``write()`` as soon as it exists, so a killed process loses
nothing it produced and can leave at most a torn last line (a crash of the
machine itself can lose what the kernel had not yet stored); ``fsync`` runs at
most once a second and when the file is closed.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import os
import sys
import time
from collections.abc import Callable, Iterator
from typing import BinaryIO, Literal

from batch.engine import Busy, ConfigError, reason_of
from batch.output._atomic_file import sync_folder
from batch.output._in_place import Displaced, displaced, put_back, rescue
from batch.output._lock import open_locked
from batch.output._permissions import make_private
from batch.output._refuse_new import refuse_new
from batch.output._room import Room, reserve_room

__all__ = ["OutputFile", "Start"]

FSYNC_INTERVAL = 1.0


Start = Literal["new", "resume", "overwrite"]


class OutputFile:
    """A text file written line by line (or standard output for ``-``).

    ``start`` says what to do with records already in the file: ``new`` refuses
    a file that holds any (a re-run must never destroy tokens), ``resume``
    appends to them, ``overwrite`` moves them to ``PATH.prev`` and starts an
    empty file: they stay readable there until a run on this file finishes
    (`forget_previous`).

    It holds secrets: an existing file is tightened to 0600 before anything is
    written, or refused (`batch.output._permissions`).
    """

    def __init__(
        self,
        path: str,
        *,
        start: Start,
        warn: Callable[[str, dict[str, object]], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        room: int = 0,
    ) -> None:
        """``room``: bytes of records to keep reserved on disk ahead (`batch.output._room`);
        `NoRoom` when the disk cannot give them."""
        self.path = path
        # A symlinked results file is started over where it points (as compaction rewrites
        # it): renaming the link would leave it a plain file here, the tokens there.
        self._real = os.path.realpath(path) if path != "-" and os.path.islink(path) else path
        self._clock = clock
        self._last_sync = clock()
        self._dirty = False
        self._stream: BinaryIO | None = None
        self._fd = -1
        self._room: Room | None = None
        self._warn = warn
        #: where the records went when PATH was taken by another file (`_in_place`)
        self.displaced_to: str | None = None
        self._replaced = False
        if path == "-":
            self._stream = sys.stdout.buffer
            return
        fd = open_locked(path)
        try:
            make_private(fd, path, warn)  # it holds tokens: never readable by others
            if start != "resume" and os.fstat(fd).st_size:
                fd = self._start_over(fd, start)
            end = os.lseek(fd, 0, os.SEEK_END)
            if room:
                self._room = reserve_room(fd, end, room, path)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    @property
    def previous(self) -> str:
        """Where ``overwrite`` keeps the records the file held before."""
        return self._real + ".prev"

    def start_over(self, why: str) -> None:
        """Start the file over now, as ``overwrite`` does at the start: its records move to
        ``.prev`` (kept until a run on the file finishes), the file is empty and locked.
        ``why`` is named if ``.prev`` is already taken (ConfigError, nothing changed)."""
        if self._fd < 0:
            return
        self._fd = self._start_over(self._fd, "overwrite", why=why)
        os.lseek(self._fd, 0, os.SEEK_END)

    def _start_over(self, fd: int, start: Start, *, why: str = "--overwrite") -> int:
        """The file holds something: refuse (``new``), or keep it as ``.prev`` and return
        the descriptor of a new, empty, locked file (``overwrite``)."""
        if start == "new":
            refusal = refuse_new(self.path)
            if refusal is None:  # a CSV header alone: nothing to lose
                os.ftruncate(fd, 0)
                return fd
            raise ConfigError(refusal)
        if os.path.exists(self.previous):
            raise ConfigError(
                f"{why}: {self.previous!r} still holds the records from before an "
                f"earlier --overwrite of {self.path!r} that did not finish; finish that run "
                f"with --resume, or move {self.previous!r} away"
            )
        # The records move to .prev in one rename (never copied, never truncated): at
        # every moment every token is on disk, in one file or the other.
        os.rename(self._real, self.previous)
        with contextlib.suppress(OSError):
            os.fchmod(fd, 0o600)
        try:
            new = os.open(self._real, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        except FileExistsError:  # another run created it between the rename and now
            raise Busy(
                f"{self.path!r} was started by another run just now; the records it held are "
                f"in {self.previous!r}"
            ) from None
        try:
            fcntl.flock(new, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(new)
            raise Busy(f"{self.path!r} is being written by another run") from None
        sync_folder(self._real)
        os.close(fd)
        return new

    def forget_previous(self) -> bool:
        """The run finished: the records kept in ``.prev`` are replaced; remove it."""
        if self._fd < 0 and self._stream is not None:
            return False
        try:
            os.unlink(self.previous)
        except OSError:
            return False
        sync_folder(self._real)
        return True

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

    def csv_header(self) -> list[str] | None:
        """The column names on the file's first line, read as CSV; None when it has none."""
        first = self.read_from(0, 1 << 16).split(b"\n", 1)[0]
        header = next(csv.reader([first.decode("utf-8", "replace").rstrip("\r")]), None)
        return header or None

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
                    return start + newline + 1
                position = start
        return 0

    def truncate(self, end: int) -> None:
        os.ftruncate(self._fd, end)
        os.lseek(self._fd, 0, os.SEEK_END)

    def renew_room(self) -> None:
        """Top the reserved room up after writes; OSError (a full disk) when it cannot be:
        what is left reserved is the room of the records still to come."""
        if self._room is not None and self._fd >= 0:
            self._room.renew(os.lseek(self._fd, 0, os.SEEK_CUR))

    def write(self, text: str) -> None:
        # A lone surrogate (a JSON "\\ud800" in an answer) cannot be UTF-8: written as that
        # escape, which a JSON string reads back exactly, and never as bytes that are not
        # UTF-8. (Success fields that hold one never get here: `unkeepable`.)
        data = text.encode("utf-8", "backslashreplace")
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
        """fsync what was written (blocking: the writer calls it in a thread of its own),
        and check that PATH is still this file (`batch.output._in_place`): `Displaced`
        when it is taken by another, once the records are rescued elsewhere."""
        if self._fd >= 0 and self._dirty:
            os.fsync(self._fd)
            self._dirty = False
        self._last_sync = self._clock()
        self._keep_in_place()

    def replaced(self) -> None:
        """This run renamed a new file over PATH (compaction, at the end): PATH holds the
        records now, and no longer this file, as it should."""
        self._replaced = True

    def _keep_in_place(self) -> None:
        if self._fd < 0 or self.displaced_to is not None or self._replaced:
            return
        if not displaced(self._fd, self._real):
            return
        end = os.lseek(self._fd, 0, os.SEEK_CUR)
        try:
            new = put_back(self._fd, self._real, end)
        except OSError as exc:
            new, where = rescue(self._fd, self._real, end)
            self._swap(new, end)
            self.displaced_to = where
            why = (
                "another file is there now" if isinstance(exc, FileExistsError) else reason_of(exc)
            )
            raise Displaced(
                f"{self.path!r} was deleted or replaced while the run wrote it, and its "
                f"records could not be put back there ({why}); they are in {where!r}: "
                f"move them back to {self.path!r}, then finish with --resume",
                where,
            ) from None
        self._swap(new, end)
        if self._warn is not None:
            self._warn(
                "results_file_restored",
                {
                    "path": self.path,
                    "bytes": end,
                    "message": f"{self.path} was deleted while the run wrote it; every "
                    "record it held was put back there, and the run goes on",
                },
            )

    def _swap(self, new: int, end: int) -> None:
        """Write to ``new`` (positioned at ``end``) from now on, with room of its own."""
        os.close(self._fd)
        self._fd = new
        os.lseek(new, end, os.SEEK_SET)
        if self._room is not None:
            self._room = Room(new, self._room.size)
            with contextlib.suppress(OSError):  # the next write finds out, and says so
                self._room.renew(end)

    def close(self) -> None:
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                self.sync()
            if self._room is not None:
                self._room.release(os.lseek(self._fd, 0, os.SEEK_CUR))
            os.close(self._fd)
            self._fd = -1
        elif self._stream is not None:
            with contextlib.suppress(OSError, ValueError):
                self._stream.flush()
