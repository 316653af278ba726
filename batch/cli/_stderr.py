"""Standard error as it is at each write (a live progress bar swaps it while it runs)."""

from __future__ import annotations

import sys

__all__ = ["CurrentStderr"]


class CurrentStderr:
    """Writes to whatever ``sys.stderr`` is now, so log lines print above a live progress bar."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return sys.stderr.isatty()

    def fileno(self) -> int:
        return sys.stderr.fileno()
