"""Where the local shared quota lives, and why no other user can steer it.

One user, one quota, wherever a run starts (cron, a login shell, systemd, tmux): the state is
in ``~/.cache/batch-quota/`` whatever ``XDG_RUNTIME_DIR`` says (it differs between a cron job
and a login session). Several Unix users share through a directory they name and own together
(its group), or through Redis.

What is checked, on the directory and the files as opened (no path is looked up twice):
- the directory is not a symbolic link (it is never followed), and is a directory;
- private (the default): owned by this user, writable by nobody else; its files too;
- named: writable by no one outside its group, and that group is one of this user's (or it
  is this user's own and writable by nobody else); files in it are this user's or the
  group's, writable by nobody outside it, and new ones are made group-writable.

A private directory that fails gets one warning and a fresh private one instead (a run that
cannot share paces itself; nobody can slow it down). A named one that fails is an error.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Place", "Unsafe", "default_place", "named_place", "open_state", "private_fallback"]


class Unsafe(Exception):
    """The state directory or file could be changed by another user (message: why)."""


@dataclass(frozen=True, slots=True)
class Place:
    """A directory for quota state; ``group`` set: shared with that group (a named one)."""

    directory: Path
    group: int | None = None
    named: bool = False


def default_place() -> Place:
    home = os.environ.get("HOME") or os.path.expanduser("~")
    return Place(Path(home) / ".cache" / "batch-quota")


def named_place(path: str) -> Place:
    """The directory a user named for sharing, checked now (Unsafe: why it cannot be used)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        if os.path.islink(path):
            raise Unsafe(f"{path} is a symbolic link; name the directory itself") from None
        raise Unsafe(f"{path} cannot be opened as a directory ({exc.strerror})") from None
    try:
        info = os.fstat(fd)
    finally:
        os.close(fd)
    place = Place(
        Path(path), group=info.st_gid if info.st_mode & stat.S_IWGRP else None, named=True
    )
    _check_directory(info, place, path)
    return place


def private_fallback() -> Place:
    """A fresh directory only this user can use (not shared with other runs)."""
    return Place(Path(tempfile.mkdtemp(prefix="batch-quota-")))


def _check_directory(info: os.stat_result, place: Place, shown: str) -> None:
    mode, me = stat.S_IMODE(info.st_mode), os.geteuid()
    if not stat.S_ISDIR(info.st_mode):
        raise Unsafe(f"{shown} is not a directory")
    if mode & stat.S_IWOTH:
        raise Unsafe(f"{shown} is writable by every user (mode {mode:o})")
    if place.group is None:
        if info.st_uid != me:
            raise Unsafe(f"{shown} belongs to another user (uid {info.st_uid})")
        if mode & stat.S_IWGRP:
            raise Unsafe(f"{shown} is writable by its group (mode {mode:o})")
    elif info.st_gid not in os.getgroups() and info.st_gid != os.getegid():
        raise Unsafe(f"{shown} is writable by group {info.st_gid}, which is not one of yours")


def _check_file(info: os.stat_result, place: Place, shown: str) -> None:
    mode, me = stat.S_IMODE(info.st_mode), os.geteuid()
    if not stat.S_ISREG(info.st_mode):
        raise Unsafe(f"{shown} is not a regular file")
    if mode & stat.S_IWOTH:
        raise Unsafe(f"{shown} is writable by every user (mode {mode:o})")
    if place.group is None:
        if info.st_uid != me or mode & stat.S_IWGRP:
            raise Unsafe(f"{shown} belongs to another user or is writable by its group")
    elif info.st_uid != me and info.st_gid != place.group:
        raise Unsafe(f"{shown} belongs to another user outside group {place.group}")
    elif mode & stat.S_IWGRP and info.st_gid != place.group:
        raise Unsafe(f"{shown} is writable by another group ({info.st_gid})")


def open_state(place: Place, name: str, size: int) -> int:
    """The state file ``name`` in ``place``, opened read-write (made if missing, ``size``
    bytes); Unsafe when another user could change it, OSError when it cannot be opened."""
    directory = place.directory
    if not place.named:
        directory.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            directory.mkdir(mode=0o700)
    try:
        dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        if directory.is_symlink():
            raise Unsafe(f"{directory} is a symbolic link") from None
        raise exc from None
    try:
        _check_directory(os.fstat(dir_fd), place, str(directory))
        mode = 0o660 if place.group is not None else 0o600
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            fd = os.open(name, flags, mode, dir_fd=dir_fd)
        except OSError as exc:
            if os.path.islink(directory / name):
                raise Unsafe(f"{directory / name} is a symbolic link") from None
            raise exc from None
        try:
            info = os.fstat(fd)
            if info.st_uid == os.geteuid() and info.st_size == 0:
                # Ours and new: the mode the umask may have narrowed, the group of a named one.
                if place.group is not None and info.st_gid != place.group:
                    os.fchown(fd, -1, place.group)
                os.fchmod(fd, mode)
                os.ftruncate(fd, size)
                info = os.fstat(fd)
            _check_file(info, place, str(directory / name))
        except BaseException:
            os.close(fd)
            raise
        _forget_old(dir_fd)
        return fd
    finally:
        os.close(dir_fd)


def _forget_old(dir_fd: int, older_than: float = 86400.0) -> None:
    """Remove this user's quota state unused for a day (one file per token and base URL)."""
    import time  # noqa: PLC0415 - only here

    limit = time.time() - older_than
    try:
        for entry in os.scandir(dir_fd):
            if not entry.name.startswith("quota-"):
                continue
            info = entry.stat(follow_symlinks=False)
            if info.st_uid == os.geteuid() and info.st_mtime < limit and stat.S_ISREG(info.st_mode):
                with contextlib.suppress(OSError):
                    os.unlink(entry.name, dir_fd=dir_fd)
    except OSError:
        pass
