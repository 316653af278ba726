"""File permissions: files that will hold secrets are their owner's only, or not written.

A results file that already exists may have been made by hand, copied, or
restored with a looser mode. Before the first record goes in, the file must be
``0600`` and owned by the user running the tool: a looser mode is tightened
(and logged once); a file owned by someone else (its owner can read it, and
change its mode back), or one whose mode cannot be tightened (a filesystem that
ignores modes), is refused with exit 2 and nothing written into it.
"""

from __future__ import annotations

import os
import pwd
import stat
from collections.abc import Callable
from typing import Literal

from batch.engine import ConfigError

__all__ = ["decide", "make_private"]

Action = Literal["keep", "tighten", "refuse"]


def decide(mode: int, owner: int, me: int) -> Action:
    """What to do with an existing file before secrets go in (a pure function of its stat)."""
    if owner != me:
        return "refuse"  # even at 0600: its owner reads it, and may chmod it back
    return "tighten" if mode & 0o077 else "keep"


def make_private(
    fd: int,
    path: str,
    warn: Callable[[str, dict[str, object]], None] | None,
    *,
    me: int | None = None,
) -> None:
    """Tighten ``fd`` to 0600 or raise ConfigError, before anything is written into it."""
    info = os.fstat(fd)
    mode = stat.S_IMODE(info.st_mode)
    action = decide(mode, info.st_uid, os.geteuid() if me is None else me)
    if action == "keep":
        return
    if action == "refuse":
        raise ConfigError(
            f"refusing to write tokens into {path!r}: it belongs to {_user(info.st_uid)}, "
            "who could read them; use a file of your own (nothing was written)"
        )
    try:
        os.fchmod(fd, 0o600)
        now = stat.S_IMODE(os.fstat(fd).st_mode)
    except OSError as exc:
        raise ConfigError(
            f"refusing to write tokens into {path!r}: it is readable by others "
            f"(mode {mode:04o}) and chmod 600 failed ({exc.strerror}); nothing was written"
        ) from None
    if now & 0o077:
        raise ConfigError(
            f"refusing to write tokens into {path!r}: it is readable by others (mode "
            f"{now:04o}) and its filesystem ignores chmod 600; use a file on another "
            "filesystem (nothing was written)"
        )
    if warn is not None:
        warn(
            "output_file_permissions",
            {
                "path": path,
                "mode": f"{mode:04o}",
                "now": f"{now:04o}",
                "message": f"{path} was readable by others (mode {mode:04o}); "
                "tightened to 0600 before writing tokens",
            },
        )


def _user(uid: int) -> str:
    try:
        return f"user {pwd.getpwuid(uid).pw_name!r} (uid {uid})"
    except KeyError:
        return f"uid {uid}"
