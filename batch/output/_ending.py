"""A run that ends another job's records: the results file it ends, kept in step with it.

A job may end what another job's records hold (`Job.ends`: a revocation ends an issued
token). Given that job's results file as its input, a run opens the file under its lock
(the one every run writing it takes) and reads which keys it holds a current ``ok``
record for. Then each success of the run for one of those keys appends an ``ended``
record to it, before the run's own record is written: at no moment does the file show a
record that was ended as current, so a resumed run of the other job does exactly those
keys again, and compaction drops what they ended (`batch.output._compact`). At the end of
the run the file is compacted when that is worth it, as a resumed run of it would
(superseded records outnumber current ones; ``compact FILE`` does it on demand); then its
lock goes.

A refusal that says the key has nothing left to end (`Job.also_ends_on`: a 404) ends its
record too: a request the API carried out, whose answer a crash lost before its record was
written, is sent again by --resume and meets that refusal. Such a refusal ends a record
only once the set-up has proven right, by a success of this run or by the results file it
resumes (a wrong base URL or account refuses every key alike, and must end nothing); until
then its key waits.

A file whose records come from a simulated API is ended only by a simulated run, and a
real one only by a real run: a simulated success ends nothing real.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

import anyio.to_thread

from batch.engine import BatchError, ConfigError, Failure, HeldByAnotherRun, Job, Logger, Result
from batch.output._compact import Compaction, compact, written_by
from batch.output._file import OutputFile
from batch.output._open import open_results
from batch.output._origin import SIMULATED
from batch.output._paths import check_output_path
from batch.output._records import RecordFormat, RunRecords, format_for
from batch.output._scan import Counts, scan

__all__ = ["Ended", "Ending", "open_ending"]

Warn = Callable[[str, dict[str, object]], None]


@dataclass(slots=True)
class Ended:
    """What a run did to the file it ends: how many records, and the compaction after."""

    path: str
    ended: int = 0
    current: int = 0
    compacted: Compaction | None = None
    #: why the file was left as it was at the end (a full disk), if it was
    problem: str | None = None

    def as_event(self) -> dict[str, object]:
        event: dict[str, object] = {"path": self.path, "ended": self.ended}
        if self.compacted is not None:
            event["compacted"] = self.compacted.as_dict()
        if self.problem is not None:
            event["message"] = self.problem
        return event


@dataclass(slots=True)
class Ending:
    """The results file of ``ended``, open under its lock, and the keys it holds current
    (key -> the ``line`` of that record). `end` after each result of the run.

    ``proven``: the set-up is known right (the results file the run resumes has successes);
    else the first success proves it."""

    out: OutputFile
    ending: Job
    ended: Job
    layout: RecordFormat
    current: dict[str, int]
    proven: bool = False
    done: Ended = field(init=False)
    #: refusals that end their key's record once the set-up is proven: key -> why
    waiting: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.done = Ended(self.out.path, current=len(self.current))

    def end(self, result: Result) -> None:
        """A success for a key the file holds current, or a refusal that says it holds
        nothing (`Job.also_ends_on`): append its ``ended`` record (one ``write()``, as every
        record). Raises OSError when it cannot (a full disk)."""
        error = result.error
        if result.ok:
            if not self.proven:
                self.proven = True
                for key, why in list(self.waiting.items()):
                    self._end(key, why)
            said = ", ".join(f"{name} {result.data[name]}" for name in self.ending.fields)
            self._end(result.key, f" ({said})" if said else "")
        elif error is not None and error.http_status in self.ending.also_ends_on:
            why = f" (HTTP {error.http_status}: {error.message})"
            if self.proven:
                self._end(result.key, why)
            elif result.key in self.current:
                self.waiting[result.key] = why

    def _end(self, key: str, why: str) -> None:
        line = self.current.pop(key, None)
        self.waiting.pop(key, None)
        if line is None:
            return
        failure = Failure("ended", f"ended by {self.ending.name}{why}")
        self.out.write(self.layout.line(Result(key, line, "error", 0, error=failure)))
        self.done.ended += 1

    def close(self, log: Logger, *, compacting: bool) -> Ended:
        """The end of the run: compact the file if records were ended and it is worth it
        (``compacting``: not after a signal), release its lock. Blocking. A failed rewrite
        (a full disk) leaves the file as it is, whole."""
        try:
            if self.done.ended and compacting:
                try:
                    _, self.done.compacted = compact(self.out, self.ended)
                except (OSError, BatchError) as exc:
                    self.done.problem = (
                        f"could not rewrite {self.out.path} without the records ended "
                        f"({getattr(exc, 'strerror', None) or exc}); they are superseded, "
                        "and the next compaction drops them"
                    )
        finally:
            self.out.close()
        # The summary and run_finished say it (`ended`); a rewrite that failed is a warning.
        (log.warning if self.done.problem else log.debug)("records_ended", **self.done.as_event())
        return self.done


async def open_ending(  # noqa: PLR0913 - keyword-only, each named at the one call
    path: str, ending: Job, origin: str, *, proven: bool, wait: float, warn: Warn
) -> Ending | None:
    """The `Ending` of ``path`` for a run of ``ending``, if ``path`` is a results file of the
    job it ends that holds current records; None otherwise (not such a file, nothing
    current in it, or records of the other kind of API).
    ``proven``: the set-up is known right already (see `Ending`).

    Raises `HeldByAnotherRun` while another run writes the file (after ``wait`` seconds);
    a file this run cannot write (read-only, someone else's) is warned about, and left.
    """
    ended = ending.ends
    if ended is None or not await anyio.to_thread.run_sync(_is_results, path, ended):
        return None
    try:
        check_output_path(path, "INPUT")  # a link another user planted
        out = await open_results(path, start="resume", wait=wait, warn=warn)
    except HeldByAnotherRun:
        raise HeldByAnotherRun(
            f"{path!r} is being written by another run, and this run records in it the "
            f"records it ends ({ended.name}'s); try again later, or pass --wait SECONDS"
        ) from None
    except ConfigError as exc:
        warn("records_not_ended", {"path": path, "message": f"{exc}; {_LEFT}"})
        return None
    try:
        read = await anyio.to_thread.run_sync(_read, out, ended)
    except BaseException:
        out.close()
        raise
    current, origins, header = read
    if not current:  # nothing current to end (an errors file, a file all ended already)
        out.close()
        return None
    if origins and (SIMULATED in origins) != (origin == SIMULATED):
        out.close()
        kind = "a simulated API's" if SIMULATED in origins else "a real API's"
        warn("records_not_ended", {"path": path, "message": f"it holds {kind} records; {_LEFT}"})
        return None
    try:
        if out.size and out.whole_lines_end() < out.size:
            out.write("\n")  # a last line without its end: the next record starts a line
    except BaseException:
        out.close()
        raise
    layout = RecordFormat(format_for(path), RunRecords(ended, origin), header=header)
    return Ending(out, ending, ended, layout, current, proven=proven)


_LEFT = "its records were left as they are (a resumed run of it would not redo these keys)"


def _is_results(path: str, job: Job) -> bool:
    if path == "-" or not os.path.isfile(path):  # a FIFO would block the read
        return False
    try:
        return written_by(path, job)
    except OSError:
        return False


def _read(out: OutputFile, job: Job) -> tuple[dict[str, int], set[str], list[str] | None]:
    """The keys whose newest record is ``ok`` (-> its line), the origins, a CSV's header."""
    current: dict[str, int] = {}
    origins: set[str] = set()
    fmt = format_for(out.path)
    for record in scan(out.read_lines(out.whole_lines_end()), fmt=fmt, job=job, counts=Counts()):
        if record.origin:
            origins.add(record.origin)
        if record.invalid_row is not None or not record.key:
            continue
        if record.ok:
            current[record.key] = record.line
        else:
            current.pop(record.key, None)
    return current, origins, out.csv_header() if fmt == "csv" else None
