"""The results-file lock: one run writes a results file at a time.

An ``flock`` on the file itself, taken without waiting (`open_results` retries
while ``--wait`` lasts); the holder's pid, when Linux tells it, goes into the
refusal.
"""

from __future__ import annotations

import fcntl
import os
import stat

from batch.engine import Busy, ConfigError

__all__ = ["holder_pid", "open_locked", "same_file"]


def open_locked(path: str) -> int:
    """Open ``path`` and take its lock (Busy if another run holds it).

    The file may be replaced between the open and the lock (a compaction or an
    --overwrite renames a new file over it, then lets the lock go): the lock
    then guards a file that is no longer the results file, so open it again.
    """
    for _ in range(10):
        # A link is followed only if it was there when the paths were checked (and found
        # to be the user's own, `check_output_path`): one planted since is not.
        follow = 0 if os.path.islink(path) else os.O_NOFOLLOW
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | follow, 0o600)
        except OSError as exc:
            raise ConfigError(f"cannot write {path!r}: {exc.strerror}") from None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise ConfigError(f"cannot write {path!r}: not a regular file")
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                pid = holder_pid(fd)
                who = f"another run (pid {pid})" if pid else "another run"
                raise Busy(
                    f"{path!r} is being written by {who}; try again later, pass --wait SECONDS "
                    "to wait for it, or choose another --output"
                ) from None
            if same_file(fd, path):
                return fd
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
    raise Busy(f"{path!r} keeps being replaced by another run; try again later")


def same_file(fd: int, path: str) -> bool:
    try:
        named = os.stat(path)
    except OSError:
        return False
    mine = os.fstat(fd)
    return (mine.st_dev, mine.st_ino) == (named.st_dev, named.st_ino)


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
