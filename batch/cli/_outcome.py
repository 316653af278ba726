"""How a run ended: its exit code, counts and reasons."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from batch.engine import Stats

__all__ = ["EXIT_ABORTED", "EXIT_OK", "EXIT_RECORD_ERRORS", "RunOutcome"]

EXIT_OK, EXIT_RECORD_ERRORS, EXIT_ABORTED = 0, 1, 3


@dataclass(slots=True)
class RunOutcome:
    stats: Stats
    exit_code: int
    abort_reason: str | None = None
    signal_name: str | None = None
    dry_run: dict[str, Any] = field(default_factory=dict)
    #: what rewriting the results file to its current state did (None: not rewritten)
    compacted: dict[str, int] | None = None
    #: how the input was read, when worth saying ("sheet 'Current', header on row 4")
    read: str = ""
