"""--dry-run: read and validate the input, say what would be sent and how long it would take."""

from __future__ import annotations

import os
from typing import Any

import anyio.to_thread

from batch.cli._outcome import EXIT_OK, EXIT_RECORD_ERRORS, RunOutcome
from batch.cli._settings import Settings
from batch.engine import Job, QuietLogger, Result, Stats, window_for_rate
from batch.input import RowItems
from batch.output import format_for, read_previous

__all__ = ["dry_run", "estimate_seconds"]


async def dry_run(job: Job, s: Settings, rows: Any, stats: Stats, log: Any) -> RunOutcome:
    invalid: list[Result] = []

    def collect(result: Result) -> None:
        stats.invalid += 1
        if len(invalid) < 5:
            invalid.append(result)

    skip = await anyio.to_thread.run_sync(_kept_by_resume, job, s)
    items = RowItems(rows, job, stats=stats, log=QuietLogger(), skip_keys=skip)
    would_send = await items.count_rest(collect) or 0
    report = {
        "rows": stats.rows,
        "valid": would_send + stats.skipped,
        "kept": stats.skipped,
        "invalid": stats.invalid,
        "duplicates": stats.duplicates,
        "would_send": would_send,
        "estimated_s": round(estimate_seconds(would_send, s.rate), 1),
        "first_invalid": [
            {"line": r.line, "reason": r.error.message if r.error else ""} for r in invalid
        ],
    }
    log.info("dry_run", **report)
    code = EXIT_RECORD_ERRORS if stats.invalid else EXIT_OK
    return RunOutcome(stats, code, dry_run=report)


def _kept_by_resume(job: Job, s: Settings) -> set[str]:
    """For --dry-run --resume: the IDs the results file would keep (it is read, not changed)."""
    if not (s.resume and s.output != "-" and os.path.isfile(s.output)):
        return set()
    with open(s.output, "rb") as handle:
        previous = read_previous(handle, fmt=format_for(s.output), job=job)
    return previous.keep(refresh_within=s.refresh_within)


def estimate_seconds(calls: int, rate: float) -> float:
    capacity, window = window_for_rate(rate)
    return max(calls - 1, 0) * window / capacity  # starts spread evenly, window/capacity apart
