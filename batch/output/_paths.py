"""Output paths another local user could redirect are refused before anything is touched.

The results, errors, metrics and log files are written with the rights of the
user running the tool. Another local user who can put a symbolic link where one
of them goes makes the tool write tokens, or truncate and chmod a file, where
the link points: another file of the victim, or (for root) any file at all.

So, as ssh's StrictModes and the kernel's ``protected_symlinks`` reason, a path
is refused (exit 2, nothing changed) when

- it is a symbolic link owned by someone else than the user running the tool or
  root (its owner may point it anywhere, at any time); or
- a folder on the way to it (the one holding it, the one holding what a link
  points at, and each of theirs up to ``/``) can be written by other users and
  has no sticky bit: any of them may replace the file by a link, or the folder
  by another, at any moment. A group-writable folder whose group is the user's
  own private group (no other member) is not "other users".
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import stat

from batch.engine import ConfigError

__all__ = ["check_output_path", "foreign_link"]


def check_output_path(path: str, option: str, *, me: int | None = None) -> None:
    """ConfigError if another user could redirect what is written to ``path`` (above)."""
    me = os.geteuid() if me is None else me
    owner = foreign_link(path, me)
    if owner is not None:
        raise ConfigError(
            f"refusing to write {option} {path!r}: it is a symbolic link owned by "
            f"{_user(owner)}, who can point it at any file of yours; remove it or name "
            "another file (nothing was changed)"
        )
    folders = {os.path.dirname(os.path.abspath(path)), os.path.dirname(os.path.realpath(path))}
    for folder in sorted(folders):
        shared = _shared_folder(folder, me)
        if shared is not None:
            where, mode = shared
            raise ConfigError(
                f"refusing to write {option} {path!r}: the folder {where!r} can be written "
                f"by other users (mode {mode:04o}) and has no sticky bit, so any of them can "
                "put a link there in its place; use a folder only you can write (chmod "
                "go-w), or set its sticky bit (chmod +t) (nothing was changed)"
            )


def foreign_link(path: str, me: int) -> int | None:
    """The owner of the symbolic link at ``path`` if it is not ``me`` nor root, else None."""
    try:
        info = os.lstat(path)
    except OSError:
        return None
    if stat.S_ISLNK(info.st_mode) and info.st_uid not in (me, 0):
        return info.st_uid
    return None


def _shared_folder(folder: str, me: int) -> tuple[str, int] | None:
    """The first folder from ``folder`` (resolved) up to ``/`` that other users can write
    without a sticky bit, and its mode; None if there is none (or it does not exist)."""
    current = os.path.realpath(folder)
    while True:
        with contextlib.suppress(OSError):
            info = os.stat(current)
            mode = stat.S_IMODE(info.st_mode)
            if not mode & stat.S_ISVTX and _others_write(info, me):
                return current, mode
        parent = os.path.dirname(current)
        if parent == current:
            return None
        current = parent


def _others_write(info: os.stat_result, me: int) -> bool:
    if info.st_mode & stat.S_IWOTH:
        return True
    return bool(info.st_mode & stat.S_IWGRP) and not _private_group(info.st_gid, me)


def _private_group(gid: int, me: int) -> bool:
    """Whether the group ``gid`` is ``me``'s own: its primary group, with no other member."""
    try:
        user = pwd.getpwuid(me)
        members = set(grp.getgrgid(gid).gr_mem)
    except KeyError:
        return False
    return gid == user.pw_gid and members <= {user.pw_name}


def _user(uid: int) -> str:
    try:
        return f"user {pwd.getpwuid(uid).pw_name!r} (uid {uid})"
    except KeyError:
        return f"uid {uid}"
