"""One command-line run of a job: inputs, outputs, signals, the summary and the exit code."""

from __future__ import annotations

import contextlib
import json
import signal
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import anyio

from batch._version import metric_prefix, user_agent
from batch.cli._dry_run import dry_run
from batch.cli._logging import Redactor
from batch.cli._outcome import EXIT_ABORTED, EXIT_OK, EXIT_RECORD_ERRORS, RunOutcome
from batch.cli._progress import Reporter, count_rows
from batch.cli._settings import Settings, check_base_url, read_token
from batch.engine import Backoff, ConfigError, Job, Stats
from batch.input import BATCH, Row, RowItems, guess_format, open_rows
from batch.output import OutputFile, Sink, format_for, read_previous

SIGNAL_EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143}
SIMULATED_TOKEN = "simulated-token"  # noqa: S105 - a simulated API accepts any token
DRAIN_SECONDS = 5.0

if TYPE_CHECKING:
    from batch.engine import Engine

__all__ = ["SIGNAL_EXIT", "execute"]


async def execute(
    job: Job, s: Settings, *, redactor: Redactor, log: Any, progress_bar: bool = False
) -> RunOutcome:
    """Run the job as the settings say. Raises BatchError for user errors found before any call."""
    if s.resume and s.output == "-":
        raise ConfigError(
            "--resume needs -o/--output to be a file: it reads the records written there"
        )
    if s.refresh_within is not None and not s.resume:
        raise ConfigError(
            "--refresh-within works with --resume (it re-issues records of a previous run)"
        )
    stats = Stats()
    with contextlib.ExitStack() as inputs:
        rows = await _open_input(s, inputs)
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
        for message in warnings:
            log.warning("token_file_permissions", message=message)
        # Here, not at the top: the engine brings aiohttp, which --dry-run does not need.
        from batch.engine import Engine, EngineOptions  # noqa: PLC0415

        async with contextlib.AsyncExitStack() as stack:
            out = OutputFile(s.output, append=s.resume, warn=_warner(log))
            stack.callback(out.close)
            skip_keys: set[str] = set()
            recorded_invalid: set[tuple[int, str]] = set()
            if s.resume:
                # On the event loop on purpose: nothing else runs yet, and a signal meanwhile
                # (the early handler) stops it at once, where a worker thread would have to
                # finish reading a large file before the process could exit.
                skip_keys, recorded_invalid = _resume(job, s, out, log)
            errors = None
            if s.errors:
                errors = OutputFile(s.errors, append=False, warn=_warner(log))
                stack.callback(errors.close)
            sink = Sink(job, out, errors, redactor.add)
            if base_url is None:
                base_url = await stack.enter_async_context(job.simulator())
            options = EngineOptions(
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
            )
            engine = Engine(job, options, emit=sink, stats=stats, logger=log)
            items = RowItems(
                rows,
                job,
                emit=sink,
                stats=stats,
                log=log,
                skip_keys=skip_keys,
                recorded_invalid=recorded_invalid,
                emit_kept=sink.errors_only,
                # A pipe may bring rows slowly: hand each on at once, not 1024 at a time.
                batch=1 if s.input == "-" else BATCH,
                abandon=s.input == "-",
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
            )
            fmt = s.input_format or guess_format(s.input)
            total = await anyio.to_thread.run_sync(count_rows, s.input, fmt != "jsonl")
            reporter = Reporter(
                stats,
                log=log,
                interval=s.progress_interval,
                bar=progress_bar,
                total=total,
                metrics_file=s.metrics_file,
                metric_prefix=metric_prefix(),
            )
            received: list[int] = []
            async with anyio.create_task_group() as tg:
                hard_stop = anyio.Event()
                tg.start_soon(_watch_signals, engine, received, log, s.grace, hard_stop)
                tg.start_soon(reporter.run)
                await engine.run(items)
                if engine.stopping and engine.input_error is None:
                    await _drain(items, stats, log, total, hard_stop)
                tg.cancel_scope.cancel()
    outcome = _outcome(stats, engine, received)
    if outcome.exit_code == EXIT_OK:
        # For monitoring, a run that ended with every record ok is a success even if it
        # had nothing to issue (everything kept by --resume): its time is the last success.
        stats.last_success_unix = time.time()
    reporter.write_metrics(elapsed_s=stats.elapsed_s, exit_code=outcome.exit_code)
    return outcome


