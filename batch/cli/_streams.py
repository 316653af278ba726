"""Streams for people that may die under the run: a closed terminal, a full disk under the log.

A terminal goes away with its ssh session: every write to it then fails
(``EIO``), and the run must still finish its files, its metrics and its
summary in the log file. A ``--log-file`` on a full disk fails the same way.
Either is dropped at its first failed write: what is written after goes
nowhere, and the run goes on. Nothing here ever raises for a write.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from collections.abc import Callable, Iterator
from typing import TextIO, cast

__all__ = ["Droppable", "droppable_stderr", "quiet_stdout"]


class Droppable:
    """A text stream that is dropped at its first failed write or flush.

    ``on_drop(error)`` is called once, then writes are discarded. A terminal's file
    descriptor is pointed at /dev/null when it is dropped (``mute_fd``): whatever else
    writes there (the interpreter flushing at exit, a library) then succeeds, unseen.
    Whether it is a terminal is asked once, at the start: a dead one may answer anything.
    """

    def __init__(
        self,
        stream: TextIO,
        *,
        on_drop: Callable[[OSError], None] | None = None,
        mute_fd: bool = False,
    ) -> None:
        self._stream = stream
        self._on_drop = on_drop
        self._mute_fd = mute_fd
        self.dropped: OSError | None = None
        try:
            self._tty = stream.isatty()
        except (OSError, ValueError):
            self._tty = False

    @property
    def encoding(self) -> str:
        return getattr(self._stream, "encoding", None) or "utf-8"

    @property
    def errors(self) -> str | None:
        return getattr(self._stream, "errors", None)

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return self._tty

    def fileno(self) -> int:
        return self._stream.fileno()

    def write(self, text: str) -> int:
        if self.dropped is None:
            try:
                self._stream.write(text)
            except OSError as exc:
                self._drop(exc)
        return len(text)

    def flush(self) -> None:
        if self.dropped is None:
            try:
                self._stream.flush()
            except OSError as exc:
                self._drop(exc)

    def close(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._stream.close()

    def _drop(self, exc: OSError) -> None:
        self.dropped = exc
        if self._mute_fd:
            _to_devnull(self._stream)
        if self._on_drop is not None:
            self._on_drop(exc)


@contextlib.contextmanager
def droppable_stderr() -> Iterator[Droppable]:
    """Standard error as a `Droppable` for the length of a run, then as it was.

    Everything for people goes through ``sys.stderr`` (the console log, the progress
    bar, the summary, click's messages): a terminal that went away is dropped, not
    raised from wherever the next line happened to be written.
    """
    original = sys.stderr
    guarded = Droppable(original, mute_fd=True)
    as_stream = cast(TextIO, guarded)
    sys.stderr = as_stream
    try:
        yield guarded
    finally:
        if sys.stderr is as_stream:
            sys.stderr = original


def quiet_stdout() -> None:
    """Flush standard output now; if it cannot be written (a closed terminal, a closed
    pipe), point it at /dev/null so that the flush at exit neither fails nor prints."""
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        _to_devnull(sys.stdout)


def _to_devnull(stream: TextIO) -> None:
    with contextlib.suppress(OSError, ValueError, io.UnsupportedOperation):
        fd = stream.fileno()
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, fd)
        finally:
            os.close(devnull)
