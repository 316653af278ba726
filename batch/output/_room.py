"""Room kept on disk ahead of the records: a full disk is known before a token is lost.

A request whose token cannot be written loses it: the API issued it (and ended the
one before), the file never got it. So a run keeps room for what may still come
back (the requests in flight, the results waiting to be written) reserved in
the results file itself, past its end: ``fallocate(FALLOC_FL_KEEP_SIZE)`` gives
the file blocks without changing its size, so readers (``--resume``, ``tail``)
see nothing of it. Records are then written into blocks the file already has. When
the room cannot be renewed, the disk is full: the run stops taking IDs while
every record still to come has its room. When the file is closed the room left
is given back (``FALLOC_FL_PUNCH_HOLE``). A file-size limit (``ulimit -f``) counts as the end of
the disk.

On a system or file system without ``fallocate`` (not Linux, some network file
systems) nothing is reserved and a full disk is found by the write that fails.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import resource
from collections.abc import Callable

from batch.engine import BatchError, reason_of

__all__ = ["NoRoom", "Room", "reserve_room"]

_KEEP_SIZE = 0x01  # FALLOC_FL_KEEP_SIZE
_PUNCH_HOLE = 0x02  # FALLOC_FL_PUNCH_HOLE (always with KEEP_SIZE)
#: a file system or kernel that cannot reserve: nothing is kept, nothing is refused
_UNSUPPORTED = frozenset({errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL, errno.ENODEV})


class NoRoom(BatchError):
    """The results file has no room for the records a run could bring: exit 3, before
    any call (or, mid-run, the engine stops taking IDs)."""

    exit_code = 3


def _load_fallocate() -> Callable[[int, int, int, int], int] | None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        function = libc.fallocate
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong]
    function.restype = ctypes.c_int
    return function


_fallocate = _load_fallocate()


def _call(fd: int, mode: int, offset: int, length: int) -> None:
    assert _fallocate is not None
    if _fallocate(fd, mode, offset, length) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


class Room:
    """The room reserved past the end of one open file.

    ``size`` bytes are kept ahead of the records; `renew` tops it up when less
    than half is left, and raises OSError (``ENOSPC``, ``EDQUOT``) when the disk
    cannot give it: what is still reserved is then the room of the records in
    flight. ``supported`` is False where nothing can be reserved.
    """

    def __init__(self, fd: int, size: int) -> None:
        self._fd = fd
        self.size = size
        self.supported = _fallocate is not None
        #: the end of the reserved room (0: nothing reserved yet)
        self.end = 0
        #: the largest file this process may write (``ulimit -f``), if limited
        soft = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
        self._limit = None if soft == resource.RLIM_INFINITY else soft

    def renew(self, at: int) -> None:
        """Keep ``size`` bytes reserved past ``at`` (the file's end), if less than half is."""
        if self.end - at >= self.size // 2:
            return
        if self._limit is not None and at + self.size > self._limit:
            # the file may not grow that far (``ulimit -f``): as good as a full disk
            raise OSError(errno.EFBIG, os.strerror(errno.EFBIG))
        if not self.supported:
            return
        try:
            _call(self._fd, _KEEP_SIZE, at, self.size)
        except OSError as exc:
            if exc.errno in _UNSUPPORTED:
                self.supported = False
                return
            raise
        self.end = at + self.size

    def release(self, at: int) -> None:
        """Give back what is reserved past ``at`` (the file's end, where it stays)."""
        if not self.supported or self.end <= at:
            return
        with contextlib.suppress(OSError):
            _call(self._fd, _PUNCH_HOLE | _KEEP_SIZE, at, self.end - at)
        self.end = 0


def reserve_room(fd: int, end: int, size: int, path: str) -> Room:
    """The room of the file ``path`` open as ``fd``, reserved past ``end``; `NoRoom` (one
    line, nothing sent yet) when the disk cannot give it."""
    room = Room(fd, size)
    try:
        room.renew(end)
    except OSError as exc:
        raise NoRoom(
            f"no room for the results in {path!r} ({reason_of(exc)}): nothing was sent; "
            "free some space, then run again (with --resume if the file holds records)"
        ) from None
    return room
