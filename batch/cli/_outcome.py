"""How a run ended: its exit code, counts and reasons; for --dry-run, its report."""

from __future__ import annotations

from dataclasses import dataclass, field

from batch.engine import Stats
from batch.output import Ended

__all__ = [
    "EXIT_ABORTED",
    "EXIT_OK",
    "EXIT_PIPE",
    "EXIT_RECORD_ERRORS",
    "DryRunReport",
    "Forecast",
    "RunOutcome",
]

EXIT_OK, EXIT_RECORD_ERRORS, EXIT_ABORTED = 0, 1, 3
#: 128 + SIGPIPE, as a shell reports a program that wrote to a closed pipe
EXIT_PIPE = 141


@dataclass(frozen=True, slots=True)
class Forecast:
    """--dry-run --resume: whether the run would end by compacting the results file."""

    #: "yes", "no", or "off" (--keep-history)
    compaction: str
    superseded_after: int
    current_after: int


@dataclass(frozen=True, slots=True)
class DryRunReport:
    """What --dry-run found. `as_event` is the ``dry_run`` event's fields;
    `batch.cli._dry_report.print_dry_run` says the same as text."""

    #: what was understood of the input: format, encoding, delimiter, sheet, ID column
    understood: dict[str, object]
    rows: int
    blank: int
    #: valid IDs, those already ok in the results file included
    valid: int
    #: valid IDs already ok in the results file (--resume): not sent again
    already_ok: int
    invalid: int
    duplicates: int
    would_send: int
    estimated_s: float
    #: the rate the estimate assumes: --rate, or the API's documented limit if lower
    estimated_rate: float
    #: the first invalid rows: (line, reason)
    first_invalid: list[tuple[int, str]]
    #: --limit, and the valid IDs it leaves for a later --resume
    limit: int | None = None
    beyond_limit: int = 0
    forecast: Forecast | None = None
    quota_store: str = "none"
    #: how many runs share the quota now (None: unknown, or not shared)
    quota_runs: int | None = None

    def as_event(self) -> dict[str, object]:
        event: dict[str, object] = {
            **self.understood,
            "rows": self.rows,
            "blank": self.blank,
            "valid": self.valid,
            "kept": self.already_ok,
            "invalid": self.invalid,
            "duplicates": self.duplicates,
            "would_send": self.would_send,
            "estimated_s": self.estimated_s,
            "estimated_rate": self.estimated_rate,
            "first_invalid": [{"line": line, "reason": why} for line, why in self.first_invalid],
        }
        if self.limit is not None:
            event.update(limit=self.limit, beyond_limit=self.beyond_limit)
        if self.forecast is not None:
            event.update(
                compaction=self.forecast.compaction,
                superseded_after=self.forecast.superseded_after,
                current_after=self.forecast.current_after,
            )
        event.update(quota_store=self.quota_store, quota_runs=self.quota_runs)
        return event


@dataclass(slots=True)
class RunOutcome:
    stats: Stats
    exit_code: int
    abort_reason: str | None = None
    signal_name: str | None = None
    dry_run: DryRunReport | None = None
    #: what rewriting the results file to its current state did (None: not rewritten)
    compacted: dict[str, int] | None = field(default=None)
    #: how the input was read, when worth saying ("sheet 'Current', header on row 4")
    read: str = ""
    #: what the run did to the results file whose records it ends (`Job.ends`), if any
    ended: Ended | None = None
