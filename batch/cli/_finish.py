"""The end of a run: the files finished (compaction, the errors file, the ``.prev``
records), then how it ended (the exit code, the metrics file)."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

import anyio.to_thread

from batch.cli._context import Run
from batch.cli._metrics import write_metrics
from batch.cli._outcome import EXIT_ABORTED, EXIT_OK, EXIT_PIPE, EXIT_RECORD_ERRORS, RunOutcome
from batch.cli._parts import Parts
from batch.cli._settings import Settings
from batch.cli._signals import Interrupts
from batch.cli._startup import Outputs
from batch.engine import Abort, Cause, Logger, Stats
from batch.output import CannotWrite, Compaction, Ended, OutputFile, maybe_compact

if TYPE_CHECKING:
    from batch.engine import Engine

__all__ = ["finish", "interrupted_at_start", "outcome"]


async def finish(
    run: Run, parts: Parts, outputs: Outputs, interrupts: Interrupts, output_open: bool
) -> tuple[Compaction | None, Ended | None]:
    """The end of the files: compaction (a --resume run), the writer closed (the errors file
    committed), the records --overwrite moved aside dropped if the run finished, the file
    whose records the run ended compacted (if worth it) and closed."""
    results = outputs.results
    # A --limit run (a canary) did not get to every ID: like a stopped run, it keeps
    # the records --overwrite moved aside and the errors of the IDs it left.
    finished = (
        parts.engine.abort is None
        and not interrupts.received
        and output_open
        and not parts.items.limited
    )
    enabled = _compacts(run.settings, interrupts)
    compacted = await anyio.to_thread.run_sync(
        lambda: maybe_compact(results, run.job, enabled=enabled, log=run.log)
    )
    try:
        await parts.writer.close(finished=finished)
    except CannotWrite as exc:  # the run ends as an aborted one (exit 3), its files closed
        finished = False
        if parts.engine.abort is None:
            parts.engine.fail(Abort(Cause.OUTPUT, exc.message))
    _previous_records(results, finished, run.log)
    ending, ended = outputs.ending, None
    if ending is not None:
        compacting = not interrupts.received  # after a signal: stop promptly
        ended = await anyio.to_thread.run_sync(lambda: ending.close(run.log, compacting=compacting))
    return compacted, ended


def interrupted_at_start(
    run: Run, interrupts: Interrupts, *, write_metrics_file: bool
) -> RunOutcome:
    code = interrupts.exit_code
    assert code is not None
    run.log.warning(
        "interrupted",
        signal=interrupts.name,
        message=f"interrupted ({interrupts.name}) before any call; nothing was sent",
    )
    s = run.settings
    if write_metrics_file and s.metrics_file and not s.dry_run:
        write_metrics(s.metrics_file, run.stats, elapsed_s=None, exit_code=code, log=run.log)
    return RunOutcome(run.stats, code, None, interrupts.name)


def outcome(
    run: Run,
    parts: Parts,
    interrupts: Interrupts,
    output_open: bool,
    files: tuple[Compaction | None, Ended | None],
) -> RunOutcome:
    """How the run ended, and the metrics file that says it."""
    stats = run.stats
    code, reason = _exit(stats, parts.engine, interrupts, output_open=output_open)
    outcome = RunOutcome(stats, code, reason, interrupts.name)
    compacted, ended_records = files
    outcome.compacted = compacted.as_dict() if compacted else None
    outcome.ended = ended_records
    ended = time.time()
    if code == EXIT_OK:
        # For monitoring, a run that ended with every record ok is a success even if it
        # had nothing to issue (every ID already ok in the results file): its time is the
        # last success.
        stats.last_success_unix = ended
    whole = code in (EXIT_OK, EXIT_RECORD_ERRORS) and not parts.items.limited
    if whole and not (stats.transient or stats.not_attempted):
        # Every valid ID has its final answer: a current token, or an error no retry
        # would change (a 404, a 400, invalid input). Exit 1 from those alone is complete.
        stats.last_complete_unix = ended
    stats.earliest_expiry_unix = parts.current.earliest(whole_input=whole)
    parts.reporter.write_metrics(elapsed_s=stats.elapsed_s, exit_code=code)
    return outcome


def _exit(
    stats: Stats, engine: Engine, interrupts: Interrupts, *, output_open: bool
) -> tuple[int, str | None]:
    """The exit code, and why the run stopped early (None: it did not)."""
    reason = engine.abort_reason
    if interrupts.exit_code is not None:
        code = interrupts.exit_code
    elif not output_open:
        code = EXIT_PIPE
        reason = "standard output was closed before the run ended"
    elif engine.abort is not None:
        code = engine.abort.exit_code if engine.abort.cause is Cause.INPUT else EXIT_ABORTED
    elif stats.failed or stats.invalid:
        code = EXIT_RECORD_ERRORS
    else:
        code = EXIT_OK
    return code, reason


def _previous_records(out: OutputFile, finished: bool, log: Logger) -> None:
    """The records --overwrite (or a rotated token's --resume) moved aside are dropped once
    a run on the file finishes."""
    if finished:
        if out.forget_previous():
            log.info("previous_records_removed", path=out.previous)
    elif os.path.exists(out.previous):
        log.warning(
            "previous_records_kept",
            path=out.previous,
            message=f"the records from before the file was started over (--overwrite, or a "
            f"rotated token) are still in {out.previous}; "
            f"they are removed when a run on {out.path} finishes",
        )


def _compacts(s: Settings, interrupts: Interrupts) -> bool:
    """A --resume run rewrites its results file to the current state when it is worth it,
    unless --keep-history or a signal (stop promptly; the next run does it)."""
    return s.resume and not s.keep_history and not interrupts.received
