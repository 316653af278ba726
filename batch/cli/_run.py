"""One command-line run of a job: check, open, run the engine, finish, report.

The data path, start to end: `open_rows` (rows of the input) → `RowItems`
(the input rules: items, and results for invalid rows) → `Engine.results`
(pace, send, retry, judge) → `Writer.write` (one line per result). Everything
else here is set-up and the end of the run: signals, the summary, metrics.

`_execute` is the sequence; each step is a function of its own:

1. `check_settings`: the options together, before anything is touched;
2. `open_input`, in a signal window (`Interrupts.before_any_call`);
3. `dry_run` stops there; else `api_access` reads the base URL and the token;
4. `open_outputs`: the errors file, the results file (its lock, --wait), the
   --resume read, the writer;
5. `_engine` (with the simulated API for --simulate), then `_parts`: the items and
   the progress reporter;
6. `_run_and_count`: every result written, then what is left counted;
7. `_finish`: compaction, the writer closed, the ``.prev`` records;
8. `_outcome`: the exit code, the metrics.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from importlib import metadata
from typing import TYPE_CHECKING

import anyio
import anyio.to_thread

from batch._distribution import user_agent
from batch.cli._checks import check_settings
from batch.cli._context import Run
from batch.cli._credentials import Access, api_access
from batch.cli._dry_run import dry_run, rate_above_documented
from batch.cli._metrics import write_metrics
from batch.cli._not_attempted import count_not_attempted
from batch.cli._outcome import EXIT_ABORTED, EXIT_OK, EXIT_RECORD_ERRORS, RunOutcome
from batch.cli._progress import Reporter, count_rows
from batch.cli._settings import Settings
from batch.cli._signals import Interrupts, StoppedAtStart
from batch.cli._startup import Outputs, open_input, open_outputs
from batch.engine import Abort, Backoff, Cause, ConfigError, EngineOptions, Job, Logger, Stats
from batch.input import BATCH, RowItems, Rows
from batch.output import Compaction, OutputFile, Writer, maybe_compact

if TYPE_CHECKING:
    from batch.engine import Engine

SIMULATORS_GROUP = "batch.simulators"
#: 128 + SIGPIPE, as a shell reports a program that wrote to a closed pipe
EXIT_PIPE = 141

__all__ = ["EXIT_PIPE", "execute"]


async def execute(run: Run, received: list[signal.Signals]) -> RunOutcome:
    """Run the job as the settings say. Raises BatchError for user errors found before any call.

    ``received`` holds the signals noted before the event loop started; from
    here to the last write, one receiver handles the rest (`Interrupts`).
    """
    interrupts = Interrupts(run.log, run.settings.grace, received)
    outcome: RunOutcome | None = None
    raised: Exception | None = None
    async with anyio.create_task_group() as tg:
        await tg.start(interrupts.watch)
        try:
            outcome = await _execute(run, interrupts)
        except Exception as exc:  # re-raised as itself, not in the task group's ExceptionGroup
            raised = exc
        finally:
            tg.cancel_scope.cancel()
    if raised is not None:
        raise raised
    assert outcome is not None
    return outcome


async def _execute(run: Run, interrupts: Interrupts) -> RunOutcome:
    check_settings(run.job, run.settings)
    try:
        with contextlib.ExitStack() as closing:
            rows = await interrupts.before_any_call(
                lambda: open_input(run.settings, closing, run.log)
            )
            if run.settings.dry_run:
                return await dry_run(run.job, run.settings, rows, run.stats)
            access = api_access(run)
            async with (
                open_outputs(run, access.origin, interrupts) as outputs,
                _engine(run, access) as engine,
            ):
                parts = await _parts(run, rows, outputs, engine)
                output_open = await _run_and_count(run, parts, interrupts)
                compacted = await _finish(run, parts, outputs.results, interrupts, output_open)
    except StoppedAtStart as stopped:
        return _interrupted_at_start(run, interrupts, write_metrics_file=stopped.write_metrics)
    outcome = _outcome(run.stats, engine, interrupts, output_open=output_open)
    outcome.compacted = compacted.as_dict() if compacted else None
    if outcome.exit_code == EXIT_OK:
        # For monitoring, a run that ended with every record ok is a success even if it
        # had nothing to issue (every ID already ok in the results file): its time is the
        # last success.
        run.stats.last_success_unix = time.time()
    parts.reporter.write_metrics(elapsed_s=run.stats.elapsed_s, exit_code=outcome.exit_code)
    return outcome


@contextlib.asynccontextmanager
async def _engine(run: Run, access: Access) -> AsyncIterator[Engine]:
    """The engine, against the simulated API (served here, for the run) with --simulate;
    the run_started event says where it calls."""
    # Here, not at the top: the engine brings aiohttp, which --dry-run does not need.
    from batch.engine import Engine  # noqa: PLC0415

    async with contextlib.AsyncExitStack() as serving:
        base_url = access.base_url
        if base_url is None:
            base_url = await serving.enter_async_context(_simulator(run.job))
        options = _engine_options(run.job, run.settings, base_url, access.token)
        engine = Engine(run.job, options, stats=run.stats, logger=run.log)
        _say_started(run, engine, base_url)
        yield engine


@dataclass(frozen=True, slots=True)
class _Parts:
    """What runs, once built: the engine, the items it takes, where results go."""

    engine: Engine
    items: RowItems
    writer: Writer
    reporter: Reporter
    #: the input's data lines, counted at the start (None: not cheap to count)
    total: int | None


async def _parts(run: Run, rows: Rows, outputs: Outputs, engine: Engine) -> _Parts:
    """The items (the IDs --resume found still ok are skipped) and the progress reporter."""
    s = run.settings
    items = RowItems(
        rows,
        run.job,
        stats=run.stats,
        log=run.log,
        skip_keys=outputs.still_ok,
        # A pipe may bring rows slowly: hand each on at once, not 1024 at a time.
        batch=1 if s.input == "-" else BATCH,
        abandon=s.input == "-",
        limit=s.limit,
    )
    total = await anyio.to_thread.run_sync(count_rows, s.input, rows.info.format)
    shown = total if s.limit is None or total is None else min(total, s.limit)
    reporter = Reporter(run.stats, run.log, s, bar=run.progress_bar, total=shown)
    return _Parts(engine, items, outputs.writer, reporter, total)


def _say_started(run: Run, engine: Engine, base_url: str) -> None:
    s = run.settings
    run.log.info(
        "run_started",
        job=run.job.name,
        input=s.input,
        output=s.output,
        base_url=base_url,
        rate=s.rate,
        concurrency=s.concurrency,
        resume=s.resume,
        proxy=engine.route.label,  # never its credentials
        proxy_from=engine.route.reason,
        simulated=s.simulate,
        quota_store=engine.stats.quota_store,
    )
    if (above := rate_above_documented(run.job, s.rate)) is not None:
        run.log.warning("rate_above_documented_limit", message=above)


async def _run_and_count(run: Run, parts: _Parts, interrupts: Interrupts) -> bool:
    """Every result written as it comes; after a stop or at --limit, the rows left counted.
    Returns False when standard output was closed early (``| head``)."""
    engine, items = parts.engine, parts.items
    async with anyio.create_task_group() as tg:
        tg.start_soon(parts.reporter.run)
        interrupts.running(engine)
        output_open = await _write_results(engine, items, parts.writer)
        if not output_open:
            run.log.warning(
                "output_closed",
                message="standard output was closed before the run ended (| head?); stopped",
            )
        stopped = engine.stopping and (engine.abort is None or engine.abort.cause != Cause.INPUT)
        if items.limited or stopped:
            await count_not_attempted(items, run.stats, run.log, parts.total, interrupts.hard_stop)
        interrupts.finishing()
        tg.cancel_scope.cancel()
    return output_open


async def _write_results(engine: Engine, items: RowItems, writer: Writer) -> bool:
    """The one consumer of the engine's results: each is written as it comes.

    Returns False when standard output was closed early (``| head``): the run stops.
    """
    closed = False
    async with engine.results(items) as results:
        async for result in results:
            try:
                await writer.write(result)
            except BrokenPipeError:
                engine.not_kept(result)
                if not closed:
                    closed = True
                    engine.stop("standard output was closed", grace=0)
            except OSError as exc:  # a full disk, a file system gone: nothing more can be kept
                engine.not_kept(result)
                engine.fail(
                    Abort(
                        Cause.OUTPUT,
                        f"cannot write the results ({exc.strerror or exc}); what was written "
                        "is kept, free some space and finish with --resume",
                    )
                )
    return not closed


async def _finish(
    run: Run, parts: _Parts, results: OutputFile, interrupts: Interrupts, output_open: bool
) -> Compaction | None:
    """The end of the files: compaction (a --resume run), the writer closed (the errors file
    committed), the records --overwrite moved aside dropped if the run finished."""
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
    await parts.writer.close(finished=finished)
    _previous_records(results, finished, run.log)
    return compacted


def _engine_options(job: Job, s: Settings, base_url: str, token: str) -> EngineOptions:
    return EngineOptions(
        base_url=base_url,
        token=token,
        rate=s.rate,
        concurrency=s.concurrency,
        max_attempts=s.max_attempts,
        timeout=s.timeout,
        backoff=Backoff(base=s.backoff_base, cap=s.backoff_cap),
        give_up_after=s.give_up_after,
        grace=s.grace,
        user_agent=user_agent(),
        token_source=f"--token-file {s.token_file!r}" if s.token_file else job.token_env,
        base_url_source=f"--base-url (or {job.base_url_env})" if s.base_url else "the default URL",
        proxy="" if s.no_proxy else s.proxy,
        proxy_source="--no-proxy" if s.no_proxy else "--proxy",
        quota=s.quota_store,
    )


def _interrupted_at_start(
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


def _outcome(
    stats: Stats, engine: Engine, interrupts: Interrupts, *, output_open: bool
) -> RunOutcome:
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
    return RunOutcome(stats, code, reason, interrupts.name)


def _previous_records(out: OutputFile, finished: bool, log: Logger) -> None:
    """The records --overwrite moved aside are dropped once a run on the file finishes."""
    if finished:
        if out.forget_previous():
            log.info("previous_records_removed", path=out.previous)
    elif os.path.exists(out.previous):
        log.warning(
            "previous_records_kept",
            path=out.previous,
            message=f"the records from before --overwrite are still in {out.previous}; "
            f"they are removed when a run on {out.path} finishes",
        )


def _compacts(s: Settings, interrupts: Interrupts) -> bool:
    """A --resume run rewrites its results file to the current state when it is worth it,
    unless --keep-history or a signal (stop promptly; the next run does it)."""
    return s.resume and not s.keep_history and not interrupts.received


def _simulator(job: Job) -> contextlib.AbstractAsyncContextManager[str]:
    found = metadata.entry_points(group=SIMULATORS_GROUP, name=job.name)
    for entry in found:
        factory: Callable[[], contextlib.AbstractAsyncContextManager[str]] = entry.load()
        return factory()
    raise ConfigError(f"--simulate: the {job.name} job has no simulated API")
