"""One command-line run of a job: open, start the engine, write each result, finish.

The data path, start to end: `open_rows` (rows of the input) → `RowItems`
(the input rules: items, and results for invalid rows) → `Engine.results`
(pace, send, retry, judge) → `Writer.write` (one line per result). Everything
else here is set-up and the end of the run: signals, the summary, metrics.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable
from importlib import metadata
from typing import TYPE_CHECKING

import anyio
import anyio.to_thread

from batch._distribution import metric_prefix, user_agent
from batch.cli._drain import count_what_is_left
from batch.cli._dry_run import dry_run, rate_above_documented
from batch.cli._logging import Redactor
from batch.cli._metrics import write_metrics
from batch.cli._outcome import EXIT_ABORTED, EXIT_OK, EXIT_RECORD_ERRORS, RunOutcome
from batch.cli._progress import Reporter
from batch.cli._settings import (
    Settings,
    check_base_url,
    check_keep_columns,
    read_token,
    refuse_secrets_on_terminal,
)
from batch.cli._signals import Interrupts
from batch.engine import (
    Abort,
    Backoff,
    Cause,
    ConfigError,
    EngineOptions,
    InputError,
    Job,
    Logger,
    Stats,
)
from batch.input import BATCH, RowItems, Rows, open_rows
from batch.output import (
    AtomicFile,
    OutputFile,
    RunRecords,
    Start,
    Stopped,
    Writer,
    maybe_compact,
    open_results,
    origin_of,
    read_back,
)

if TYPE_CHECKING:
    from batch.engine import Engine

SIMULATED_TOKEN = "simulated-token"  # noqa: S105 - a simulated API accepts any token
SIMULATORS_GROUP = "batch.simulators"
#: 128 + SIGPIPE, as a shell reports a program that wrote to a closed pipe
EXIT_PIPE = 141

__all__ = ["EXIT_PIPE", "execute"]


async def execute(
    job: Job,
    s: Settings,
    *,
    redactor: Redactor,
    log: Logger,
    received: list[signal.Signals],
    progress_bar: bool = False,
) -> RunOutcome:
    """Run the job as the settings say. Raises BatchError for user errors found before any call.

    ``received`` holds the signals noted before the event loop started; from
    here to the last write, one receiver handles the rest (`Interrupts`).
    """
    interrupts = Interrupts(log, s.grace, received)
    outcome: RunOutcome | None = None
    raised: Exception | None = None
    async with anyio.create_task_group() as tg:
        await tg.start(interrupts.watch)
        try:
            outcome = await _execute(
                job, s, redactor, log=log, interrupts=interrupts, progress_bar=progress_bar
            )
        except Exception as exc:  # re-raised as itself, not in the task group's ExceptionGroup
            raised = exc
        finally:
            tg.cancel_scope.cancel()
    if raised is not None:
        raise raised
    assert outcome is not None
    return outcome


async def _execute(
    job: Job,
    s: Settings,
    redactor: Redactor,
    *,
    log: Logger,
    interrupts: Interrupts,
    progress_bar: bool,
) -> RunOutcome:
    if s.resume and s.output == "-":
        raise ConfigError(
            "--resume needs -o/--output to be a file: it reads the records written there"
        )
    if s.overwrite and s.resume:
        raise ConfigError(
            "--overwrite and --resume contradict each other: --resume continues the results "
            "file, --overwrite starts it over"
        )
    if s.overwrite and s.output == "-":
        raise ConfigError("--overwrite needs -o/--output to be a file")
    if s.keep_history and not s.resume:
        raise ConfigError(
            "--keep-history works with --resume (without it, the results file is new)"
        )
    if s.refresh_within is not None and not s.resume:
        raise ConfigError(
            "--refresh-within works with --resume (it re-issues records of a previous run)"
        )
    check_keep_columns(job, s.keep_columns)
    if s.output == "-" and not (s.output_given or s.dry_run or s.simulate) and job.secret_fields:
        refuse_secrets_on_terminal(job)
    stats = Stats()
    with contextlib.ExitStack() as inputs:
        with interrupts.startup():
            rows = await _open_input(job, s, inputs, log)
        if interrupts.received:
            return _interrupted_at_start(s, stats, interrupts, log)
        if s.dry_run:
            if s.base_url:
                check_base_url(s.base_url, "--base-url")
            return await dry_run(job, s, rows, stats, log)
        # The options first, then the credentials: a wrong URL is named even without a token.
        base_url = (
            None
            if s.simulate
            else check_base_url(
                s.base_url or job.default_base_url,
                "--base-url" if s.base_url else "the default URL",
            )
        )
        warnings: list[str] = []
        token = SIMULATED_TOKEN if s.simulate else read_token(job.token_env, s.token_file, warnings)
        redactor.add(token, permanent=True)
        # Which API and organization the records come from (never the token itself).
        origin = origin_of(base_url or "", token, simulated=s.simulate)
        for message in warnings:
            log.warning("token_file_permissions", message=message)
        # Here, not at the top: the engine brings aiohttp, which --dry-run does not need.
        from batch.engine import Engine  # noqa: PLC0415

        async with contextlib.AsyncExitStack() as stack:
            # File work in threads (a folder scan, creating and fsyncing files): signals stay heard.
            errors = (
                await anyio.to_thread.run_sync(AtomicFile, s.errors, "--errors")
                if s.errors
                else None
            )
            if errors is not None:
                stack.callback(errors.discard)  # unless committed: the previous file stays
            start: Start = "resume" if s.resume else "overwrite" if s.overwrite else "new"
            opened: list[OutputFile] = []
            with interrupts.startup():  # --wait may wait long: a signal ends it
                opened.append(
                    await open_results(s.output, start=start, wait=s.wait, warn=_warner(log))
                )
            if not opened:  # stopped while another run held the file: its metrics, not ours
                return _interrupted_at_start(s, stats, interrupts, log, metrics=False)
            out = opened[0]
            stack.callback(out.close)
            if interrupts.received:
                return _interrupted_at_start(s, stats, interrupts, log)
            keep: set[str] = set()
            recorded_invalid: set[tuple[int, str]] = set()
            if s.resume:
                with interrupts.startup():
                    keep, recorded_invalid = await _read_results_file(job, s, out, log, origin)
                if interrupts.received:
                    return _interrupted_at_start(s, stats, interrupts, log)
            writer = await anyio.to_thread.run_sync(
                lambda: Writer(
                    RunRecords(job, origin, s.keep_columns),
                    out,
                    errors,
                    remember_secret=redactor.add,
                    recorded_invalid=recorded_invalid,
                )
            )
            if base_url is None:
                base_url = await stack.enter_async_context(_simulator(job))
            engine = Engine(job, _engine_options(job, s, base_url, token), stats=stats, logger=log)
            items = RowItems(
                rows,
                job,
                stats=stats,
                log=log,
                skip_keys=keep,
                # A pipe may bring rows slowly: hand each on at once, not 1024 at a time.
                batch=1 if s.input == "-" else BATCH,
                abandon=s.input == "-",
                limit=s.limit,
            )
            log.info(
                "run_started",
                job=job.name,
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
                **rows.info.as_event(),
            )
            if (above := rate_above_documented(job, s.rate)) is not None:
                log.warning("rate_above_documented_limit", message=above)
            total = await anyio.to_thread.run_sync(rows.total)
            reporter = Reporter(
                stats,
                log=log,
                interval=s.progress_interval,
                bar=progress_bar,
                events=not progress_bar or s.log_file is not None,  # the log file sees them
                total=total if s.limit is None or total is None else min(total, s.limit),
                metrics_file=s.metrics_file,
                metric_prefix=metric_prefix(),
            )
            async with anyio.create_task_group() as tg:
                tg.start_soon(reporter.run)
                interrupts.running(engine)
                output_open = await _write_results(engine, items, writer)
                if not output_open:
                    log.warning(
                        "output_closed",
                        message="standard output was closed before the run ended (| head?); "
                        "stopped",
                    )
                if items.limited or (
                    engine.stopping and (engine.abort is None or engine.abort.cause != Cause.INPUT)
                ):
                    await count_what_is_left(items, stats, log, total, interrupts.hard_stop)
                interrupts.finishing()
                tg.cancel_scope.cancel()
            # A --limit run (a canary) did not get to every ID: like a stopped run, it keeps
            # the records --overwrite moved aside and the errors of the IDs it left.
            finished = (
                engine.abort is None
                and not interrupts.received
                and output_open
                and not items.limited
            )
            compacted = await anyio.to_thread.run_sync(
                lambda: maybe_compact(out, job, enabled=_compacts(s, interrupts), log=log)
            )
            await writer.close(finished=finished)
            _previous_records(out, finished, log)
    outcome = _outcome(stats, engine, interrupts, output_open=output_open)
    outcome.read = rows.info.describe()
    outcome.compacted = compacted.as_dict() if compacted else None
    if outcome.exit_code == EXIT_OK:
        # For monitoring, a run that ended with every record ok is a success even if it
        # had nothing to issue (everything kept by --resume): its time is the last success.
        stats.last_success_unix = time.time()
    reporter.write_metrics(elapsed_s=stats.elapsed_s, exit_code=outcome.exit_code)
    return outcome


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


async def _open_input(job: Job, s: Settings, stack: contextlib.ExitStack, log: Logger) -> Rows:
    """Open the input and read its header in a thread: a pipe may take its time, and
    a signal must still stop the run meanwhile (the thread is then left to the exit)."""
    opened = open_rows(
        s.input,
        fmt=s.input_format,
        id_field=s.id_field,
        delimiter=s.delimiter,
        encoding=s.encoding,
        sheet=s.sheet,
        keep_columns=s.keep_columns,
        header_row=s.header_row,
        parse_key=job.parse_key,
    )
    rows = await anyio.to_thread.run_sync(opened.__enter__, abandon_on_cancel=True)
    stack.push(opened.__exit__)
    if rows.info.id_matched_loosely:
        log.info("id_field_matched", id_field=s.id_field, column=rows.info.id_column)
    # An input with no data rows is a mistake (an empty export), not a success: refused
    # before any call, like an input that cannot be read.
    started = await anyio.to_thread.run_sync(rows.started, abandon_on_cancel=True)
    if started is None:
        label = "standard input" if s.input == "-" else repr(s.input)
        raise InputError(f"no data rows in {label}: nothing to do (is it the right file?)")
    return started


async def _read_results_file(
    job: Job, s: Settings, out: OutputFile, log: Logger, origin: str
) -> tuple[set[str], set[tuple[int, str]]]:
    """--resume: read the results file in a thread; a signal stops the read promptly."""
    stop = threading.Event()
    try:
        return await anyio.to_thread.run_sync(
            lambda: read_back(
                out,
                RunRecords(job, origin, s.keep_columns),
                refresh_within=s.refresh_within,
                log=log,
                stop=stop,
            ),
            abandon_on_cancel=True,
        )
    except anyio.get_cancelled_exc_class():
        stop.set()
        raise
    except Stopped:
        return set(), set()


def _interrupted_at_start(
    s: Settings, stats: Stats, interrupts: Interrupts, log: Logger, *, metrics: bool = True
) -> RunOutcome:
    code = interrupts.exit_code
    assert code is not None
    log.warning(
        "interrupted",
        signal=interrupts.name,
        message=f"interrupted ({interrupts.name}) before any call; nothing was sent",
    )
    if metrics and s.metrics_file and not s.dry_run:
        write_metrics(
            s.metrics_file, metric_prefix(), stats, elapsed_s=None, exit_code=code, log=log
        )
    return RunOutcome(stats, code, None, interrupts.name)


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


def _warner(log: Logger) -> Callable[[str, dict[str, object]], None]:
    def warn(event: str, fields: dict[str, object]) -> None:
        log.warning(event, **fields)

    return warn
