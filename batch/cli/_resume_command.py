"""The command that finishes what a run left: the user's own, with --resume."""

from __future__ import annotations

import shlex
import sys

from batch._distribution import distribution
from batch.cli._settings import Settings
from batch.engine import redact_url

__all__ = ["resume_command"]


def resume_command(settings: Settings) -> str:
    """The command to run to finish what this run left: as the user typed it, with --resume,
    without --limit (the rest is wanted) nor --overwrite (it contradicts --resume)."""
    args = _without(
        _without_proxy_credentials(sys.argv[1:]), {"--limit": True, "--overwrite": False}
    )
    if "--resume" not in args:
        args.append("--resume")
    return shlex.join([distribution()[0], *args])


def _without_proxy_credentials(argv: list[str]) -> list[str]:
    """``--proxy http://USER:PASSWORD@HOST`` is shown as ``http://***@HOST``: the summary
    goes to a terminal or a log file, neither of which may hold the password."""
    args = list(argv)
    for i, arg in enumerate(args):
        if arg.startswith("--proxy="):
            args[i] = redact_url(arg)
        elif arg == "--proxy" and i + 1 < len(args):
            args[i + 1] = redact_url(args[i + 1])
    return args


def _without(args: list[str], options: dict[str, bool]) -> list[str]:
    """``args`` without the given options (``True``: the option takes a value)."""
    out: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
            continue
        name = arg.split("=", 1)[0]
        if name in options:
            skip = options[name] and "=" not in arg
            continue
        out.append(arg)
    return out
