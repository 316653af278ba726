"""A file replaced atomically when a run ends (the errors file): written to a private sibling,
renamed over it.

A reader of the target always sees a whole file: the previous one until the
rename, the new one after it. A run killed before the rename leaves the
previous file in place and its temporary sibling behind; the next run removes
siblings whose process is gone (the pid is in the name).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from batch.engine import ConfigError
from batch.output._in_place import displaced, put_back

__all__ = ["AtomicFile", "remove_stale_siblings", "replace_atomically", "sync_folder"]


def _sibling_prefix(path: Path) -> str:
    return f".{path.name}."


def remove_stale_siblings(path: Path) -> int:
    """Remove temporary siblings of ``path`` left by runs that were killed; how many."""
    removed = 0
    with contextlib.suppress(OSError):
        for candidate in path.parent.glob(_sibling_prefix(path) + "*.tmp"):
            pid = candidate.name[len(_sibling_prefix(path)) : -len(".tmp")]
            if pid.isdigit() and not _alive(int(pid)):
                with contextlib.suppress(OSError):
                    candidate.unlink()
                    removed += 1
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def replace_atomically(temp: Path, target: Path) -> None:
    """fsync ``temp``'s data is the caller's; rename it over ``target`` and fsync the folder."""
    os.replace(temp, target)
    sync_folder(target)


def sync_folder(path: str | Path) -> None:
    """fsync the folder holding ``path``, so that a rename or a new file in it survives a
    crash of the machine."""
    with contextlib.suppress(OSError):  # some file systems cannot fsync a directory
        fd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class AtomicFile:
    """Lines written to ``.NAME.PID.tmp`` beside ``path`` (mode 0600), put in place by `commit`;
    `discard` leaves the file that was there. ``option`` names it in messages (``--errors``)."""

    def __init__(self, path: str, option: str) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise ConfigError(f"cannot write {option} {path!r}: it is a directory")
        if self.path.exists() and not self.path.is_file():  # a rename would replace a device
            raise ConfigError(f"cannot write {option} {path!r}: not a regular file")
        remove_stale_siblings(self.path)
        self.temp = self.path.parent / f"{_sibling_prefix(self.path)}{os.getpid()}.tmp"
        try:
            fd = os.open(
                self.temp,
                os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW,
                0o600,
            )
        except OSError as exc:
            raise ConfigError(f"cannot write {option} {path!r}: {exc.strerror}") from None
        self._file = os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace", newline="")

    def write(self, text: str) -> None:
        self._file.write(text)

    def commit(self) -> None:
        """Put the new file in place (blocking: fsync and rename). A temporary file whose
        folder was deleted meanwhile (a tmp cleaner) is written there again first, from
        the descriptor that still holds it (`batch.output._in_place`)."""
        self._file.flush()
        fd = self._file.fileno()
        os.fsync(fd)
        if displaced(fd, str(self.temp)):
            os.close(put_back(fd, str(self.temp), os.lseek(fd, 0, os.SEEK_END)))
        self._file.close()
        replace_atomically(self.temp, self.path)

    def discard(self) -> None:
        """Leave the previous file as it is."""
        with contextlib.suppress(OSError):
            self._file.close()
        with contextlib.suppress(OSError):
            self.temp.unlink()
