"""One command-line run of a job: check, open, run the engine, finish, report.

The data path, start to end: `open_rows` (rows of the input) → `RowItems`
(the input rules: items, and results for invalid rows) → `Engine.results`
(pace, send, retry, judge) → `Writer.write` (one line per result). Everything
else here is set-up and the end of the run: signals, the summary, metrics.

`_execute` is the sequence; each step is a function of its own:

1. `check_settings` (_checks): the options together, before anything is touched;
2. `open_input` (_startup), in a signal window (`Interrupts.before_any_call`);
3. `dry_run` stops there; else `api_access` (_credentials): the base URL, the token;
4. `open_outputs` (_startup): the errors file, the results file (its lock, --wait),
   the --resume read, the input if the job ends its records, the writer;
   `confirm_destructive` (_confirm): a destructive job asks on a terminal;
5. `engine_for` (_parts; the simulated API for --simulate), then `build_parts`: the
   items and the progress reporter;
6. `_run_and_count`: every result written, then the rows left counted;
7. `finish` (_finish): compaction, the writer closed, the ``.prev`` records, the file
   whose records the run ended;
8. `outcome` (_finish): the exit code, the metrics file.

A signal during steps 2 and 4 (the question included) raises `StoppedAtStart`: the run ends there, with the
signal's exit code, before any call (`interrupted_at_start`).
"""

from __future__ import annotations

import contextlib
import signal
from typing import TYPE_CHECKING

import anyio

from batch.cli._checks import check_settings
from batch.cli._confirm import confirm_destructive
from batch.cli._context import Run
from batch.cli._credentials import api_access
from batch.cli._dry_run import dry_run
from batch.cli._finish import finish, interrupted_at_start, outcome
from batch.cli._not_attempted import count_not_attempted
from batch.cli._outcome import RunOutcome
from batch.cli._parts import Parts, build_parts, engine_for
from batch.cli._signals import Interrupts, StoppedAtStart
from batch.cli._startup import open_input, open_outputs
from batch.engine import Abort, Cause
from batch.input import RowItems
from batch.output import CannotWrite, CurrentTokens, Writer

if TYPE_CHECKING:
    from batch.engine import Engine

__all__ = ["execute"]


async def execute(run: Run, received: list[signal.Signals]) -> RunOutcome:
    """Run the job as the settings say. Raises BatchError for user errors found before any call.

    ``received`` holds the signals noted before the event loop started; from
    here to the last write, one receiver handles the rest (`Interrupts`).
    """
    interrupts = Interrupts(run.log, run.settings.grace, received)
    ended: RunOutcome | None = None
    raised: Exception | None = None
    async with anyio.create_task_group() as tg:
        await tg.start(interrupts.watch)
        try:
            ended = await _execute(run, interrupts)
        except Exception as exc:  # re-raised as itself, not in the task group's ExceptionGroup
            raised = exc
        finally:
            tg.cancel_scope.cancel()
    if raised is not None:
        raise raised
    assert ended is not None
    return ended


async def _execute(run: Run, interrupts: Interrupts) -> RunOutcome:
    check_settings(run.job, run.settings)
    try:
        with contextlib.ExitStack() as closing:
            rows = await interrupts.before_any_call(
                lambda: open_input(run.job, run.settings, closing, run.log)
            )
            if run.settings.dry_run:
                return await dry_run(run.job, run.settings, rows, run.stats)
            access = api_access(run)
            async with open_outputs(run, access.origin, interrupts) as outputs:
                await confirm_destructive(run, access.base_url, outputs.still_ok, interrupts)
                async with engine_for(run, access, rows.info) as engine:
                    parts = await build_parts(run, rows, outputs, engine)
                    output_open = await _run_and_count(run, parts, interrupts)
                    files = await finish(run, parts, outputs, interrupts, output_open)
    except StoppedAtStart as stopped:
        return interrupted_at_start(run, interrupts, write_metrics_file=stopped.write_metrics)
    ended = outcome(run, parts, interrupts, output_open, files)
    ended.read = rows.info.describe()
    return ended


async def _run_and_count(run: Run, parts: Parts, interrupts: Interrupts) -> bool:
    """Every result written as it comes; after a stop or at --limit, the rows left counted.
    Returns False when standard output was closed early (``| head``)."""
    engine, items = parts.engine, parts.items
    async with anyio.create_task_group() as tg:
        tg.start_soon(parts.reporter.run)
        interrupts.running(engine)
        output_open = await _write_results(engine, items, parts.writer, parts.current)
        if not output_open:
            run.log.warning(
                "output_closed",
                message="standard output was closed before the run ended (| head?); stopped",
            )
        stopped = engine.stopping and (engine.abort is None or engine.abort.cause != Cause.INPUT)
        if items.limited or stopped:
            await count_not_attempted(run, parts, interrupts.hard_stop)
        interrupts.finishing()
        tg.cancel_scope.cancel()
    return output_open


async def _write_results(
    engine: Engine, items: RowItems, writer: Writer, current: CurrentTokens
) -> bool:
    """The one consumer of the engine's results: each is written as it comes (and noted in
    ``current``, the current token of each ID, once it is on disk).

    Returns False when standard output was closed early (``| head``): the run stops.
    """
    closed = False
    async with engine.results(items) as results:
        async for result in results:
            try:
                await writer.write(result)
                current.note(result)
            except BrokenPipeError:
                engine.not_kept(result)
                if not closed:
                    closed = True
                    engine.stop("standard output was closed", grace=0)
            except CannotWrite as exc:  # a full disk, a file system gone: no more IDs
                if not exc.kept:
                    engine.not_kept(result)
                if engine.abort is None:
                    engine.fail(Abort(Cause.OUTPUT, exc.message))
    return not closed
