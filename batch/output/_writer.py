"""The one owner of a run's output files: each result as one record, failures in the errors file.

The command line's consumer of the engine's results calls `Writer.write` for
each; it writes one line with one ``write()`` (the durability promise), moves
the once-a-second ``fsync`` off the event loop, and at the end puts the errors
file in place (`batch.output._atomic_file`).
"""

from __future__ import annotations

import contextlib
import csv
import json
from collections.abc import Callable, Container, Hashable, Iterable, Iterator
from pathlib import Path

import anyio.to_thread

from batch.engine import Result, original, reason_of
from batch.output._atomic_file import AtomicFile
from batch.output._ending import Ending
from batch.output._file import OutputFile
from batch.output._in_place import Displaced
from batch.output._records import RecordFormat, RunRecords, format_for

__all__ = ["CannotWrite", "Writer"]


class CannotWrite(Exception):
    """A file of the run cannot be written (a full disk, a file system gone): the run must
    stop taking IDs. ``kept``: whether the result being written is in the results file
    all the same (the errors file, an fsync or the room ahead failed, not its line)."""

    def __init__(self, message: str, *, kept: bool) -> None:
        super().__init__(message)
        self.message = message
        self.kept = kept


class Writer:
    """Writes results to ``out`` and failures to ``errors`` (if any), as ``records`` says.

    ``recorded_invalid`` holds the (line, value) of invalid rows the results
    file already has (--resume): they go to the errors file only. ``ending``: the file
    of the records this run's successes end (`batch.output._ending`), written first.
    """

    def __init__(  # noqa: PLR0913 - keyword-only, each a file or set the records touch, named at the one call
        self,
        records: RunRecords,
        out: OutputFile,
        errors: AtomicFile | None,
        *,
        remember_secret: Callable[[str], None],
        recorded_invalid: Container[tuple[int, str]] = frozenset(),
        ending: Ending | None = None,
    ) -> None:
        self._job = records.job
        self._out = out
        fmt = format_for(out.path)
        # Appending to a CSV written by an earlier version: write rows in its layout.
        header = out.csv_header() if fmt == "csv" and out.size else None
        self._fmt = RecordFormat(fmt, records, header=header)
        self._errors = errors
        self._errors_fmt = RecordFormat(
            format_for(str(errors.path)) if errors else "csv", records, errors=True
        )
        self._remember_secret = remember_secret
        self._recorded_invalid = recorded_invalid
        self._ending = ending
        #: keys this run wrote a record for (compact form), to carry the rest of an
        #: earlier errors file over when the run stops early
        self._written: set[Hashable] = set()
        #: why the errors file could not be written (it is then left as it was)
        self._errors_broken: OSError | None = None
        if self._fmt.fmt == "csv" and out.size == 0:
            out.write(self._fmt.header())
        if errors is not None:
            errors.write(self._errors_fmt.header())

    async def write(self, result: Result) -> None:
        """Write one result. `CannotWrite` when a file cannot be written (a full disk; the
        results file once more when standard output is a closed pipe: BrokenPipeError)."""
        self.write_now(result)
        if self._out.sync_due():
            try:
                await anyio.to_thread.run_sync(self._out.sync)
            except Displaced as exc:
                raise CannotWrite(exc.message, kept=True) from None
            except OSError as exc:
                raise self._cannot("cannot save the results in", exc, kept=True) from None

    def write_now(self, result: Result) -> None:
        for name in self._job.secret_fields:
            value = result.data.get(name)
            if isinstance(value, str):
                self._remember_secret(value)
        if self._ending is not None:
            # First: the record it ends must never look current while this one exists.
            self._ending.end(result)
        invalid = result.error is not None and result.error.kind == "invalid_input"
        if not (invalid and (result.line, result.key) in self._recorded_invalid):
            try:
                self._out.write(self._fmt.line(result))
            except BrokenPipeError:
                raise
            except OSError as exc:
                raise self._cannot("cannot write the results to", exc, kept=False) from None
        problem = self._room_ahead()
        if self._errors is not None:
            self._written.add(result.key if invalid else self._job.compact_key(result.key))
            if not result.ok:
                problem = self._write_error(result) or problem
        if problem is not None:
            raise problem

    def _room_ahead(self) -> CannotWrite | None:
        try:
            self._out.renew_room()
        except OSError as exc:
            return CannotWrite(
                f"no room left for more results in {self._out.path!r} ({reason_of(exc)}); "
                "no more IDs are taken, the records in flight have room kept for them: "
                "free some space and finish with --resume",
                kept=True,
            )
        return None

    def _write_error(self, result: Result) -> CannotWrite | None:
        """The result's line in the errors file; a file that cannot take it is given up
        (left as it was at the end), and the run told to stop."""
        assert self._errors is not None
        if self._errors_broken is not None:
            return None
        try:
            self._errors.write(self._errors_fmt.line(result))
        except OSError as exc:
            self._errors_broken = exc
            return CannotWrite(
                f"cannot write --errors {str(self._errors.path)!r} ({reason_of(exc)}); "
                "every record is in the results file, the errors file is left as it "
                "was: free some space and finish with --resume",
                kept=True,
            )
        return None

    def _cannot(self, what: str, exc: OSError, *, kept: bool) -> CannotWrite:
        return CannotWrite(
            f"{what} {self._out.path!r} ({reason_of(exc)}); what was written is kept: "
            "free some space (or bring the file system back) and finish with --resume",
            kept=kept,
        )

    async def close(self, *, finished: bool) -> None:
        """fsync the results; put the errors file in place. `CannotWrite` (after closing
        both) when either could not be finished: the errors file is then left as it was.

        A finished run's errors file holds its failures. A run that stopped
        early also carries over the rows of the previous errors file for the
        IDs it did not get to: they are still failing as far as anyone knows.
        """
        problem: CannotWrite | None = None
        try:
            await anyio.to_thread.run_sync(self._out.sync)
        except Displaced as exc:
            problem = CannotWrite(exc.message, kept=True)
        except OSError as exc:
            problem = self._cannot("cannot save the results in", exc, kept=True)
        finally:
            self._out.close()
        if self._errors is not None:
            problem = await self._close_errors(finished) or problem
        if problem is not None:
            raise problem

    async def _close_errors(self, finished: bool) -> CannotWrite | None:
        assert self._errors is not None
        broken = self._errors_broken
        if broken is None:
            try:
                await anyio.to_thread.run_sync(self._finish_errors, finished)
                return None
            except OSError as exc:
                broken = exc
        self._errors.discard()
        return CannotWrite(
            f"cannot write --errors {str(self._errors.path)!r} ({reason_of(broken)}); it "
            "is left as it was (every record is in the results file): free some space and "
            "finish with --resume",
            kept=True,
        )

    def _finish_errors(self, finished: bool) -> None:
        assert self._errors is not None
        try:
            if not finished:
                self._carry_over(self._errors.path)
            self._errors.commit()
        except BaseException:
            self._errors.discard()
            raise

    def _carry_over(self, previous: Path) -> None:
        """Copy the records of the ``previous`` errors file for keys this run did not get to
        (a file that cannot be read, or is in another layout, carries nothing over)."""
        assert self._errors is not None
        with (
            contextlib.suppress(OSError),
            open(previous, encoding="utf-8", errors="surrogateescape", newline="") as handle,
        ):
            if self._errors_fmt.fmt == "csv":
                lines = self._carried_csv(handle)
            else:
                lines = self._carried_jsonl(handle)
            for line in lines:
                self._errors.write(line)

    def _carried_csv(self, handle: Iterable[str]) -> Iterator[str]:
        rows = csv.reader(handle)
        if next(rows, None) != self._errors_fmt.columns:
            return
        for fields in rows:
            # An invalid row's value was neutralised for spreadsheets: compare it as read.
            if fields and not self._seen(original(fields[0]) or fields[0]):
                yield self._errors_fmt.raw_line(fields)

    def _carried_jsonl(self, handle: Iterable[str]) -> Iterator[str]:
        for line in handle:
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                key = record.get(self._job.key_name) if isinstance(record, dict) else None
                if isinstance(key, str) and not self._seen(key):
                    yield line if line.endswith("\n") else line + "\n"

    def _seen(self, key: str) -> bool:
        if key in self._written:
            return True
        try:
            return self._job.compact_key(self._job.parse_key(key)) in self._written
        except ValueError:
            return False
