"""The start of a run, before any call: the input opened, then the outputs.

Each step that may block (a pipe's header, another run's lock with --wait, a long
results file to read for --resume) runs in a thread inside `Interrupts.before_any_call`:
a signal stops the run there, before anything is sent.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import anyio
import anyio.to_thread

from batch.cli._context import Run
from batch.cli._settings import Settings
from batch.cli._signals import Interrupts
from batch.engine import InputError, Job, Logger
from batch.input import Rows, open_rows
from batch.output import (
    AtomicFile,
    CurrentTokens,
    Ending,
    Origin,
    OutputFile,
    ReadBack,
    RunRecords,
    Start,
    Stopped,
    Writer,
    open_ending,
    open_results,
    read_back,
)

__all__ = ["Outputs", "open_input", "open_outputs"]


async def open_input(job: Job, s: Settings, closing: contextlib.ExitStack, log: Logger) -> Rows:
    """Open the input and read its header in a thread: a pipe may take its time, and
    a signal must still stop the run meanwhile (the thread is then left to the exit).
    ``closing`` closes the input."""
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
    closing.push(opened.__exit__)
    if rows.info.id_matched_loosely:
        log.info("id_field_matched", id_field=s.id_field, column=rows.info.id_column)
    # An input with no data rows is a mistake (an empty export), not a success: refused
    # before any call, like an input that cannot be read.
    started = await anyio.to_thread.run_sync(rows.started, abandon_on_cancel=True)
    if started is None:
        label = "standard input" if s.input == "-" else repr(s.input)
        raise InputError(f"no data rows in {label}: nothing to do (is it the right file?)")
    return started


@dataclass(frozen=True, slots=True)
class Outputs:
    """Where the run writes, opened: the results file under its lock, and its writer."""

    results: OutputFile
    writer: Writer
    #: --resume: the IDs whose ok record in the results file still holds (not expiring
    #: within --refresh-within) are ``in`` it: they are not sent again. It knows the
    #: current token of each ID, and notes each record written (the earliest expiry).
    still_ok: CurrentTokens
    #: the input, when it is the results file of the job this one ends (`Job.ends`):
    #: open under its lock, each success ends its record there
    ending: Ending | None = None


@contextlib.asynccontextmanager
async def open_outputs(
    run: Run, origin: Origin | str, interrupts: Interrupts
) -> AsyncIterator[Outputs]:
    """The errors file, the results file (its lock, waiting --wait for it), what --resume
    reads in it, the input if this job ends its records (its lock too), and the writer of
    them all. On the way out the results files are closed, and the errors file left as it
    was unless the writer committed it."""
    job, s, log = run.job, run.settings, run.log
    with contextlib.ExitStack() as closing:
        # File work in threads (a folder scan, creating and fsyncing files): signals stay heard.
        errors = await _errors_file(s, closing)
        # --wait may wait long: a signal ends it. Cut while another run held the file, the
        # run leaves the metrics file alone: it is that run's.
        results = await interrupts.before_any_call(
            lambda: _results_file(s, closing, log), write_metrics_if_cut=False
        )
        stamp, earlier = (origin, frozenset()) if isinstance(origin, str) else origin
        records = RunRecords(job, stamp, s.keep_columns, earlier)
        read = ReadBack(CurrentTokens(expiry_field=job.expiry_field), set())
        if s.resume:
            read = await interrupts.before_any_call(lambda: _read_back(records, s, results, log))
        ending = await _ending(run, stamp, bool(read.still_ok), closing, interrupts)

        def writer() -> Writer:
            return Writer(
                records,
                results,
                errors,
                remember_secret=run.redactor.add,
                recorded_invalid=read.invalid_rows,
                ending=ending,
            )

        writes = await anyio.to_thread.run_sync(writer)
        yield Outputs(results, writes, read.still_ok, ending)


async def _ending(
    run: Run, origin: str, proven: bool, closing: contextlib.ExitStack, interrupts: Interrupts
) -> Ending | None:
    """The input as the results file this job ends records of, if it is one (its lock
    taken, waiting --wait for it; cut while another run holds it, the metrics are left).
    ``proven``: the results file this run resumes holds successes (its set-up is right)."""
    job, s = run.job, run.settings
    if job.ends is None:
        return None
    warn = _warner(run.log)
    ending = await interrupts.before_any_call(
        lambda: open_ending(s.input, job, origin, proven=proven, wait=s.wait, warn=warn),
        write_metrics_if_cut=False,
    )
    if ending is not None:
        closing.callback(ending.out.close)
        ended, current = job.ends.name, len(ending.current)
        run.log.info(
            "ending_records",
            path=s.input,
            job=ended,
            current=current,
            message=f"each success also ends its {ended} record in {s.input} ({current} "
            f"current there): a resumed {ended} run on it does those IDs again",
        )
    return ending


async def _errors_file(s: Settings, closing: contextlib.ExitStack) -> AtomicFile | None:
    if not s.errors:
        return None
    errors = await anyio.to_thread.run_sync(AtomicFile, s.errors, "--errors")
    closing.callback(errors.discard)  # unless committed: the previous file stays
    return errors


#: room kept on disk per result that may still come back (`batch.output._room`): a
#: record is a few hundred bytes; four per lane covers those in flight and those queued
ROOM_PER_LANE = 4 * 2048


async def _results_file(s: Settings, closing: contextlib.ExitStack, log: Logger) -> OutputFile:
    start: Start = "resume" if s.resume else "overwrite" if s.overwrite else "new"
    room = max(64 * 1024, ROOM_PER_LANE * s.concurrency)
    results = await open_results(s.output, start=start, wait=s.wait, warn=_warner(log), room=room)
    closing.callback(results.close)
    return results


async def _read_back(
    records: RunRecords, s: Settings, results: OutputFile, log: Logger
) -> ReadBack:
    """--resume: read the results file in a thread; a signal stops the read promptly."""
    stop = threading.Event()
    try:
        return await anyio.to_thread.run_sync(
            lambda: read_back(
                results, records, refresh_within=s.refresh_within, log=log, stop=stop
            ),
            abandon_on_cancel=True,
        )
    except anyio.get_cancelled_exc_class():
        stop.set()
        raise
    except Stopped:
        return ReadBack(CurrentTokens(expiry_field=records.job.expiry_field), set())


def _warner(log: Logger) -> Callable[[str, dict[str, object]], None]:
    def warn(event: str, fields: dict[str, object]) -> None:
        log.warning(event, **fields)

    return warn