async def _open_input(s: Settings, stack: contextlib.ExitStack) -> Iterator[Row]:
    """Open the input and read its header in a thread: a pipe may take its time, and
    Ctrl-C must still stop the run meanwhile (the thread is then left to the exit)."""
    opened = open_rows(s.input, fmt=s.input_format, id_field=s.id_field)
    rows = await anyio.to_thread.run_sync(opened.__enter__, abandon_on_cancel=True)
    stack.push(opened.__exit__)
    return rows


def _outcome(stats: Stats, engine: Engine, received: list[int]) -> RunOutcome:
    if received:
        code = SIGNAL_EXIT.get(signal.Signals(received[0]), 130)
        name = signal.Signals(received[0]).name
    elif engine.input_error is not None:
        code, name = engine.input_error.exit_code, None
    elif engine.abort_reason:
        code, name = EXIT_ABORTED, None
    elif stats.failed or stats.invalid:
        code, name = EXIT_RECORD_ERRORS, None
    else:
        code, name = EXIT_OK, None
    return RunOutcome(stats, code, engine.abort_reason, name)


async def _watch_signals(
    engine: Engine, received: list[int], log: Any, grace: float, hard_stop: anyio.Event
) -> None:
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for signum in signals:
            received.append(signum)
            name = signal.Signals(signum).name
            if len(received) == 1:
                log.warning(
                    "interrupted",
                    signal=name,
                    grace_s=grace,
                    message=f"stopping: requests in flight get {grace:g}s; send it again to stop at once",
                )
                engine.stop(f"interrupted by {name}")
            else:
                log.warning("interrupted_again", signal=name, message="stopping now")
                engine.stop(f"interrupted by {name}", grace=0)
                hard_stop.set()


async def _drain(
    items: RowItems, stats: Stats, log: Any, total: int | None, hard_stop: anyio.Event
) -> None:
    """Count what the stopped run leaves for --resume.

    Bounded in time (and cut short by a second signal); past the bound, the rows
    left are estimated from the line count made at the start, if there is one.
    """
    rest: int | None = None
    with anyio.CancelScope() as scope:
        scope.deadline = anyio.current_time() + DRAIN_SECONDS

        async def second_signal() -> None:
            await hard_stop.wait()
            scope.cancel()

        async with anyio.create_task_group() as tg:
            tg.start_soon(second_signal)
            rest = await items.count_rest()
            tg.cancel_scope.cancel()
    if rest is not None:
        stats.not_attempted += rest
        return
    if scope.cancelled_caught and total is not None:
        estimate = max(total - stats.rows, 0)
        stats.not_attempted += estimate
        log.warning(
            "not_attempted_estimate",
            message=f"the rest of the input was not counted in time; estimated from its "
            f"{total:,} lines: about {estimate:,} rows left",
        )
        return
    why = (
        "standard input was not read to its end"
        if not scope.cancelled_caught
        else ("the rest of the input was not counted in time")
    )
    log.warning("not_attempted_estimate", message=f"{why}; not_attempted is a lower bound")


def _resume(
    job: Job, s: Settings, out: OutputFile, log: Any
) -> tuple[set[str], set[tuple[int, str]]]:
    """Read the results file; refuse one that is not a results file before changing it."""
    fmt = format_for(s.output)
    end = out.whole_lines_end()
    if end < out.size and fmt == "jsonl" and _is_record(out.read_from(end), job.key_name):
        # A whole record that only lacks its newline (an editor, a copy): keep it.
        out.write("\n")
        log.info("last_line_completed", path=s.output)
        end = out.size
    previous = read_previous(out.read_lines(end), fmt=fmt, job=job)
    if previous.records == 0 and previous.unreadable:
        raise ConfigError(
            f"--resume: {s.output!r} holds no results record in its {previous.unreadable} "
            "line(s); is it the results file of the run to finish? (nothing was changed)"
        )
    if end < out.size:
        log.warning(
            "torn_line_dropped",
            path=s.output,
            bytes=out.size - end,
            message="the last record was cut by a crash; it is redone",
        )
        out.truncate(end)
    keep = previous.keep(refresh_within=s.refresh_within)
    log.info(
        "resume",
        path=s.output,
        records=previous.records,
        ok=len(previous.ok),
        kept=len(keep),
        refresh=len(previous.ok) - len(keep),
        unreadable_lines=previous.unreadable,
    )
    return keep, previous.invalid_rows


def _is_record(tail: bytes, key_name: str) -> bool:
    try:
        record = json.loads(tail)
    except ValueError:
        return False
    return (
        isinstance(record, dict) and key_name in record and record.get("status") in ("ok", "error")
    )


def _warner(log: Any) -> Any:
    def warn(event: str, fields: dict[str, object]) -> None:
        log.warning(event, **fields)

    return warn
