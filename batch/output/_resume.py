"""--resume: what an existing results file already holds, read back before the run goes on."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from batch.engine import ConfigError, Job, Logger
from batch.output._compact import written_by
from batch.output._current import CurrentTokens
from batch.output._file import OutputFile
from batch.output._origin import Origin, check_origins
from batch.output._records import RunRecords, format_for
from batch.output._scan import Counts, scan

__all__ = ["Previous", "ReadBack", "Stopped", "read_back", "read_previous"]


@dataclass(slots=True)
class Previous:
    """The newest record per key decides: an ``ok`` key is done, anything else is redone."""

    ok: dict[str, str] = field(default_factory=dict)  # key -> expires_at (or "")
    #: invalid rows already recorded, as (line, value): a row is the same only if both match
    invalid_rows: set[tuple[int, str]] = field(default_factory=set)
    records: int = 0
    unreadable: int = 0
    #: the origins the records carry (`batch.output._origin`); empty for older files
    origins: set[str] = field(default_factory=set)

    def still_ok(
        self, *, refresh_within: timedelta | None, now: datetime | None = None
    ) -> set[str]:
        """The ``ok`` keys a run need not redo: all of them, or with ``refresh_within``
        those that do not expire within it."""
        if refresh_within is None:
            return set(self.ok)
        limit = (now or datetime.now(UTC)) + refresh_within
        return {key for key, expires in self.ok.items() if _after(expires, limit)}


def read_previous(
    lines: Iterable[bytes], *, fmt: str, job: Job, carried_columns: tuple[str, ...] = ()
) -> Previous:
    """Read a results file of ``job``. A CSV one must start with its columns, the carried
    input columns (``carried_columns``) included (else ConfigError).

    One damaged line costs only itself (`batch.output._scan`).
    """
    previous = Previous()
    counts = Counts()
    for record in scan(lines, fmt=fmt, job=job, counts=counts, carried_columns=carried_columns):
        if record.origin:
            previous.origins.add(record.origin)
        if record.invalid_row is not None:
            previous.invalid_rows.add(record.invalid_row)
        elif not record.key:
            continue
        elif record.ok:
            previous.ok[record.key] = record.expires
        else:
            previous.ok.pop(record.key, None)
    previous.records, previous.unreadable = counts.records, counts.unreadable
    return previous


def _after(expires: str, limit: datetime) -> bool:
    try:
        when = datetime.fromisoformat(expires)
    except ValueError:
        return False  # unknown expiry: refresh it
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when > limit


class Stopped(Exception):
    """Reading the results file was stopped (a signal): nothing was changed."""


class ReadBack(NamedTuple):
    """What a resumed run takes from its results file."""

    #: the current token of each key; ``key in still_ok`` for those whose newest record is
    #: ``ok`` and fresh enough: the run skips them
    still_ok: CurrentTokens
    #: invalid rows the file records already, as (line, value): not written to it again
    invalid_rows: set[tuple[int, str]]
    #: the file held records of this API made with another API token (a
    #: rotation): it was started over, its records kept in ``.prev`` until the run finishes
    rotated: bool = False


def read_back(
    out: OutputFile,
    records: RunRecords,
    *,
    refresh_within: timedelta | None,
    log: Logger,
    stop: threading.Event | None = None,
) -> ReadBack:
    """Read the results file behind ``out`` back and repair its end (a line torn by a crash
    is cut off, a last record lacking only its newline gets it). Refuses, unchanged, a file
    that is not a results file of ``records`` (another job's, by its CSV header or its JSONL
    records' fields; other carried columns) or holds records of another API or of the
    simulator.

    A file of this API whose records were made with another API token (a
    rotation) is started over, as ``--overwrite`` would: its records move to ``.prev``
    until the run finishes, and every key of the input is redone, once.

    Blocking (run it in a thread); ``stop`` ends the read early with `Stopped`.
    """
    job = records.job
    fmt = format_for(out.path)
    end = out.whole_lines_end()
    # A whole record that only lacks its newline (an editor, a copy) is kept.
    complete_tail = (
        end < out.size and fmt == "jsonl" and _is_record(out.read_from(end), job.key_name)
    )
    previous = read_previous(
        _until(stop, out.read_lines(out.size if complete_tail else end)),
        fmt=fmt,
        job=job,
        carried_columns=records.carried_columns,
    )
    if previous.records and fmt == "jsonl" and not written_by(out.path, job):
        # A CSV header says whose file it is (`scan` checks it); JSONL records say it
        # with their fields: those of another job's successes are not this job's. Checked
        # first: another job's file is never started over as a rotation.
        raise ConfigError(
            f"--resume: {out.path!r} holds the records of another job, not {job.name}'s; "
            "is it the results file of the run to finish? (nothing was changed)"
        )
    if _rotated(out.path, previous, records):
        return _start_over(out, records, previous, log)
    _repair_end(out, end, complete_tail=complete_tail, log=log)
    limit = None if refresh_within is None else datetime.now(UTC) + refresh_within
    still_ok = CurrentTokens(previous.ok, expiry_field=job.expiry_field, refresh_before=limit)
    kept = len(still_ok.kept())
    log.info(
        "resume",
        path=out.path,
        records=previous.records,
        ok=len(previous.ok),
        kept=kept,
        refresh=len(previous.ok) - kept,
        unreadable_lines=previous.unreadable,
    )
    return ReadBack(still_ok, previous.invalid_rows)


def _rotated(path: str, previous: Previous, records: RunRecords) -> bool:
    """True for a file with records of this API and another token (a rotation); ConfigError
    for one that holds no record at all, or records of another API or of the simulator."""
    if previous.records == 0 and previous.unreadable:
        raise ConfigError(
            f"--resume: {path!r} holds no results record in its {previous.unreadable} "
            "line(s); is it the results file of the run to finish? (nothing was changed)"
        )
    if not records.origin:
        return False
    return check_origins(path, previous.origins, Origin(records.origin, records.earlier_origins))


def _start_over(out: OutputFile, records: RunRecords, previous: Previous, log: Logger) -> ReadBack:
    """A rotation: the file starts over (its records kept in ``.prev``), every key is due."""
    out.start_over("the API token changed")
    log.warning(
        "origin_changed",
        path=out.path,
        previous=out.previous,
        records=previous.records,
        message=f"{out.path} was written with another API token for this API (rotated?): "
        f"the run starts it over and does every key of the input again with this token, "
        f"once; its {previous.records:,} records are kept in {out.previous} until the run "
        "finishes",
    )
    return ReadBack(CurrentTokens(expiry_field=records.job.expiry_field), set(), rotated=True)


def _repair_end(out: OutputFile, end: int, *, complete_tail: bool, log: Logger) -> None:
    """Complete a last record that lacks only its newline, or cut off a line torn by a crash."""
    if complete_tail:
        out.write("\n")
        log.info("last_line_completed", path=out.path)
    elif end < out.size:
        log.warning(
            "torn_line_dropped",
            path=out.path,
            bytes=out.size - end,
            message="the last record was cut by a crash; it is redone",
        )
        out.truncate(end)


def _until(stop: threading.Event | None, lines: Iterator[bytes]) -> Iterator[bytes]:
    for count, line in enumerate(lines):
        if stop is not None and count % 4096 == 0 and stop.is_set():
            raise Stopped
        yield line


def _is_record(tail: bytes, key_name: str) -> bool:
    try:
        record = json.loads(tail)
    except ValueError:
        return False
    return (
        isinstance(record, dict) and key_name in record and record.get("status") in ("ok", "error")
    )
